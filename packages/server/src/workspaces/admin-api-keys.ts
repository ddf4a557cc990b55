import type { AdminApiKeyInfo } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import type { AdminApiKeyRow } from "../db/schema.ts";
import { newId } from "../kernel/ids.ts";
import { issueSecretKey, keyInfo } from "../access/secret-keys.ts";
import { assertWorkspaceKeepsAnAdmin, lockWorkspace } from "./workspace-admins.ts";

/** Admin API keys (members' credentials): issue, list, revoke. */

export interface IssuedAdminApiKey {
  /** Shown once; only its hash is stored. */
  apiKey: string;
  info: AdminApiKeyInfo;
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

export function adminApiKeyToWire(row: AdminApiKeyRow): AdminApiKeyInfo {
  return { ...keyInfo(row), member_id: row.member_id };
}
