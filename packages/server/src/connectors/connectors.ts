import type { Connector, ConnectorStatus } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import { inTransaction } from "../db/in-transaction.ts";
import { type EventOrigin, recordConnectionsDeleted } from "../events/record-event.ts";
import type { ConnectorRow } from "../db/schema.ts";
import { notFound } from "../errors/app-error.ts";
import { newId } from "../kernel/ids.ts";
import type { Vault, VaultContext } from "../vault/vault.ts";

/** Where a connector's client secret lives in the vault: bound to its row. */
export function clientSecretContext(connectorId: string): VaultContext {
  return { table: "connectors", column: "client_secret", rowId: connectorId };
}

export interface NewConnector {
  workspaceId: string;
  provider: string;
  name: string;
  clientId: string;
  clientSecret: string | null;
  scopes: string[];
  options: Record<string, unknown>;
  status: ConnectorStatus;
  now: Date;
}

export async function insertConnector(db: Db, vault: Vault, input: NewConnector): Promise<ConnectorRow> {
  const id = newId("con");
  return db
    .insertInto("connectors")
    .values({
      id,
      workspace_id: input.workspaceId,
      provider: input.provider,
      name: input.name,
      client_id: input.clientId,
      client_secret: vault.encryptNullable(input.clientSecret, clientSecretContext(id)),
      scopes: JSON.stringify(input.scopes),
      options: JSON.stringify(input.options),
      status: input.status,
      created_at: input.now,
      updated_at: input.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listConnectors(db: Db, workspaceId: string): Promise<ConnectorRow[]> {
  return db
    .selectFrom("connectors")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

/** The connector, if it is in this workspace; another workspace's id is simply not found. */
export async function requireConnector(db: Db, workspaceId: string, connectorId: string): Promise<ConnectorRow> {
  const row = await db
    .selectFrom("connectors")
    .selectAll()
    .where("id", "=", connectorId)
    .where("workspace_id", "=", workspaceId)
    .executeTakeFirst();
  if (!row) throw notFound("Connector");
  return row;
}

export interface ConnectorChanges {
  name?: string | undefined;
  clientId?: string | undefined;
  /** A new secret; null removes the stored one; undefined keeps it. */
  clientSecret?: string | null | undefined;
  scopes?: string[] | undefined;
  options?: Record<string, unknown> | undefined;
  status?: ConnectorStatus | undefined;
}

/**
 * Changes a connector under a row lock, so two concurrent updates cannot lose each other's
 * option changes. `plan` sees the locked row and returns the changes (or throws to change nothing).
 */
export async function updateConnector(
  db: Db,
  vault: Vault,
  target: { workspaceId: string; connectorId: string; now: Date },
  plan: (current: ConnectorRow) => ConnectorChanges,
): Promise<ConnectorRow> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom("connectors")
      .selectAll()
      .where("id", "=", target.connectorId)
      .where("workspace_id", "=", target.workspaceId)
      .forUpdate()
      .executeTakeFirst();
    if (!current) throw notFound("Connector");
    const changes = plan(current);
    return trx
      .updateTable("connectors")
      .set({
        ...(changes.name !== undefined && { name: changes.name }),
        ...(changes.clientId !== undefined && { client_id: changes.clientId }),
        ...(changes.clientSecret !== undefined && {
          client_secret: vault.encryptNullable(changes.clientSecret, clientSecretContext(current.id)),
        }),
        ...(changes.scopes !== undefined && { scopes: JSON.stringify(changes.scopes) }),
        ...(changes.options !== undefined && { options: JSON.stringify(changes.options) }),
        ...(changes.status !== undefined && { status: changes.status }),
        updated_at: target.now,
      })
      .where("id", "=", current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/**
 * Deletes a connector; its pending flows go with it (foreign keys cascade), and its connections
 * are removed first, each announced as `connection.deleted` (reason `connector_deleted`) in the
 * same transaction, while the connector still exists for the event's `provider`. Resolves to the
 * number of connections removed.
 */
export async function deleteConnector(
  db: Db,
  target: { workspaceId: string; connectorId: string },
  origin: EventOrigin,
  at: Date,
): Promise<number> {
  return inTransaction(db, async (trx) => {
    // Locked first: a connect completing meanwhile waits for the row, then fails, instead of
    // adding a connection the cascade would drop unannounced.
    const connector = await trx
      .selectFrom("connectors")
      .select("id")
      .where("id", "=", target.connectorId)
      .where("workspace_id", "=", target.workspaceId)
      .forUpdate()
      .executeTakeFirst();
    if (!connector) throw notFound("Connector");
    const removed = await trx
      .deleteFrom("connections")
      .where("connector_id", "=", connector.id)
      .returningAll()
      .execute();
    await recordConnectionsDeleted(trx, removed, { origin, reason: "connector_deleted", at });
    await trx.deleteFrom("connectors").where("id", "=", connector.id).execute();
    return removed.length;
  });
}

export function connectorToWire(row: ConnectorRow, publicUrl: string): Connector {
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    provider: row.provider,
    name: row.name,
    client_id: row.client_id,
    scopes: row.scopes,
    status: row.status,
    callback_url: `${publicUrl}/oauth/callback`,
    options: row.options,
    has_client_secret: row.client_secret !== null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
