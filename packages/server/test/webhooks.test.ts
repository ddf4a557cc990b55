import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebhookDispatcher } from "../src/webhooks/dispatcher.ts";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { createTestApp, TestClock, testKeys } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import { type ReceivedWebhook, WebhookReceiver } from "./support/webhook-receiver.ts";
import { connectUser, createTenant, json, userToken, type Tenant } from "./support/connect-testbed.ts";
import { extraInstance, type ExtraInstance } from "./support/multi-instance.ts";

interface Delivery {
  id: string;
  event_type: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

interface Payload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** Checks a received request's signature with the standardwebhooks package, at the timestamp it carries. */
function signedWith(secret: string, request: ReceivedWebhook): boolean {
  const expected = new Webhook(secret).sign(request.id, new Date(Number(request.timestamp) * 1000), request.body);
  return request.signature.split(" ").includes(expected);
}

const env = { LATCHKEY_WEBHOOK_TIMEOUT_SECONDS: "0.5" };
/** Jitter pinned to its maximum: every wait is exactly the schedule's step. */
const noJitter = () => 1;

describe(`webhooks (${testDbKind()})`, () => {
  const clock = new TestClock();
  const keys = testKeys();
  let harness: AuthorizationServer;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let tenant: Tenant;
  let receiver: WebhookReceiver;
  const extras: ExtraInstance[] = [];
  /** Tokens and keys: none may reach a receiver. */
  const secrets = new Set<string>();

  beforeAll(async () => {
    harness = await startAuthorizationServer();
    t = await createTestApp({ clock, keys, env });
    tenant = await createTenant(t, harness);
    receiver = await WebhookReceiver.start();
    for (const value of [tenant.serviceKey, tenant.adminKey, tenant.clientSecret]) secrets.add(value);
  }, 60_000);
  afterEach(async () => {
    await t.deps.db.deleteFrom("webhooks").execute();
    receiver.received.length = 0;
    receiver.mode = "ok";
  });
  afterAll(async () => {
    for (const extra of extras) await extra.close();
    await receiver?.down();
    await t?.close();
    await harness?.close();
  });

  const hooksPath = () => `/api/workspaces/${tenant.workspaceId}/webhooks`;

  async function createHook(
    url = receiver.url,
    events = ["connection.created", "connection.updated", "connection.needs_reauth", "connection.deleted"],
  ): Promise<{ id: string; secret: string }> {
    const body = await json<{ webhook: { id: string }; secret: string }>(
      await t.call("POST", hooksPath(), { token: tenant.adminKey, body: { url, events } }),
      201,
    );
    return { id: body.webhook.id, secret: body.secret };
  }

  async function deliveries(hookId: string): Promise<Delivery[]> {
    const page = await json<{ deliveries: Delivery[] }>(
      await t.call("GET", `${hooksPath()}/${hookId}/deliveries`, { token: tenant.adminKey }),
      200,
    );
    return page.deliveries;
  }

  async function connect(userId: string, login: string): Promise<void> {
    const token = await userToken(t, tenant, userId);
    secrets.add(token);
    const back = await connectUser(t, harness, tenant, token, login, secrets);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    const answer = await json<{ access_token: string }>(
      await t.call(
        "GET",
        `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${userId}/token`,
        { token: tenant.serviceKey },
      ),
      200,
    );
    secrets.add(answer.access_token);
  }

  async function disconnect(userId: string): Promise<void> {
    const token = await userToken(t, tenant, userId);
    const response = await t.call(
      "DELETE",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}`,
      { token },
    );
    expect(response.status).toBe(204);
  }

  /** Runs delivery rounds until nothing is due. */
  async function deliverDue(dispatcher: WebhookDispatcher = t.webhooks): Promise<void> {
    for (let round = 0; round < 20; round++) if ((await dispatcher.runOnce()) === 0) return;
  }

  it("creates a webhook with a whsec_ secret shown once, and lists it without the secret", async () => {
    const hook = await createHook();
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const listed = await (await t.call("GET", hooksPath(), { token: tenant.adminKey })).text();
    const one = await (await t.call("GET", `${hooksPath()}/${hook.id}`, { token: tenant.adminKey })).text();
    expect(listed).toContain(hook.id);
    for (const text of [listed, one]) expect(text).not.toContain(hook.secret.slice(6));
    const stored = await t.deps.db.selectFrom("webhooks").select("secret").where("id", "=", hook.id).executeTakeFirst();
    expect(stored?.secret).not.toContain(hook.secret.slice(6));
  });

  it("delivers connection.created signed per Standard Webhooks, with the spec's body and never a token", async () => {
    const hook = await createHook();
    await connect("gina", "gina-login");
    await deliverDue();
    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0] as ReceivedWebhook;
    const payload = new Webhook(hook.secret).verify(request.body, {
      "webhook-id": request.id,
      "webhook-timestamp": request.timestamp,
      "webhook-signature": request.signature,
    }) as Payload;
    expect(request.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(request.headers["content-type"]).toBe("application/json");
    const connection = await t.deps.db
      .selectFrom("connections")
      .select("id")
      .where("user_id", "=", "gina")
      .executeTakeFirstOrThrow();
    expect(payload).toEqual({
      type: "connection.created",
      timestamp: expect.any(String),
      data: {
        connection_id: connection.id,
        app_id: tenant.appId,
        connector_id: tenant.connectorId,
        provider: "oidc",
        owner_type: "user",
        user_id: "gina",
        status: "active",
      },
    });
    for (const secret of secrets) if (secret.length >= 8) expect(request.body).not.toContain(secret);
    const [delivery] = await deliveries(hook.id);
    expect(delivery).toMatchObject({ id: request.id, state: "delivered", attempts: 1, last_status: 204 });
    // A wrong secret does not verify.
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 1).toString("base64")}`).verify(request.body, {
        "webhook-id": request.id,
        "webhook-timestamp": request.timestamp,
        "webhook-signature": request.signature,
      }),
    ).toThrow();
  }, 60_000);

  it("retries a 500 within 5 s with the same webhook-id and body, then records the 2xx", async () => {
    const hook = await createHook(receiver.url, ["connection.created"]);
    const dispatcher = new WebhookDispatcher(t.deps, { random: noJitter });
    receiver.mode = "error";
    await connect("hank", "hank-login");
    await deliverDue(dispatcher);
    const [failed] = await deliveries(hook.id);
    expect(failed).toMatchObject({ state: "pending", attempts: 1, last_status: 500, last_error: "HTTP 500" });
    const wait = Date.parse(failed?.next_attempt_at ?? "") - clock.now().getTime();
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(5000);

    receiver.mode = "ok";
    await deliverDue(dispatcher);
    expect(receiver.received).toHaveLength(1); // not due yet
    clock.advance(5000);
    await deliverDue(dispatcher);
    expect(receiver.received).toHaveLength(2);
    const [first, second] = receiver.received as [ReceivedWebhook, ReceivedWebhook];
    expect(second.id).toBe(first.id);
    expect(second.body).toBe(first.body);
    expect(signedWith(hook.secret, first) && signedWith(hook.secret, second)).toBe(true);
    expect((await deliveries(hook.id))[0]).toMatchObject({ state: "delivered", attempts: 2, last_status: 204 });
  }, 60_000);

  it("delivers every event in order per connection after the receiver was down, exactly as signed", async () => {
    const hook = await createHook();
    await receiver.down();
    try {
      await connect("ivy", "ivy-login"); // created
      await connect("ivy", "ivy-login"); // updated (reconnect)
      await connect("jack", "jack-login"); // another connection: not held up by ivy's
      await disconnect("ivy"); // deleted
      for (let round = 0; round < 3; round++) {
        await deliverDue();
        clock.advance(60_000);
      }
      const pending = await deliveries(hook.id);
      expect(pending.every((delivery) => delivery.state === "pending")).toBe(true);
      // Only the first event of each connection was tried: the later ones wait their turn.
      const attempted = pending.filter((delivery) => delivery.attempts > 0).map((delivery) => delivery.event_type);
      expect(attempted.sort()).toEqual(["connection.created", "connection.created"]);
      expect(pending.find((delivery) => delivery.attempts > 0)?.last_error).toMatch(/^network/);
    } finally {
      await receiver.up();
    }
    for (let round = 0; round < 6; round++) {
      clock.advance(3_600_000 / 60);
      await deliverDue();
    }
    const all = await deliveries(hook.id);
    expect(all.map((delivery) => delivery.state)).toEqual(["delivered", "delivered", "delivered", "delivered"]);
    const payloads = receiver.received.map((request) => ({ request, payload: JSON.parse(request.body) as Payload }));
    const ivy = payloads.filter(({ payload }) => payload.data.user_id === "ivy").map(({ payload }) => payload.type);
    expect(ivy).toEqual(["connection.created", "connection.updated", "connection.deleted"]);
    for (const { request } of payloads) expect(signedWith(hook.secret, request)).toBe(true);
    expect(new Set(receiver.received.map((request) => request.id)).size).toBe(4);
  }, 120_000);

  it("gives up on a hanging receiver after the timeout and retries", async () => {
    const hook = await createHook(receiver.url, ["connection.deleted"]);
    await connect("kim", "kim-login");
    await disconnect("kim");
    receiver.mode = "hang";
    const started = performance.now();
    await t.webhooks.runOnce();
    expect(performance.now() - started).toBeLessThan(5000);
    const [timedOut] = await deliveries(hook.id);
    expect(timedOut).toMatchObject({ state: "pending", attempts: 1, last_status: null });
    expect(timedOut?.last_error).toMatch(/^timeout/);
    receiver.mode = "ok";
    clock.advance(10_000);
    await deliverDue();
    expect((await deliveries(hook.id))[0]).toMatchObject({ state: "delivered", attempts: 2 });
    expect(receiver.received.map((request) => request.id)).toEqual([timedOut?.id]);
  }, 60_000);

  it("lets another instance take over a delivery whose claim lapsed (an instance that died), within 60 s", async () => {
    const hook = await createHook(receiver.url, ["connection.created"]);
    const other = await extraInstance(t, { clock, keys, env });
    extras.push(other);
    await connect("lena", "lena-login");
    // This instance claims the delivery and dies before sending it.
    const claimed = await t.webhooks.claim(10);
    expect(claimed).toHaveLength(1);
    expect(await other.app.webhooks.runOnce()).toBe(0);
    clock.advance(59_000);
    await deliverDue(other.app.webhooks);
    expect(receiver.received).toHaveLength(1);
    expect((await deliveries(hook.id))[0]).toMatchObject({ state: "delivered", attempts: 2 });
    // The dead instance's late outcome does not overwrite the one recorded.
    const claim = claimed[0];
    if (claim) expect(await t.webhooks.attempt(claim)).toBe("lost_lease");
    expect((await deliveries(hook.id))[0]).toMatchObject({ state: "delivered" });
  }, 60_000);

  it("redelivers on request with the same webhook-id; unknown deliveries are 404", async () => {
    const hook = await createHook(receiver.url, ["connection.created"]);
    await connect("mona", "mona-login");
    await deliverDue();
    const [delivered] = await deliveries(hook.id);
    const again = await json<{ delivery: Delivery }>(
      await t.call("POST", `${hooksPath()}/${hook.id}/deliveries/${delivered?.id}/redeliver`, {
        token: tenant.adminKey,
      }),
      202,
    );
    expect(again.delivery).toMatchObject({ id: delivered?.id, state: "pending" });
    await deliverDue();
    expect(receiver.received.map((request) => request.id)).toEqual([delivered?.id, delivered?.id]);
    expect((await deliveries(hook.id))[0]).toMatchObject({ state: "delivered", attempts: 2 });

    const missing = await json<{ error: { code: string } }>(
      await t.call("POST", `${hooksPath()}/${hook.id}/deliveries/msg_nope/redeliver`, { token: tenant.adminKey }),
      404,
    );
    expect(missing.error.code).toBe("NOT_FOUND");
    const otherHook = await createHook(receiver.url, ["connection.deleted"]);
    await json(
      await t.call("POST", `${hooksPath()}/${otherHook.id}/deliveries/${delivered?.id}/redeliver`, {
        token: tenant.adminKey,
      }),
      404,
    );
  }, 60_000);

  it("signs with the old and the new secret during the rotation overlap, then with the new one only", async () => {
    const hook = await createHook(receiver.url, ["connection.created", "connection.updated"]);
    const rotated = await json<{ secret: string; webhook: { previous_secret_expires_at: string | null } }>(
      await t.call("POST", `${hooksPath()}/${hook.id}/rotate-secret`, {
        token: tenant.adminKey,
        body: { overlap_seconds: 600 },
      }),
      200,
    );
    expect(rotated.secret).not.toBe(hook.secret);
    expect(rotated.webhook.previous_secret_expires_at).not.toBeNull();
    await connect("nora", "nora-login");
    await deliverDue();
    const [during] = receiver.received as [ReceivedWebhook];
    expect(during.signature.split(" ")).toHaveLength(2);
    expect(signedWith(hook.secret, during)).toBe(true);
    expect(signedWith(rotated.secret, during)).toBe(true);

    clock.advance(601_000);
    await connect("nora", "nora-login");
    await deliverDue();
    const after = receiver.received[1] as ReceivedWebhook;
    expect(after.signature.split(" ")).toHaveLength(1);
    expect(signedWith(rotated.secret, after)).toBe(true);
    expect(signedWith(hook.secret, after)).toBe(false);
  }, 60_000);

  it("refuses a private webhook URL when the private network is denied, at creation and at delivery", async () => {
    const guarded = await extraInstance(t, {
      clock,
      keys,
      env: { ...env, LATCHKEY_DENY_PRIVATE_NETWORK: "true" },
      // Every name resolves to a private address here, as a rebinding DNS server might answer.
      lookup: async () => [{ address: "10.0.0.7", family: 4 }],
    });
    extras.push(guarded);
    for (const url of ["http://127.0.0.1:9/x", "https://10.1.2.3/x", "https://localhost/x", "https://[::1]/x"]) {
      const refused = await json<{ error: { code: string } }>(
        await guarded.app.call("POST", hooksPath(), {
          token: tenant.adminKey,
          body: { url, events: ["connection.created"] },
        }),
        400,
      );
      expect(refused.error.code).toBe("INVALID_REQUEST");
    }
    const hook = await createHook("https://hooks.example.test/latchkey", ["connection.created"]);
    await connect("owen", "owen-login");
    await deliverDue(guarded.app.webhooks);
    const [blocked] = await deliveries(hook.id);
    expect(blocked).toMatchObject({ state: "pending", attempts: 1, last_status: null });
    expect(blocked?.last_error).toMatch(/^blocked/);
    expect(receiver.received).toHaveLength(0);
  }, 60_000);

  it("marks a delivery failed once it has been retried for the whole retry window (24 h)", async () => {
    const hook = await createHook(receiver.url, ["connection.created"]);
    receiver.mode = "error";
    await connect("paul", "paul-login");
    await deliverDue();
    let rounds = 0;
    // 5 s doubling to 1 h between tries: the window of 24 h takes some 30 tries.
    for (; rounds < 60; rounds++) {
      clock.advance(3_600_000);
      await deliverDue();
      const [delivery] = await deliveries(hook.id);
      if (delivery?.state !== "pending") break;
    }
    const [failed] = await deliveries(hook.id);
    expect(failed).toMatchObject({ state: "failed", last_status: 500, next_attempt_at: null });
    expect(rounds).toBeGreaterThanOrEqual(23);
    expect(rounds).toBeLessThanOrEqual(25);
  }, 120_000);
});
