import { sql, type Kysely } from "kysely";

/**
 * Background refresh: `last_used_at` (when a token route last handed the connection's token out,
 * written in batches, at most about once a minute per connection and instance) tells which
 * connections are worth refreshing ahead of use; `sweep_claimed_until` is the lease one
 * instance's sweep takes on a connection so the others leave it alone. The partial index serves
 * the sweep's "active, refreshable, expiring soon" scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("connections")
    .addColumn("last_used_at", "timestamptz")
    .addColumn("sweep_claimed_until", "timestamptz")
    .execute();
  await db.schema
    .createIndex("connections_sweep_idx")
    .on("connections")
    .column("expires_at")
    .where(sql.ref("status"), "=", "active")
    .where(sql.ref("refresh_token"), "is not", null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("connections_sweep_idx").execute();
  await db.schema.alterTable("connections").dropColumn("sweep_claimed_until").dropColumn("last_used_at").execute();
}
