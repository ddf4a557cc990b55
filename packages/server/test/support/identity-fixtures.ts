/**
 * Test-only: app and service-key rows written straight to the database (as the tenancy routes
 * would), for identity settings the API would refuse. Workspaces come from tenants.ts `createWorkspace`.
 */
import type { AppRow } from "../../src/db/schema.ts";
import type { AppDeps } from "../../src/app/deps.ts";
import { newId } from "../../src/kernel/ids.ts";
import { issueSecretKey } from "../../src/access/secret-keys.ts";

export interface TestIdentity {
  type: AppRow["identity_type"];
  config?: Record<string, string>;
  /** Stored vault-encrypted, bound to this app's row. */
  secret?: string;
}

export async function insertApp(deps: AppDeps, workspaceId: string, identity: TestIdentity): Promise<AppRow> {
  const id = newId("app");
  const now = deps.clock.now();
  await deps.db
    .insertInto("apps")
    .values({
      id,
      workspace_id: workspaceId,
      name: `app ${identity.type}`,
      allowed_return_origins: JSON.stringify(["https://app.example"]),
      identity_type: identity.type,
      identity_config: JSON.stringify(identity.config ?? {}),
      identity_secret:
        identity.secret === undefined
          ? null
          : deps.vault.encrypt(identity.secret, { table: "apps", column: "identity_secret", rowId: id }),
      created_at: now,
      updated_at: now,
    })
    .execute();
  return readApp(deps, id);
}

/** Changes an app's identity settings the way an update route would: new values, later updated_at. */
export async function updateApp(deps: AppDeps, app: AppRow, identity: TestIdentity): Promise<AppRow> {
  await deps.db
    .updateTable("apps")
    .set({
      identity_type: identity.type,
      identity_config: JSON.stringify(identity.config ?? {}),
      identity_secret:
        identity.secret === undefined
          ? null
          : deps.vault.encrypt(identity.secret, { table: "apps", column: "identity_secret", rowId: app.id }),
      updated_at: new Date(app.updated_at.getTime() + 1000),
    })
    .where("id", "=", app.id)
    .execute();
  return readApp(deps, app.id);
}

export function readApp(deps: AppDeps, id: string): Promise<AppRow> {
  return deps.db.selectFrom("apps").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

export async function insertServiceKey(deps: AppDeps, app: AppRow): Promise<{ id: string; key: string }> {
  const issued = issueSecretKey("service");
  const id = newId("sk");
  await deps.db
    .insertInto("service_keys")
    .values({
      id,
      workspace_id: app.workspace_id,
      app_id: app.id,
      name: "test key",
      prefix: issued.prefix,
      key_hash: issued.hash,
      created_at: deps.clock.now(),
    })
    .execute();
  return { id, key: issued.key };
}
