import type { AdminApiKeyInfo } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import { type IssuedKey, keyStore } from "../access/key-store.ts";
import { keyInfo } from "../access/secret-keys.ts";
import { assertWorkspaceKeepsAnAdmin, lockWorkspace } from "./workspace-admins.ts";

/** Admin API keys: members' credentials. */
export const adminApiKeys = keyStore<AdminApiKeyInfo>({
  table: "admin_api_keys",
  owner: "member_id",
  idPrefix: "key",
  secret: "admin",
  toWire: (stored) => ({ ...keyInfo(stored), member_id: stored.owner_id }),
});

export type IssuedAdminApiKey = IssuedKey<AdminApiKeyInfo>;

/**
 * Revokes like any key, but refused when it is the last active key of any admin: the workspace
 * would be locked out. False if not found.
 */
export async function revokeAdminApiKey(
  db: Db,
  input: { workspaceId: string; keyId: string; now: Date },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await lockWorkspace(trx, input.workspaceId);
    const outcome = await adminApiKeys.revoke(trx, input);
    if (outcome === "revoked") await assertWorkspaceKeepsAnAdmin(trx, input.workspaceId);
    return outcome !== "not-found";
  });
}
