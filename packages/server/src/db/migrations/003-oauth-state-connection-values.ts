import type { Kysely } from "kysely";

/**
 * The values an app user gives at initiate (a Shopify shop, a Zendesk subdomain) fill the token
 * URL at the callback and are kept in the connection's connection_config: the flow's state keeps
 * them in between.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("oauth_states").addColumn("connection_values", "jsonb").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("oauth_states").dropColumn("connection_values").execute();
}
