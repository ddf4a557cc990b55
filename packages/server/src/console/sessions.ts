import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { MemberRole } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import { newId } from "../http/ids.ts";

/**
 * Console sessions. The cookie holds a 256-bit random token; the database keeps only its SHA-256,
 * so a database dump cannot be replayed as a cookie. A session ends at the first of: sign-out,
 * revocation (by its member, a password change, the member's removal), 12 h after sign-in, or
 * 2 h without a request.
 */
export const sessionLifetimeMs = 12 * 60 * 60 * 1000;
export const sessionIdleMs = 2 * 60 * 60 * 1000;
/** last_seen_at is written at most this often per session, so reads stay read-only. */
const touchIntervalMs = 60_000;

/** `__Host-` needs Secure: over https the cookie cannot be set by a subdomain or for another path. */
export function sessionCookieName(secure: boolean): string {
  return secure ? "__Host-latchkey_session" : "latchkey_session";
}

export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

/**
 * The CSRF token of a session: derived from its secret token, so it needs no storage, changes with
 * every session, and cannot be computed by a page that cannot read the cookie (HttpOnly).
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash("sha256").update(`latchkey-console-csrf\0${sessionToken}`).digest("base64url");
}

export function csrfTokenMatches(sessionToken: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

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

export interface ActiveSession {
  id: string;
  memberId: string;
  workspaceId: string;
  role: MemberRole;
  email: string;
  expiresAt: Date;
}

/** The live session of a cookie token, or null (unknown, revoked, expired or idle too long). */
export async function findSession(db: Db, token: string, now: Date): Promise<ActiveSession | null> {
  const row = await db
    .selectFrom("console_sessions as s")
    .innerJoin("members as m", "m.id", "s.member_id")
    .select(["s.id", "s.member_id", "s.workspace_id", "s.expires_at", "s.last_seen_at", "m.role", "m.email"])
    .where("s.token_hash", "=", hashSessionToken(token))
    .where("s.revoked_at", "is", null)
    .executeTakeFirst();
  if (!row) return null;
  if (row.expires_at.getTime() <= now.getTime()) return null;
  if (now.getTime() - row.last_seen_at.getTime() >= sessionIdleMs) return null;
  if (now.getTime() - row.last_seen_at.getTime() >= touchIntervalMs) {
    await db.updateTable("console_sessions").set({ last_seen_at: now }).where("id", "=", row.id).execute();
  }
  return {
    id: row.id,
    memberId: row.member_id,
    workspaceId: row.workspace_id,
    role: row.role,
    email: row.email,
    expiresAt: row.expires_at,
  };
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
