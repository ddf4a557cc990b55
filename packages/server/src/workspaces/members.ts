import type { Member, MemberRole } from "@latchkey/contracts";
import type { Transaction } from "kysely";
import type { Db } from "../db/open-database.ts";
import type { Database, MemberRow } from "../db/schema.ts";
import { AppError, notFound } from "../errors/app-error.ts";
import { newId } from "../kernel/ids.ts";
import { adminApiKeys, type IssuedAdminApiKey } from "./admin-api-keys.ts";
import { assertWorkspaceKeepsAnAdmin, lockWorkspace } from "./workspace-admins.ts";
import { memberToWire } from "./workspaces.ts";

export interface AddedMember {
  member: Member;
  /** The new member's own API key, shown once. */
  key: IssuedAdminApiKey;
}

const duplicateEmail = () => new AppError("CONFLICT", "A member with this email already exists in the workspace");

interface NewMember {
  workspaceId: string;
  email: string;
  role: MemberRole;
  now: Date;
}

/** Adds a member and issues them an API key. Emails are unique per workspace (compared lowercased). */
export async function addMember(db: Db, input: NewMember): Promise<AddedMember> {
  return insertMember(db, input, async (trx, row) => {
    const key = await adminApiKeys.issue(trx, {
      workspaceId: input.workspaceId,
      ownerId: row.id,
      name: "initial key",
      now: input.now,
    });
    return { member: memberToWire(row), key };
  });
}

/**
 * Adds a member without an API key (a console invitation: they sign in with the password they set
 * through a setup link). `then` runs in the same transaction, e.g. to issue that link.
 */
export async function inviteMember<T>(
  db: Db,
  input: NewMember,
  then: (trx: Transaction<Database>, member: Member) => Promise<T>,
): Promise<T> {
  return insertMember(db, input, (trx, row) => then(trx, memberToWire(row)));
}

async function insertMember<T>(
  db: Db,
  input: NewMember,
  then: (trx: Transaction<Database>, row: MemberRow) => Promise<T>,
): Promise<T> {
  try {
    return await db.transaction().execute(async (trx) => {
      await lockWorkspace(trx, input.workspaceId);
      const existing = await trx
        .selectFrom("members")
        .select("id")
        .where("workspace_id", "=", input.workspaceId)
        .where("email", "=", input.email)
        .executeTakeFirst();
      if (existing) throw duplicateEmail();
      const row = await trx
        .insertInto("members")
        .values({
          id: newId("mem"),
          workspace_id: input.workspaceId,
          email: input.email,
          role: input.role,
          created_at: input.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return then(trx, row);
    });
  } catch (error) {
    // The lock makes this unlikely; the unique constraint is the last word.
    if (isUniqueViolation(error)) throw duplicateEmail();
    throw error;
  }
}

export async function listMembers(db: Db, workspaceId: string): Promise<Member[]> {
  const rows = await db
    .selectFrom("members")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map(memberToWire);
}

export async function findMember(db: Db, workspaceId: string, memberId: string): Promise<Member | undefined> {
  const row = await db
    .selectFrom("members")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .where("id", "=", memberId)
    .executeTakeFirst();
  return row && memberToWire(row);
}

/** Changes a member's role; refused (409) when it would leave the workspace without an admin. */
export async function changeMemberRole(
  db: Db,
  input: { workspaceId: string; memberId: string; role: MemberRole },
): Promise<Member> {
  return db.transaction().execute(async (trx) => {
    await lockWorkspace(trx, input.workspaceId);
    const row = await trx
      .updateTable("members")
      .set({ role: input.role })
      .where("workspace_id", "=", input.workspaceId)
      .where("id", "=", input.memberId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("Member");
    await assertWorkspaceKeepsAnAdmin(trx, input.workspaceId);
    return memberToWire(row);
  });
}

/** Removes a member and, with them, their API keys; refused (409) for the last admin. */
export async function removeMember(db: Db, input: { workspaceId: string; memberId: string }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockWorkspace(trx, input.workspaceId);
    const removed = await trx
      .deleteFrom("members")
      .where("workspace_id", "=", input.workspaceId)
      .where("id", "=", input.memberId)
      .returning("id")
      .executeTakeFirst();
    if (!removed) throw notFound("Member");
    await assertWorkspaceKeepsAnAdmin(trx, input.workspaceId);
  });
}

/** PostgreSQL unique_violation, as raised by both pg and PGlite. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === "23505";
}
