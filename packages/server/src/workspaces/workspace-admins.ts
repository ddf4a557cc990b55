import { AppError } from "../errors/app-error.ts";
import type { Db } from "../db/open-database.ts";

/**
 * A workspace must never lock itself out: there is no way back in without an admin who holds an
 * active API key. Changes that could break this run in a transaction that first locks the
 * workspace row (so two admins demoting each other at once cannot both succeed), make the change,
 * then call `assertWorkspaceKeepsAnAdmin`, whose throw rolls the change back.
 */

/** Serializes membership and key changes of one workspace. False when the workspace does not exist. */
export async function lockWorkspace(trx: Db, workspaceId: string): Promise<boolean> {
  const row = await trx
    .selectFrom("workspaces")
    .select("id")
    .where("id", "=", workspaceId)
    .forUpdate()
    .executeTakeFirst();
  return row !== undefined;
}

export async function assertWorkspaceKeepsAnAdmin(trx: Db, workspaceId: string): Promise<void> {
  const admins = await trx
    .selectFrom("members")
    .select("id")
    .where("workspace_id", "=", workspaceId)
    .where("role", "=", "admin")
    .execute();
  if (admins.length === 0) {
    throw new AppError("CONFLICT", "A workspace must keep at least one admin");
  }
  const adminWithKey = await trx
    .selectFrom("admin_api_keys as k")
    .innerJoin("members as m", "m.id", "k.member_id")
    .select("k.id")
    .where("m.workspace_id", "=", workspaceId)
    .where("m.role", "=", "admin")
    .where("k.revoked_at", "is", null)
    .limit(1)
    .executeTakeFirst();
  if (!adminWithKey) {
    throw new AppError("CONFLICT", "A workspace must keep at least one admin with an active API key");
  }
}
