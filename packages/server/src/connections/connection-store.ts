import { findProviderByIntegrationType } from "@latchkey/catalog";
import { CompiledQuery, sql, type RawBuilder } from "kysely";
import type { Db } from "../db/open-database.ts";
import { inTransaction } from "../db/in-transaction.ts";
import { type EventOrigin, recordConnectionEvent } from "../events/record-event.ts";
import { preparedStatement } from "../db/prepared-statements.ts";
import type { ConnectionRow } from "../db/schema.ts";
import type { Clock } from "../kernel/clock.ts";
import { newId } from "../kernel/ids.ts";
import type { Vault } from "../vault/vault.ts";

/** What the connection store needs. */
export interface ConnectionStoreDeps {
  db: Db;
  vault: Vault;
  clock: Clock;
}

/** Identifies one connection: the app's shared one (userId "") or one app user's. */
export interface ConnectionKey {
  appId: string;
  connectorId: string;
  ownerType: "user" | "app";
  userId: string;
}

export interface ProviderTokens {
  accessToken: string;
  refreshToken: string | null;
  tokenType: string;
  expiresAt: Date | null;
  scopes: string[];
}

export interface NewConnection extends ConnectionKey {
  workspaceId: string;
  tokens: ProviderTokens;
  account: Record<string, unknown> | null;
  connectionConfig: Record<string, string> | null;
  /** The request that completed the connect flow, for the connection event. */
  requestId?: string | null;
}

/** A connection with what the token routes need from its connector, read in one query. */
export interface ConnectionWithProvider extends ConnectionRow {
  provider: string;
  /** The connector's integration_type, else its provider id: what clients see. */
  integration_type: string;
  connector_status: "enabled" | "disabled";
}

/** A connector's integration type in SQL: its own `integration_type` option, else its provider id. */
export function integrationTypeOf(connectorAlias: string): RawBuilder<string> {
  return sql<string>`coalesce(${sql.ref(`${connectorAlias}.options`)}->>'integration_type', ${sql.ref(`${connectorAlias}.provider`)})`;
}

export const accessTokenContext = (connectionId: string) => ({
  table: "connections",
  column: "access_token",
  rowId: connectionId,
});

export const refreshTokenContext = (connectionId: string) => ({
  table: "connections",
  column: "refresh_token",
  rowId: connectionId,
});

export function decryptAccessToken(vault: Vault, row: Pick<ConnectionRow, "id" | "access_token">): string {
  return vault.decrypt(row.access_token, accessTokenContext(row.id));
}

export function decryptRefreshToken(vault: Vault, row: Pick<ConnectionRow, "id" | "refresh_token">): string | null {
  return vault.decryptNullable(row.refresh_token, refreshTokenContext(row.id));
}

/**
 * What the token routes read of a connection: enough to answer and to see whether the token is
 * about to expire (the refresher then reads the whole row). Every column costs the driver a
 * parser and a property per query, a timestamp a date parse.
 */
export const tokenRowColumns = [
  "id",
  "status",
  "access_token",
  "token_type",
  "expires_at",
  "scopes",
  "account",
  "connection_config",
] as const satisfies readonly (keyof ConnectionRow)[];

export type TokenRow = Pick<ConnectionRow, (typeof tokenRowColumns)[number]>;

export type ConnectionReader = (key: ConnectionKey) => Promise<TokenRow | null>;

/**
 * The hot path: one read by the (app, connector, owner) unique index, of the columns it needs
 * only (each timestamp costs a parse). Its SQL is built once and runs as a prepared statement on
 * PostgreSQL. The connector's provider and status come from ConnectorSummaries (cached), not from
 * a join: the join cost ~20% of the token route's time in the benchmark.
 */
export function connectionReader(db: Db): ConnectionReader {
  const sql = preparedStatement(
    db
      .selectFrom("connections")
      .select(tokenRowColumns)
      .where("app_id", "=", "")
      .where("connector_id", "=", "")
      .where("owner_type", "=", "user")
      .where("user_id", "=", "")
      .compile().sql,
  );
  return async (key) => {
    const result = await db.executeQuery<TokenRow>(
      CompiledQuery.raw(sql, [key.appId, key.connectorId, key.ownerType, key.userId]),
    );
    return result.rows[0] ?? null;
  };
}

/**
 * The app's shared connection for a Base44 integration-type name (`getConnection(name)`), matched
 * in this order: a connector whose `integration_type` is the name; a connector of the provider
 * with that id; a connector of the catalog provider that lists the name among its Base44
 * integration types (`googlecalendar` → google). Within one step, the oldest connection wins
 * (then the smaller id), so the answer is stable until it is removed.
 */
export async function findSharedConnectionByProvider(
  deps: ConnectionStoreDeps,
  appId: string,
  name: string,
): Promise<ConnectionWithProvider | null> {
  const listedBy = findProviderByIntegrationType(name)?.provider.id;
  const row = await deps.db
    .selectFrom("connections as c")
    .innerJoin("connectors as k", "k.id", "c.connector_id")
    .selectAll("c")
    .select(["k.provider", "k.status as connector_status"])
    .select(integrationTypeOf("k").as("integration_type"))
    .select(
      sql<number>`case when ${sql.ref("k.options")}->>'integration_type' = ${name} then 0 when ${sql.ref("k.provider")} = ${name} then 1 else 2 end`.as(
        "match_rank",
      ),
    )
    .where("c.app_id", "=", appId)
    .where("c.owner_type", "=", "app")
    .where("c.user_id", "=", "")
    .where("k.status", "=", "enabled")
    .where((eb) =>
      eb.or([
        eb(sql<string>`${sql.ref("k.options")}->>'integration_type'`, "=", name),
        eb("k.provider", "=", name),
        ...(listedBy === undefined ? [] : [eb("k.provider", "=", listedBy)]),
      ]),
    )
    .orderBy("match_rank", "asc")
    .orderBy("c.created_at", "asc")
    .orderBy("c.id", "asc")
    .limit(1)
    .executeTakeFirst();
  if (!row) return null;
  const { match_rank: _rank, ...found } = row;
  return found;
}

/**
 * Creates the connection, or replaces the tokens of the existing one (a reconnect: status back
 * to active), and records `connection.created` or `connection.updated` in the same transaction.
 * Ciphertexts are bound to the row id, so the id is settled before encrypting; a concurrent
 * insert or delete of the same key makes the loop go round once more.
 */
export async function saveConnection(deps: ConnectionStoreDeps, input: NewConnection): Promise<ConnectionRow> {
  const origin: EventOrigin = {
    actor: input.ownerType === "user" ? { type: "app_user", id: input.userId } : { type: "app", id: input.appId },
    requestId: input.requestId ?? null,
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    const saved = await inTransaction(deps.db, async (trx) => {
      const existing = await trx
        .selectFrom("connections")
        .select("id")
        .where("app_id", "=", input.appId)
        .where("connector_id", "=", input.connectorId)
        .where("owner_type", "=", input.ownerType)
        .where("user_id", "=", input.userId)
        .executeTakeFirst();
      const now = deps.clock.now();
      const row = existing
        ? await replaceTokens(trx, deps, existing.id, input, now)
        : await insertConnection(trx, deps, input, now);
      if (!row) return undefined;
      const action = existing ? "connection.updated" : "connection.created";
      await recordConnectionEvent(trx, { action, connection: row, origin, at: now });
      return row;
    });
    if (saved) return saved;
  }
  throw new Error("Could not save the connection: it kept changing concurrently");
}

async function insertConnection(
  db: Db,
  deps: ConnectionStoreDeps,
  input: NewConnection,
  now: Date,
): Promise<ConnectionRow | undefined> {
  const id = newId("conn");
  return db
    .insertInto("connections")
    .values({
      id,
      workspace_id: input.workspaceId,
      app_id: input.appId,
      connector_id: input.connectorId,
      owner_type: input.ownerType,
      user_id: input.userId,
      status: "active",
      ...tokenColumns(deps, id, input.tokens),
      account: JSON.stringify(input.account),
      connection_config: JSON.stringify(input.connectionConfig),
      connected_at: now,
      created_at: now,
      updated_at: now,
    })
    .onConflict((conflict) => conflict.columns(["app_id", "connector_id", "owner_type", "user_id"]).doNothing())
    .returningAll()
    .executeTakeFirst();
}

async function replaceTokens(
  db: Db,
  deps: ConnectionStoreDeps,
  id: string,
  input: NewConnection,
  now: Date,
): Promise<ConnectionRow | undefined> {
  return db
    .updateTable("connections")
    .set((eb) => ({
      status: "active",
      ...tokenColumns(deps, id, input.tokens),
      account: JSON.stringify(input.account),
      connection_config: JSON.stringify(input.connectionConfig),
      needs_reauth_reason: null,
      needs_reauth_at: null,
      refresh_cooldown_until: null,
      connected_at: now,
      updated_at: now,
      version: eb("version", "+", 1),
    }))
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
}

function tokenColumns(deps: ConnectionStoreDeps, id: string, tokens: ProviderTokens) {
  return {
    access_token: deps.vault.encrypt(tokens.accessToken, accessTokenContext(id)),
    refresh_token: deps.vault.encryptNullable(tokens.refreshToken, refreshTokenContext(id)),
    token_type: tokens.tokenType,
    expires_at: tokens.expiresAt,
    scopes: JSON.stringify(tokens.scopes),
  };
}

/**
 * Removes the connection and hands back its row, so exactly one caller revokes its tokens; the
 * `connection.deleted` event is written in the same transaction.
 */
export async function deleteConnection(
  deps: ConnectionStoreDeps,
  key: ConnectionKey,
  origin: EventOrigin,
): Promise<ConnectionRow | null> {
  return inTransaction(deps.db, async (trx) => {
    const row = await trx
      .deleteFrom("connections")
      .where("app_id", "=", key.appId)
      .where("connector_id", "=", key.connectorId)
      .where("owner_type", "=", key.ownerType)
      .where("user_id", "=", key.userId)
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await recordConnectionEvent(trx, {
      action: "connection.deleted",
      connection: row,
      origin,
      reason: "disconnected",
      at: deps.clock.now(),
    });
    return row;
  });
}
