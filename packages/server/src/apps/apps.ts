import type { App } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import { inTransaction } from "../db/in-transaction.ts";
import { type EventOrigin, recordConnectionsDeleted } from "../events/record-event.ts";
import type { AppRow } from "../db/schema.ts";
import { AppError, notFound } from "../errors/app-error.ts";
import { newId } from "../kernel/ids.ts";
import type { Vault } from "../vault/vault.ts";
import {
  identityToWire,
  storedIdentity,
  type IdentityInput,
  type IdentityPatch,
  type StoredIdentity,
} from "./identity-config.ts";
import { type IssuedServiceKey, serviceKeys } from "./service-keys.ts";
import { normalizeOrigins } from "./return-origins.ts";

export interface NewAppInput {
  workspaceId: string;
  name: string;
  allowedReturnOrigins: string[];
  identity: IdentityInput;
  now: Date;
}

export interface CreatedApp {
  app: App;
  /** The first service key, shown once. */
  serviceKey: IssuedServiceKey;
}

export interface AppChanges {
  name?: string | undefined;
  allowedReturnOrigins?: string[] | undefined;
  identity?: IdentityPatch | undefined;
}

/** Creates an app and its first service key, in one transaction. */
export async function createAppWithServiceKey(db: Db, vault: Vault, input: NewAppInput): Promise<CreatedApp> {
  const id = newId("app");
  const identity = requireSecret(storedIdentity(input.identity, id, vault));
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("apps")
      .values({
        id,
        workspace_id: input.workspaceId,
        name: input.name,
        allowed_return_origins: JSON.stringify(normalizeOrigins(input.allowedReturnOrigins)),
        identity_type: identity.identity_type,
        identity_config: JSON.stringify(identity.identity_config),
        identity_secret: identity.identity_secret,
        created_at: input.now,
        updated_at: input.now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const serviceKey = await serviceKeys.issue(trx, {
      workspaceId: input.workspaceId,
      ownerId: id,
      name: "initial service key",
      now: input.now,
    });
    return { app: appToWire(row), serviceKey };
  });
}

export async function listApps(db: Db, workspaceId: string): Promise<App[]> {
  const rows = await db
    .selectFrom("apps")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map(appToWire);
}

/** The app, only if it belongs to the workspace: another workspace's app is as unknown as a missing one. */
export async function findAppRow(db: Db, workspaceId: string, appId: string): Promise<AppRow | undefined> {
  return db
    .selectFrom("apps")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .where("id", "=", appId)
    .executeTakeFirst();
}

export async function requireAppRow(db: Db, workspaceId: string, appId: string): Promise<AppRow> {
  const row = await findAppRow(db, workspaceId, appId);
  if (!row) throw notFound("App");
  return row;
}

export async function updateApp(
  db: Db,
  vault: Vault,
  input: { workspaceId: string; appId: string; changes: AppChanges; now: Date },
): Promise<App> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom("apps")
      .selectAll()
      .where("workspace_id", "=", input.workspaceId)
      .where("id", "=", input.appId)
      .forUpdate()
      .executeTakeFirst();
    if (!current) throw notFound("App");
    const { name, allowedReturnOrigins, identity } = input.changes;
    const stored = identity && requireSecret(storedIdentity(identity, current.id, vault, current));
    const row = await trx
      .updateTable("apps")
      .set({
        updated_at: input.now,
        ...(name !== undefined && { name }),
        ...(allowedReturnOrigins !== undefined && {
          allowed_return_origins: JSON.stringify(normalizeOrigins(allowedReturnOrigins)),
        }),
        ...(stored && {
          identity_type: stored.identity_type,
          identity_config: JSON.stringify(stored.identity_config),
          identity_secret: stored.identity_secret,
        }),
      })
      .where("id", "=", current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return appToWire(row);
  });
}

/**
 * Deletes the app; its service keys and pending flows go with it (foreign keys cascade), and its
 * connections are removed first, each announced as `connection.deleted` (reason `app_deleted`) in
 * the same transaction. Webhooks scoped to this app are deleted with it, so workspace-wide webhooks
 * are the ones that receive those events. Resolves to the number of connections removed.
 */
export async function deleteApp(
  db: Db,
  target: { workspaceId: string; appId: string },
  origin: EventOrigin,
  at: Date,
): Promise<number> {
  return inTransaction(db, async (trx) => {
    // The app row is locked first: a connect completing meanwhile waits for it (its insert needs
    // the row) and then fails, rather than adding a connection the cascade would drop unannounced.
    const app = await trx
      .selectFrom("apps")
      .select("id")
      .where("workspace_id", "=", target.workspaceId)
      .where("id", "=", target.appId)
      .forUpdate()
      .executeTakeFirst();
    if (!app) throw notFound("App");
    const removed = await trx.deleteFrom("connections").where("app_id", "=", app.id).returningAll().execute();
    await recordConnectionsDeleted(trx, removed, { origin, reason: "app_deleted", at });
    await trx.deleteFrom("apps").where("id", "=", app.id).execute();
    return removed.length;
  });
}

export function appToWire(row: AppRow): App {
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    name: row.name,
    allowed_return_origins: row.allowed_return_origins,
    identity: identityToWire(row),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function requireSecret(stored: StoredIdentity | { missingSecret: true }): StoredIdentity {
  if ("missingSecret" in stored) {
    throw new AppError("INVALID_REQUEST", "Invalid body: identity.secret: required when switching to hs256", {
      issues: [{ path: "identity.secret", message: "Required when the app does not already use hs256" }],
    });
  }
  return stored;
}
