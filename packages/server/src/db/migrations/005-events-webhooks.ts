import { sql, type Kysely } from "kysely";

/**
 * One event record, two readers: `events` is the audit log (admin actions and connection events)
 * and the source of webhook deliveries. `webhook_deliveries` is the outbox: one row per event and
 * subscribed webhook, written in the transaction of the change, claimed by any instance with a lease.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable("events")
    .addColumn("id", "text", (c) => c.primaryKey())
    // Total order of events (commit order per connection: the writer holds the connection row first).
    .addColumn("seq", "bigserial", (c) => c.notNull().unique())
    .addColumn("workspace_id", "text", (c) => c.notNull().references("workspaces.id").onDelete("cascade"))
    // No foreign key: the audit log outlives the app it names.
    .addColumn("app_id", "text")
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("actor", "jsonb", (c) => c.notNull())
    .addColumn("target", "text", (c) => c.notNull())
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("request_id", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(now))
    .execute();
  // The audit listing: newest first per workspace, optionally by action or target.
  await db.schema.createIndex("events_workspace_seq_idx").on("events").columns(["workspace_id", "seq"]).execute();
  await db.schema
    .createIndex("events_workspace_target_idx")
    .on("events")
    .columns(["workspace_id", "target", "seq"])
    .execute();

  await db.schema
    .createTable("webhooks")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("workspace_id", "text", (c) => c.notNull().references("workspaces.id").onDelete("cascade"))
    .addColumn("app_id", "text", (c) => c.references("apps.id").onDelete("cascade"))
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("events", "jsonb", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("status", "text", (c) => c.notNull())
    // vault-encrypted `whsec_…`; the previous one keeps signing until previous_secret_expires_at.
    .addColumn("secret", "text", (c) => c.notNull())
    .addColumn("previous_secret", "text")
    .addColumn("previous_secret_expires_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(now))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex("webhooks_workspace_idx").on("webhooks").column("workspace_id").execute();

  await db.schema
    .createTable("webhook_deliveries")
    // Sent as the `webhook-id` header: the same on every attempt.
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("workspace_id", "text", (c) => c.notNull().references("workspaces.id").onDelete("cascade"))
    .addColumn("webhook_id", "text", (c) => c.notNull().references("webhooks.id").onDelete("cascade"))
    .addColumn("event_id", "text", (c) => c.notNull().references("events.id").onDelete("cascade"))
    .addColumn("event_seq", "bigint", (c) => c.notNull())
    // Deliveries with the same key (a connection) go out in event order.
    .addColumn("ordering_key", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "timestamptz", (c) => c.notNull())
    // Retried until retry_window_from + the configured window (a redelivery starts a new window).
    .addColumn("retry_window_from", "timestamptz", (c) => c.notNull())
    .addColumn("lease_until", "timestamptz")
    .addColumn("lease_token", "text")
    .addColumn("last_attempt_at", "timestamptz")
    .addColumn("last_status", "integer")
    .addColumn("last_error", "text")
    .addColumn("delivered_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint("webhook_deliveries_event_webhook_unique", ["event_id", "webhook_id"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_due_idx")
    .on("webhook_deliveries")
    .columns(["next_attempt_at"])
    .where(sql.ref("state"), "=", "pending")
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_order_idx")
    .on("webhook_deliveries")
    .columns(["webhook_id", "ordering_key", "event_seq"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_listing_idx")
    .on("webhook_deliveries")
    .columns(["webhook_id", "event_seq"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["webhook_deliveries", "webhooks", "events"]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
