import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv, AuthenticatedMember } from "../http/app-env.ts";
import { csrfTokenMatches, findSession, sessionCookieName } from "./sessions.ts";

/** Methods that change nothing; every other one made with the session cookie needs the CSRF token. */
const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

export const csrfRefused = () =>
  new AppError("FORBIDDEN", "Missing or wrong X-CSRF-Token header: reload the console and try again", {
    reason: "csrf",
  });

/**
 * The member of the request's console session cookie, or null when there is no cookie. A cookie
 * that names no live session is a failed authentication (401), and a state-changing request without
 * the session's CSRF token in `X-CSRF-Token` is refused (403) before anything else runs.
 */
export async function consoleSessionMember(
  deps: { db: Db; config: Pick<Config, "publicUrl">; clock: { now(): Date } },
  c: Context<AppEnv>,
): Promise<AuthenticatedMember | null> {
  const token = getCookie(c, sessionCookieName(deps.config.publicUrl.startsWith("https://")));
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
