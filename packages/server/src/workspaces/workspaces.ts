import type { Member, Plan, Workspace } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import type { MemberRow, WorkspaceRow } from "../db/schema.ts";
import type { Clock } from "../kernel/clock.ts";
import { newId } from "../kernel/ids.ts";
import { adminApiKeys } from "./admin-api-keys.ts";

export interface NewWorkspace {
  name: string;
  plan: Plan;
  adminEmail: string;
}

export interface CreatedWorkspace {
  workspace: Workspace;
  admin: Member;
  /** Shown once; only its hash is stored. */
  adminApiKey: string;
}

/** Creates a workspace, its first admin member and that admin's API key, in one transaction. */
export async function createWorkspace(db: Db, clock: Clock, input: NewWorkspace): Promise<CreatedWorkspace> {
  const now = clock.now();
  return db.transaction().execute(async (trx) => {
    const workspace = await trx
      .insertInto("workspaces")
      .values({ id: newId("ws"), name: input.name, plan: input.plan, created_at: now, updated_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    const admin = await trx
      .insertInto("members")
      .values({ id: newId("mem"), workspace_id: workspace.id, email: input.adminEmail, role: "admin", created_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    const key = await adminApiKeys.issue(trx, {
      workspaceId: workspace.id,
      ownerId: admin.id,
      name: "initial admin key",
      now,
    });
    return { workspace: workspaceToWire(workspace), admin: memberToWire(admin), adminApiKey: key.key };
  });
}

export function workspaceToWire(row: WorkspaceRow): Workspace {
  return {
    id: row.id,
    name: row.name,
    plan: row.plan,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function memberToWire(row: MemberRow): Member {
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    email: row.email,
    role: row.role,
    created_at: row.created_at.toISOString(),
  };
}
