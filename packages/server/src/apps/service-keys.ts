import type { ServiceKeyInfo } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import type { ServiceKeyRow } from "../db/schema.ts";
import { newId } from "../kernel/ids.ts";
import { issueSecretKey, keyInfo } from "../access/secret-keys.ts";

/** Service keys (apps' credentials): issue, list, revoke. */

export interface IssuedServiceKey {
  /** Shown once; only its hash is stored. */
  serviceKey: string;
  info: ServiceKeyInfo;
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

export function serviceKeyToWire(row: ServiceKeyRow): ServiceKeyInfo {
  return { ...keyInfo(row), app_id: row.app_id };
}
