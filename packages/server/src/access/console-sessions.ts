import { createHash, timingSafeEqual } from "node:crypto";
import type { MemberRole } from "@latchkey/contracts";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv, AuthenticatedMember } from "../http/app-env.ts";
import type { Clock } from "../kernel/clock.ts";

/**
 * Console sessions as the auth middleware sees them. The cookie holds a 256-bit random token; the
 * database keeps only its SHA-256, so a database dump cannot be replayed as a cookie. A session
 * ends at the first of: sign-out, revocation (by its member, a password change, the member's
 * removal), 12 h after sign-in, or 2 h without a request. console/ creates and revokes them.
 */
export const sessionLifetimeMs = 12 * 60 * 60 * 1000;
export const sessionIdleMs = 2 * 60 * 60 * 1000;
/** last_seen_at is written at most this often per session, so authentication stays read-mostly. */
const touchIntervalMs = 60_000;

/** Methods that change nothing; every other one made with the session cookie needs the CSRF token. */
const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/** Secure behind https; `__Host-` then pins the cookie to this host and path `/`. */
export function sessionCookie(publicUrl: string): { name: string; secure: boolean } {
  const secure = publicUrl.startsWith("https://");
  return { name: secure ? "__Host-latchkey_session" : "latchkey_session", secure };
}

export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

/**
 * The CSRF token of a session (synchronizer token, derived): a hash of the session's secret, so it
 * needs no storage, changes with every session, and cannot be computed by a page that cannot read
 * the HttpOnly cookie. The console reads it from GET /api/console/session and sends it as
 * X-CSRF-Token, a header no cross-site form can set.
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

export const csrfRefused = () =>
  new AppError("FORBIDDEN", "Missing or wrong X-CSRF-Token header: reload the console and try again", {
    reason: "csrf",
  });

export interface ActiveSession {
  id: string;
  memberId: string;
  workspaceId: string;
  role: MemberRole;
  email: string;
  expiresAt: Date;
}

export interface SessionDeps {
  db: Db;
  clock: Clock;
  config: Pick<Config, "publicUrl">;
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
  const idleMs = now.getTime() - row.last_seen_at.getTime();
  if (row.expires_at.getTime() <= now.getTime() || idleMs >= sessionIdleMs) return null;
  if (idleMs >= touchIntervalMs) {
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

/**
 * The member of the request's console session cookie, or null when there is no cookie. A cookie
 * naming no live session is a failed authentication (401); a state-changing request without the
 * session's CSRF token is refused (403) before anything else runs.
 */
export async function consoleSessionMember(deps: SessionDeps, c: Context<AppEnv>): Promise<AuthenticatedMember | null> {
  const token = getCookie(c, sessionCookie(deps.config.publicUrl).name);
  if (token === undefined) return null;
  const session = await findSession(deps.db, token, deps.clock.now());
  if (!session) throw new AppError("UNAUTHENTICATED", "The console session has ended; sign in again");
  if (!safeMethods.has(c.req.method) && !csrfTokenMatches(token, c.req.header("x-csrf-token"))) throw csrfRefused();
  return {
    memberId: session.memberId,
    workspaceId: session.workspaceId,
    role: session.role,
    email: session.email,
    apiKeyId: null,
    sessionId: session.id,
  };
}
