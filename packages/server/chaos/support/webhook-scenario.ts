/**
 * What the webhook fault cases share: real Latchkey processes with a short retry schedule, a
 * workspace webhook pointing at a local receiver the cases take down, make answer 500 or hang,
 * and bring back; and the check that every event was delivered once, in order per connection,
 * exactly as signed (verified with the standardwebhooks package).
 */
import { Webhook } from "standardwebhooks";
import { expect } from "vitest";
import { connectUser, json, type Tenant, userToken } from "../../test/support/connect-testbed.ts";
import type { AuthorizationServer } from "../../test/support/oidc-provider.ts";
import type { WebhookReceiver } from "../../test/support/webhook-receiver.ts";
import type { LatchkeyProcess } from "./latchkey-process.ts";
import type { Rows } from "./rows.ts";

/** Retries every 0.2–1 s, attempts cut at 0.5 s: a fault case runs in seconds, on the real schedule code. */
export const fastWebhooks = {
  LATCHKEY_WEBHOOK_RETRY_FIRST_SECONDS: "0.2",
  LATCHKEY_WEBHOOK_RETRY_MAX_SECONDS: "1",
  LATCHKEY_WEBHOOK_TIMEOUT_SECONDS: "0.5",
};

export const webhookEvents = [
  "connection.created",
  "connection.updated",
  "connection.needs_reauth",
  "connection.deleted",
];

/** Subscribes a workspace-wide webhook to every connection event; its id and secret. */
export async function subscribe(
  latchkey: LatchkeyProcess,
  tenant: Tenant,
  url: string,
): Promise<{ id: string; secret: string }> {
  const created = await json<{ webhook: { id: string }; secret: string }>(
    await latchkey.call("POST", `/api/workspaces/${tenant.workspaceId}/webhooks`, {
      token: tenant.adminKey,
      body: { url, events: webhookEvents },
    }),
    201,
  );
  return { id: created.webhook.id, secret: created.secret };
}

/** Connection changes through the public API, spread over the given instances: created, updated, deleted. */
export async function makeEvents(
  instances: LatchkeyProcess[],
  harness: AuthorizationServer,
  tenant: Tenant,
  users: string[],
): Promise<void> {
  const via = (i: number) => instances[i % instances.length] as LatchkeyProcess;
  for (const [i, user] of users.entries()) {
    await connectUser(via(i), harness, tenant, await userToken(via(i), tenant, user), `${user}-login`);
  }
  for (const [i, user] of users.entries()) {
    await connectUser(via(i + 1), harness, tenant, await userToken(via(i + 1), tenant, user), `${user}-login`);
  }
  const [first] = users;
  if (first !== undefined) {
    const response = await via(2).call(
      "DELETE",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}`,
      { token: await userToken(via(2), tenant, first) },
    );
    expect(response.status).toBe(204);
  }
}

export interface DeliveryCheck {
  events: number;
  delivered: number;
  requests: number;
  duplicates: number;
  maxAttempts: number;
}

/**
 * Every webhook event of the hook's workspace after `afterSeq` reached the receiver with a 2xx (in `answeredOk`, the
 * requests it answered 204), each verified against the webhook's secret, and each connection's
 * events arrived in event order. Returns the counts for the report.
 */
export async function expectAllDelivered(
  rows: Rows,
  hook: { id: string; secret: string },
  answeredOk: WebhookReceiver["received"],
  afterSeq: string,
): Promise<DeliveryCheck> {
  const events = await rows.database.db
    .selectFrom("events")
    .select(["id", "seq", "target", "action"])
    .where("type", "=", "connection")
    .where("seq", ">", afterSeq)
    .where("workspace_id", "=", (eb) => eb.selectFrom("webhooks").select("workspace_id").where("id", "=", hook.id))
    .where("action", "in", webhookEvents)
    .orderBy("seq")
    .execute();
  const deliveries = await rows.database.db
    .selectFrom("webhook_deliveries")
    .select(["id", "event_id", "state", "attempts"])
    .where("webhook_id", "=", hook.id)
    .execute();
  expect(deliveries.map((delivery) => delivery.state)).toEqual(deliveries.map(() => "delivered"));
  const deliveryOf = new Map(deliveries.map((delivery) => [delivery.event_id, delivery.id]));
  const arrival = new Map<string, number>();
  answeredOk.forEach((request, index) => {
    if (!arrival.has(request.id)) arrival.set(request.id, index);
  });
  const verifier = new Webhook(hook.secret);
  const byId = new Map(answeredOk.map((request) => [request.id, request]));
  const lastOfConnection = new Map<string, number>();
  for (const event of events) {
    const deliveryId = deliveryOf.get(event.id);
    expect(deliveryId, `event ${event.seq} ${event.action} has a delivery`).toBeDefined();
    const request = byId.get(deliveryId ?? "");
    expect(request, `event ${event.seq} ${event.action} reached the receiver`).toBeDefined();
    if (!request) continue;
    // Exactly as signed: the body and headers verify against the secret, and carry this event.
    const payload = verifier.verify(request.body, {
      "webhook-id": request.id,
      "webhook-timestamp": request.timestamp,
      "webhook-signature": request.signature,
    }) as { type: string; data: { connection_id: string } };
    expect(payload).toMatchObject({ type: event.action, data: { connection_id: event.target } });
    const at = arrival.get(request.id) ?? -1;
    const previous = lastOfConnection.get(event.target);
    if (previous !== undefined)
      expect(at, `${event.action} of ${event.target} after its earlier events`).toBeGreaterThan(previous);
    lastOfConnection.set(event.target, at);
  }
  return {
    events: events.length,
    delivered: new Set(answeredOk.map((request) => request.id)).size,
    requests: answeredOk.length,
    duplicates: answeredOk.length - new Set(answeredOk.map((request) => request.id)).size,
    maxAttempts: Math.max(0, ...deliveries.map((delivery) => delivery.attempts)),
  };
}

/** The newest event's seq: the events a case makes come after it. */
export async function lastEventSeq(rows: Rows): Promise<string> {
  const row = await rows.database.db
    .selectFrom("events")
    .select((eb) => eb.fn.max("seq").as("seq"))
    .executeTakeFirst();
  return String(row?.seq ?? "0");
}

/** Resolves once no delivery of the webhook is pending (or throws after `withinMs`). */
export async function outboxEmpty(rows: Rows, hookId: string): Promise<boolean> {
  const pending = await rows.database.db
    .selectFrom("webhook_deliveries")
    .select("id")
    .where("webhook_id", "=", hookId)
    .where("state", "<>", "delivered")
    .execute();
  return pending.length === 0;
}
