import { randomBytes } from "node:crypto";
import { hashSessionToken, sessionIdleMs, sessionLifetimeMs } from "../access/console-sessions.ts";
import type { Db } from "../db/open-database.ts";
import { newId } from "../kernel/ids.ts";

/** Console sessions are started, listed and ended here; access/console-sessions.ts checks them. */

export interface NewSession {
  token: string;
  id: string;
  expiresAt: Date;
}

export async function createSession(
  db: Db,
  input: { memberId: string; workspaceId: string; now: Date; userAgent: string | null; ip: string | null },
): Promise<NewSession> {
  const token = randomBytes(32).toString("base64url");
  const id = newId("ses");
  const expiresAt = new Date(input.now.getTime() + sessionLifetimeMs);
  await db
    .insertInto("console_sessions")
    .values({
      id,
      token_hash: hashSessionToken(token),
      member_id: input.memberId,
      workspace_id: input.workspaceId,
      created_at: input.now,
      last_seen_at: input.now,
      expires_at: expiresAt,
      user_agent: input.userAgent?.slice(0, 300) ?? null,
      ip: input.ip,
    })
    .execute();
  return { token, id, expiresAt };
}

/** Ends one session of a member; false when it is not theirs or already ended. */
export async function revokeSession(db: Db, memberId: string, sessionId: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable("console_sessions")
    .set({ revoked_at: now })
    .where("id", "=", sessionId)
    .where("member_id", "=", memberId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Ends every session of a member (sign out everywhere, password change). */
export async function revokeAllSessions(db: Db, memberId: string, now: Date): Promise<void> {
  await db
    .updateTable("console_sessions")
    .set({ revoked_at: now })
    .where("member_id", "=", memberId)
    .where("revoked_at", "is", null)
    .execute();
}

export async function listSessions(db: Db, memberId: string, now: Date) {
  return db
    .selectFrom("console_sessions")
    .select(["id", "created_at", "last_seen_at", "expires_at", "user_agent", "ip"])
    .where("member_id", "=", memberId)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", now)
    .where("last_seen_at", ">", new Date(now.getTime() - sessionIdleMs))
    .orderBy("created_at", "desc")
    .execute();
}
