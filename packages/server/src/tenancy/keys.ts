import type { AdminApiKeyInfo, ApiKeyInfo, ServiceKeyInfo } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import type { AdminApiKeyRow, ServiceKeyRow } from "../db/schema.ts";
import { newId } from "../http/ids.ts";
import { issueSecretKey } from "./secret-keys.ts";
import { assertWorkspaceKeepsAnAdmin, lockWorkspace } from "./workspace-admins.ts";

/** Admin API keys (members' credentials) and service keys (apps' credentials): issue, list, revoke. */

export interface IssuedAdminApiKey {
  /** Shown once; only its hash is stored. */
  apiKey: string;
  info: AdminApiKeyInfo;
}

export interface IssuedServiceKey {
  /** Shown once; only its hash is stored. */
  serviceKey: string;
  info: ServiceKeyInfo;
}

export async function issueAdminApiKey(
  db: Db,
  input: { workspaceId: string; memberId: string; name: string; now: Date },
): Promise<IssuedAdminApiKey> {
  const key = issueSecretKey("admin");
  const row = await db
    .insertInto("admin_api_keys")
    .values({
      id: newId("key"),
      workspace_id: input.workspaceId,
      member_id: input.memberId,
      name: input.name,
      prefix: key.prefix,
      key_hash: key.hash,
      created_at: input.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { apiKey: key.key, info: adminApiKeyToWire(row) };
}

export async function issueServiceKey(
  db: Db,
  input: { workspaceId: string; appId: string; name: string; now: Date },
): Promise<IssuedServiceKey> {
  const key = issueSecretKey("service");
  const row = await db
    .insertInto("service_keys")
    .values({
      id: newId("sk"),
      workspace_id: input.workspaceId,
      app_id: input.appId,
      name: input.name,
      prefix: key.prefix,
      key_hash: key.hash,
      created_at: input.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { serviceKey: key.key, info: serviceKeyToWire(row) };
}

export async function listAdminApiKeys(db: Db, workspaceId: string): Promise<AdminApiKeyInfo[]> {
  const rows = await db
    .selectFrom("admin_api_keys")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map(adminApiKeyToWire);
}

export async function listServiceKeys(db: Db, workspaceId: string, appId: string): Promise<ServiceKeyInfo[]> {
  const rows = await db
    .selectFrom("service_keys")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .where("app_id", "=", appId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map(serviceKeyToWire);
}

/**
 * Marks the admin API key revoked (idempotent). False if not found. Refused when it is the last
 * active key of any admin: the workspace would be locked out.
 */
export async function revokeAdminApiKey(
  db: Db,
  input: { workspaceId: string; keyId: string; now: Date },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await lockWorkspace(trx, input.workspaceId);
    const key = await trx
      .selectFrom("admin_api_keys")
      .select(["id", "revoked_at"])
      .where("id", "=", input.keyId)
      .where("workspace_id", "=", input.workspaceId)
      .executeTakeFirst();
    if (!key) return false;
    if (key.revoked_at === null) {
      await trx.updateTable("admin_api_keys").set({ revoked_at: input.now }).where("id", "=", key.id).execute();
      await assertWorkspaceKeepsAnAdmin(trx, input.workspaceId);
    }
    return true;
  });
}

/** Marks the service key revoked (idempotent: an already revoked key keeps its revocation time). False if not found. */
export async function revokeServiceKey(
  db: Db,
  input: { workspaceId: string; appId: string; keyId: string; now: Date },
): Promise<boolean> {
  const key = await db
    .selectFrom("service_keys")
    .select(["id", "revoked_at"])
    .where("id", "=", input.keyId)
    .where("workspace_id", "=", input.workspaceId)
    .where("app_id", "=", input.appId)
    .executeTakeFirst();
  if (!key) return false;
  if (key.revoked_at === null) {
    await db.updateTable("service_keys").set({ revoked_at: input.now }).where("id", "=", key.id).execute();
  }
  return true;
}

export function adminApiKeyToWire(row: AdminApiKeyRow): AdminApiKeyInfo {
  return { ...keyInfo(row), member_id: row.member_id };
}

export function serviceKeyToWire(row: ServiceKeyRow): ServiceKeyInfo {
  return { ...keyInfo(row), app_id: row.app_id };
}

function keyInfo(row: AdminApiKeyRow | ServiceKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
