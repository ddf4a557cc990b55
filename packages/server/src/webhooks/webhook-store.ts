import { randomBytes } from "node:crypto";
import type { Db } from "../db/open-database.ts";
import type { WebhookDeliveryRow, WebhookRow } from "../db/schema.ts";
import { notFound } from "../errors/app-error.ts";
import type { Clock } from "../kernel/clock.ts";
import { newId } from "../kernel/ids.ts";
import type { Vault } from "../vault/vault.ts";
import type { WebhookEventType } from "../events/record-event.ts";

export interface WebhookStoreDeps {
  db: Db;
  vault: Vault;
  clock: Clock;
}

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

const secretContext = (id: string) => ({ table: "webhooks", column: "secret", rowId: id });
const previousSecretContext = (id: string) => ({ table: "webhooks", column: "previous_secret", rowId: id });

/** The secrets that sign a delivery now: the current one, and the previous one during its overlap window. */
export function signingSecrets(vault: Vault, row: WebhookRow, now: Date): string[] {
  const secrets = [vault.decrypt(row.secret, secretContext(row.id))];
  if (row.previous_secret !== null && row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now) {
    secrets.push(vault.decrypt(row.previous_secret, previousSecretContext(row.id)));
  }
  return secrets;
}

export interface WebhookInput {
  url: string;
  events: WebhookEventType[];
  appId: string | null;
  description: string;
  status: "enabled" | "disabled";
}

export async function createWebhook(
  deps: WebhookStoreDeps,
  workspaceId: string,
  input: WebhookInput,
): Promise<{ row: WebhookRow; secret: string }> {
  const id = newId("wh");
  const secret = newWebhookSecret();
  const now = deps.clock.now();
  const row = await deps.db
    .insertInto("webhooks")
    .values({
      id,
      workspace_id: workspaceId,
      app_id: input.appId,
      url: input.url,
      events: JSON.stringify(input.events),
      description: input.description,
      status: input.status,
      secret: deps.vault.encrypt(secret, secretContext(id)),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { row, secret };
}

export async function requireWebhook(db: Db, workspaceId: string, id: string): Promise<WebhookRow> {
  const row = await db
    .selectFrom("webhooks")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("Webhook");
  return row;
}

export async function updateWebhook(
  deps: WebhookStoreDeps,
  workspaceId: string,
  id: string,
  changes: Partial<WebhookInput>,
): Promise<WebhookRow> {
  const row = await deps.db
    .updateTable("webhooks")
    .set({
      updated_at: deps.clock.now(),
      ...(changes.url !== undefined && { url: changes.url }),
      ...(changes.events !== undefined && { events: JSON.stringify(changes.events) }),
      ...(changes.appId !== undefined && { app_id: changes.appId }),
      ...(changes.description !== undefined && { description: changes.description }),
      ...(changes.status !== undefined && { status: changes.status }),
    })
    .where("workspace_id", "=", workspaceId)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound("Webhook");
  return row;
}

/**
 * A new secret, shown once; the old one moves to `previous_secret` and keeps signing alongside the
 * new one (a second `v1,` signature) until `overlapMs` from now, so receivers can switch without a gap.
 */
export async function rotateWebhookSecret(
  deps: WebhookStoreDeps,
  workspaceId: string,
  id: string,
  overlapMs: number,
): Promise<{ row: WebhookRow; secret: string }> {
  return deps.db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom("webhooks")
      .selectAll()
      .where("workspace_id", "=", workspaceId)
      .where("id", "=", id)
      .forUpdate()
      .executeTakeFirst();
    if (!current) throw notFound("Webhook");
    const now = deps.clock.now();
    const old = deps.vault.decrypt(current.secret, secretContext(id));
    const secret = newWebhookSecret();
    const row = await trx
      .updateTable("webhooks")
      .set({
        secret: deps.vault.encrypt(secret, secretContext(id)),
        previous_secret: overlapMs > 0 ? deps.vault.encrypt(old, previousSecretContext(id)) : null,
        previous_secret_expires_at: overlapMs > 0 ? new Date(now.getTime() + overlapMs) : null,
        updated_at: now,
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { row, secret };
  });
}

export interface WebhookWire {
  id: string;
  workspace_id: string;
  app_id: string | null;
  url: string;
  events: string[];
  description: string;
  status: "enabled" | "disabled";
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** The webhook as the API shows it: never a secret. */
export function webhookToWire(row: WebhookRow, now: Date): WebhookWire {
  const overlapping = row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now;
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    app_id: row.app_id,
    url: row.url,
    events: row.events,
    description: row.description,
    status: row.status,
    previous_secret_expires_at: overlapping ? (row.previous_secret_expires_at?.toISOString() ?? null) : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface DeliveryWire {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

export function deliveryToWire(row: WebhookDeliveryRow & { event_type: string }): DeliveryWire {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    event_id: row.event_id,
    event_type: row.event_type,
    state: row.state,
    attempts: row.attempts,
    next_attempt_at: row.state === "pending" ? row.next_attempt_at.toISOString() : null,
    last_attempt_at: row.last_attempt_at?.toISOString() ?? null,
    last_status: row.last_status,
    last_error: row.last_error,
    delivered_at: row.delivered_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}
