import type { Kysely } from "kysely";
import type { ConnectionRow, Database, EventActor } from "../db/schema.ts";
import type { Clock } from "../kernel/clock.ts";
import { newId } from "../kernel/ids.ts";

/** The database, or the transaction of the change being recorded. */
export type Executor = Kysely<Database>;

/** Where a change came from: who made it and the request that carried it (null: no request, e.g. a worker). */
export interface EventOrigin {
  actor: EventActor;
  requestId: string | null;
}

/** The connection changes webhooks announce (SPEC.md "Webhooks and audit"). */
export const webhookEventTypes = [
  "connection.created",
  "connection.updated",
  "connection.needs_reauth",
  "connection.deleted",
] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** Connection events: the four webhooks announce, plus two only the audit log shows. */
export type ConnectionAction = WebhookEventType | "connection.refreshed" | "connection.revoked";

export interface AdminAction extends EventOrigin {
  workspaceId: string;
  /** `<thing>.<verb>`, e.g. "app.created", "webhook.secret_rotated". */
  action: string;
  /** Id of what was acted on. */
  target: string;
  appId?: string | null;
  /** Non-secret details (a name, a role); never a key, secret or token. */
  data?: Record<string, unknown>;
  at?: Date;
}

/**
 * Writes one audit record of an admin action, at the clock's time. Pass the change's transaction
 * as `db` where there is one.
 */
export async function recordAudit(deps: { db: Executor; clock: Clock }, entry: AdminAction): Promise<void> {
  await deps.db
    .insertInto("events")
    .values({
      id: newId("evt"),
      workspace_id: entry.workspaceId,
      app_id: entry.appId ?? null,
      type: "admin",
      action: entry.action,
      actor: JSON.stringify(entry.actor),
      target: entry.target,
      data: JSON.stringify(entry.data ?? {}),
      request_id: entry.requestId,
      created_at: entry.at ?? deps.clock.now(),
    })
    .execute();
}

export type ConnectionSnapshot = Pick<
  ConnectionRow,
  "id" | "workspace_id" | "app_id" | "connector_id" | "owner_type" | "user_id" | "status"
>;

export interface ConnectionEvent {
  action: ConnectionAction;
  connection: ConnectionSnapshot;
  origin: EventOrigin;
  reason?: string;
  at: Date;
}

/** The `data` of a connection event, as webhooks carry it: ids and status, never a token. */
export interface ConnectionEventData {
  connection_id: string;
  app_id: string;
  connector_id: string;
  provider: string;
  owner_type: "user" | "app";
  user_id: string;
  status: "active" | "needs_reauth" | "deleted";
  reason?: string;
}

/**
 * Records a connection change, in the transaction that made it (call it after the change, with
 * that transaction): the event row the audit log lists, and for the changes webhooks announce an
 * outbox row per subscribed webhook. Either all of it commits with the change or none of it does.
 */
export async function recordConnectionEvent(trx: Executor, event: ConnectionEvent): Promise<void> {
  const { connection } = event;
  const connector = await trx
    .selectFrom("connectors")
    .select("provider")
    .where("id", "=", connection.connector_id)
    .executeTakeFirst();
  const data: ConnectionEventData = {
    connection_id: connection.id,
    app_id: connection.app_id,
    connector_id: connection.connector_id,
    provider: connector?.provider ?? "",
    owner_type: connection.owner_type,
    user_id: connection.user_id,
    status: event.action === "connection.deleted" ? "deleted" : connection.status,
    ...(event.reason !== undefined && { reason: event.reason }),
  };
  const recorded = await trx
    .insertInto("events")
    .values({
      id: newId("evt"),
      workspace_id: connection.workspace_id,
      app_id: connection.app_id,
      type: "connection",
      action: event.action,
      actor: JSON.stringify(event.origin.actor),
      target: connection.id,
      data: JSON.stringify(data),
      request_id: event.origin.requestId,
      created_at: event.at,
    })
    .returning(["id", "seq"])
    .executeTakeFirstOrThrow();
  if (isWebhookEventType(event.action)) await enqueueDeliveries(trx, event, recorded);
}

/**
 * Records `connection.deleted` for each connection a cascade removes (its app or its connector
 * deleted), in the transaction that removes them; `reason` says which (`app_deleted`,
 * `connector_deleted`). Call it while the connector rows still exist: the event names the provider.
 */
export async function recordConnectionsDeleted(
  trx: Executor,
  removed: readonly ConnectionSnapshot[],
  details: { origin: EventOrigin; reason: string; at: Date },
): Promise<void> {
  for (const connection of removed) {
    await recordConnectionEvent(trx, {
      action: "connection.deleted",
      connection,
      origin: details.origin,
      reason: details.reason,
      at: details.at,
    });
  }
}

export function isWebhookEventType(action: string): action is WebhookEventType {
  return (webhookEventTypes as readonly string[]).includes(action);
}

/** One outbox row per enabled webhook of the workspace that subscribed to this event (and this app, if it names one). */
async function enqueueDeliveries(
  trx: Executor,
  event: ConnectionEvent,
  recorded: { id: string; seq: string },
): Promise<void> {
  const { connection } = event;
  const webhooks = await trx
    .selectFrom("webhooks")
    .select(["id", "events"])
    .where("workspace_id", "=", connection.workspace_id)
    .where("status", "=", "enabled")
    .where((eb) => eb.or([eb("app_id", "is", null), eb("app_id", "=", connection.app_id)]))
    .execute();
  const subscribed = webhooks.filter((webhook) => webhook.events.includes(event.action));
  if (subscribed.length === 0) return;
  await trx
    .insertInto("webhook_deliveries")
    .values(
      subscribed.map((webhook) => ({
        id: newId("msg"),
        workspace_id: connection.workspace_id,
        webhook_id: webhook.id,
        event_id: recorded.id,
        event_seq: recorded.seq,
        ordering_key: connection.id,
        state: "pending" as const,
        next_attempt_at: event.at,
        retry_window_from: event.at,
        created_at: event.at,
      })),
    )
    .execute();
}
