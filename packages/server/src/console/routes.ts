import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { getCookie } from "hono/cookie";
import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import {
  type ActiveSession,
  csrfRefused,
  csrfTokenFor,
  csrfTokenMatches,
  findSession,
  sessionCookie,
} from "../access/console-sessions.ts";
import type { Config } from "../config/config.ts";
import { AppError, notFound, unauthenticated } from "../errors/app-error.ts";
import type { AppEnv } from "../http/app-env.ts";
import { recordAudit } from "../events/record-event.ts";
import { clientIp } from "../http/client-ip.ts";
import type { Step } from "../http/route-pipeline.ts";
import { defineRoute } from "../http/define-route.ts";
import { RateLimiter } from "../http/rate-limit.ts";
import type { RouteContext } from "../http/route-context.ts";
import { EmailSchema, MemberSchema, WorkspaceSchema } from "../workspaces/wire-schemas.ts";
import { memberToWire, workspaceToWire } from "../workspaces/workspaces.ts";
import {
  decoyHash,
  hashPassword,
  maxPasswordLength,
  minPasswordLength,
  needsRehash,
  verifyPassword,
} from "./passwords.ts";
import { createSession, listSessions, revokeAllSessions, revokeSession } from "./sessions.ts";
import { hashSetupToken } from "./setup-links.ts";
import { requestLog } from "../http/request-context.ts";

const tag = "Console";

const PasswordSchema = z
  .string()
  .min(minPasswordLength, `a password has at least ${minPasswordLength} characters`)
  .max(maxPasswordLength);

const SignInBody = z.strictObject({
  email: EmailSchema,
  password: z.string().min(1).max(maxPasswordLength),
  workspace_id: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe("Which workspace, when the email is a member of several (default: the oldest membership)"),
});
const SetupBody = z.strictObject({ token: z.string().min(20).max(200), password: PasswordSchema });
const SignOutBody = z.strictObject({ everywhere: z.boolean().optional() });

const SessionAnswer = z.object({
  member: MemberSchema,
  workspace: WorkspaceSchema,
  csrf_token: z.string().describe("Send it as X-CSRF-Token on every state-changing request made with the cookie"),
  callback_url: z.string().describe("The redirect URI connectors register at their provider"),
  session: z.object({ id: z.string(), expires_at: z.string() }),
});

const SessionInfoSchema = z.object({
  id: z.string(),
  created_at: z.string(),
  last_seen_at: z.string(),
  expires_at: z.string(),
  user_agent: z.string().nullable(),
  ip: z.string().nullable(),
  current: z.boolean(),
});

export interface ConsoleDeps extends AccessDeps {
  config: Pick<Config, "operatorKey" | "serviceKeyCacheMs" | "publicUrl" | "trustProxyHops" | "rateLimits">;
}

const invalidCredentials = () => unauthenticated("Invalid email or password");
const invalidLink = () =>
  new AppError(
    "INVALID_REQUEST",
    "This setup link is invalid, already used or expired. Ask a workspace admin for a new one.",
    {
      reason: "setup_link_invalid",
    },
  );

/** Sign-in, setup, the session and its CSRF token, sign-out, and the member's own sessions. */
export function registerConsoleRoutes(ctx: RouteContext<ConsoleDeps>): void {
  const { deps } = ctx;
  const cookie = sessionCookie(deps.config.publicUrl);
  const now = () => deps.clock.now();
  const clock = () => now().getTime();
  const perIp = new RateLimiter({
    perMinute: deps.config.rateLimits.signInPerMinute,
    now: clock,
    refusal: "Too many sign-in attempts from this address",
  });
  const perEmail = new RateLimiter({
    perMinute: Math.ceil(deps.config.rateLimits.signInPerMinute / 2),
    now: clock,
    refusal: "Too many sign-in attempts for this email",
  });
  const ipOf = (c: Context<AppEnv>) => clientIp(c, deps.config.trustProxyHops);
  /** Before the body is read: pre-session routes refuse floods and foreign origins first. */
  const guard: Step[] = [
    (c, next) => {
      refuseForeignOrigin(c, deps.config.publicUrl);
      perIp.take(ipOf(c));
      return next();
    },
  ];

  const answer = async (
    token: string,
    session: Pick<ActiveSession, "id" | "memberId" | "workspaceId" | "expiresAt">,
  ) => {
    const member = await deps.db
      .selectFrom("members")
      .selectAll()
      .where("id", "=", session.memberId)
      .executeTakeFirstOrThrow();
    const workspace = await deps.db
      .selectFrom("workspaces")
      .selectAll()
      .where("id", "=", session.workspaceId)
      .executeTakeFirstOrThrow();
    return {
      member: memberToWire(member),
      workspace: workspaceToWire(workspace),
      csrf_token: csrfTokenFor(token),
      callback_url: `${deps.config.publicUrl}/oauth/callback`,
      session: { id: session.id, expires_at: session.expiresAt.toISOString() },
    };
  };

  /** Only a sign-in that succeeded is audited: a refused one changes nothing (the rate limiter and the log count it). */
  const startSession = async (
    c: Context<AppEnv>,
    memberId: string,
    workspaceId: string,
    action: "console.signed_in" | "console.password_set",
  ) => {
    const session = await createSession(deps.db, {
      memberId,
      workspaceId,
      now: now(),
      userAgent: c.req.header("user-agent") ?? null,
      ip: ipOf(c),
    });
    setCookie(c, cookie.name, session.token, {
      httpOnly: true,
      secure: cookie.secure,
      sameSite: "Lax",
      path: "/",
      expires: session.expiresAt,
    });
    c.header("Cache-Control", "no-store");
    const signedIn = await answer(session.token, {
      id: session.id,
      memberId,
      workspaceId,
      expiresAt: session.expiresAt,
    });
    await recordAudit(deps, {
      workspaceId,
      actor: { type: "member", id: memberId, email: signedIn.member.email },
      requestId: c.get("requestId"),
      action,
      target: session.id,
    });
    return c.json(signedIn);
  };

  /** The cookie's live session; with `csrf`, X-CSRF-Token must match it too. */
  const requireSession = async (c: Context<AppEnv>, csrf: boolean) => {
    const token = getCookie(c, cookie.name);
    const session = token ? await findSession(deps.db, token, now()) : null;
    if (!token || !session) throw unauthenticated("Not signed in to the console");
    if (csrf && !csrfTokenMatches(token, c.req.header("x-csrf-token"))) throw csrfRefused();
    return { token, session };
  };

  defineRoute(ctx, {
    method: "post",
    path: "/api/console/sign-in",
    summary: "Sign in to the console with email and password; sets the HttpOnly session cookie",
    tag,
    auth: "none",
    use: guard,
    body: SignInBody,
    responses: { 200: { description: "Signed in", schema: SessionAnswer } },
    errors: ["UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED"],
    handler: async (c, { body }) => {
      perEmail.take(body.email);
      let query = deps.db
        .selectFrom("members as m")
        .innerJoin("member_passwords as p", "p.member_id", "m.id")
        .select(["m.id", "m.workspace_id", "p.password_hash"])
        .where("m.email", "=", body.email)
        .orderBy("m.created_at")
        .limit(20);
      if (body.workspace_id !== undefined) query = query.where("m.workspace_id", "=", body.workspace_id);
      const candidates = await query.execute();
      if (candidates.length === 0) {
        // Same work as a wrong password, so the answer's timing does not tell which emails exist.
        await verifyPassword(body.password, await decoyHash());
        throw invalidCredentials();
      }
      for (const candidate of candidates) {
        if (!(await verifyPassword(body.password, candidate.password_hash))) continue;
        if (needsRehash(candidate.password_hash)) {
          await deps.db
            .updateTable("member_passwords")
            .set({ password_hash: await hashPassword(body.password), updated_at: now() })
            .where("member_id", "=", candidate.id)
            .execute();
        }
        requestLog(c).info({ member_id: candidate.id, workspace_id: candidate.workspace_id }, "console sign-in");
        return startSession(c, candidate.id, candidate.workspace_id, "console.signed_in");
      }
      requestLog(c).info("console sign-in refused: wrong password");
      throw invalidCredentials();
    },
  });

  defineRoute(ctx, {
    method: "post",
    path: "/api/console/setup",
    summary: "Set a password with a one-time setup link's token, and sign in (ends the member's other sessions)",
    tag,
    auth: "none",
    use: guard,
    body: SetupBody,
    responses: { 200: { description: "Password set, signed in", schema: SessionAnswer } },
    errors: ["FORBIDDEN", "RATE_LIMITED"],
    handler: async (c, { body }) => {
      const passwordHash = await hashPassword(body.password);
      const at = now();
      const link = await deps.db.transaction().execute(async (trx) => {
        const used = await trx
          .updateTable("console_setup_links")
          .set({ used_at: at })
          .where("token_hash", "=", hashSetupToken(body.token))
          .where("used_at", "is", null)
          .where("expires_at", ">", at)
          .returning(["member_id", "workspace_id"])
          .executeTakeFirst();
        if (!used) return null;
        await trx
          .insertInto("member_passwords")
          .values({ member_id: used.member_id, password_hash: passwordHash, updated_at: at })
          .onConflict((oc) => oc.column("member_id").doUpdateSet({ password_hash: passwordHash, updated_at: at }))
          .execute();
        await revokeAllSessions(trx, used.member_id, at);
        return used;
      });
      if (!link) throw invalidLink();
      requestLog(c).info({ member_id: link.member_id, workspace_id: link.workspace_id }, "console password set");
      return startSession(c, link.member_id, link.workspace_id, "console.password_set");
    },
  });

  defineRoute(ctx, {
    method: "get",
    path: "/api/console/session",
    summary: "The console session of the cookie: member, workspace and CSRF token",
    tag,
    auth: "none",
    responses: { 200: { description: "OK", schema: SessionAnswer } },
    errors: ["UNAUTHENTICATED"],
    handler: async (c) => {
      const { token, session } = await requireSession(c, false);
      c.header("Cache-Control", "no-store");
      return c.json(await answer(token, session));
    },
  });

  defineRoute(ctx, {
    method: "post",
    path: "/api/console/sign-out",
    summary: "End this session (with everywhere: true, every session of the member) and clear the cookie",
    tag,
    auth: "none",
    body: SignOutBody,
    responses: { 204: { description: "Signed out (also when there was no session)" } },
    errors: ["FORBIDDEN"],
    handler: async (c, { body }) => {
      const token = getCookie(c, cookie.name);
      const session = token ? await findSession(deps.db, token, now()) : null;
      if (token && session) {
        if (!csrfTokenMatches(token, c.req.header("x-csrf-token"))) throw csrfRefused();
        if (body.everywhere) await revokeAllSessions(deps.db, session.memberId, now());
        else await revokeSession(deps.db, session.memberId, session.id, now());
        requestLog(c).info({ member_id: session.memberId, everywhere: body.everywhere === true }, "console sign-out");
      }
      deleteCookie(c, cookie.name, { path: "/", secure: cookie.secure });
      return c.body(null, 204);
    },
  });

  defineRoute(ctx, {
    method: "get",
    path: "/api/console/sessions",
    summary: "The signed-in member's live console sessions",
    tag,
    auth: "none",
    responses: { 200: { description: "OK", schema: z.object({ sessions: z.array(SessionInfoSchema) }) } },
    errors: ["UNAUTHENTICATED"],
    handler: async (c) => {
      const { session } = await requireSession(c, false);
      const rows = await listSessions(deps.db, session.memberId, now());
      return c.json({
        sessions: rows.map((row) => ({
          id: row.id,
          created_at: row.created_at.toISOString(),
          last_seen_at: row.last_seen_at.toISOString(),
          expires_at: row.expires_at.toISOString(),
          user_agent: row.user_agent,
          ip: row.ip,
          current: row.id === session.id,
        })),
      });
    },
  });

  defineRoute(ctx, {
    method: "delete",
    path: "/api/console/sessions/{sessionId}",
    summary: "Revoke one of the signed-in member's sessions",
    tag,
    auth: "none",
    responses: { 204: { description: "Revoked" } },
    errors: ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"],
    handler: async (c) => {
      const { session } = await requireSession(c, true);
      const sessionId = c.req.param("sessionId") ?? "";
      if (!(await revokeSession(deps.db, session.memberId, sessionId, now()))) throw notFound("Session");
      requestLog(c).info({ member_id: session.memberId, session_id: sessionId }, "console session revoked");
      return c.body(null, 204);
    },
  });
}

/**
 * Sign-in and setup come before any session, so there is no CSRF token yet: a request the browser
 * marks as coming from another origin is refused (login CSRF), and the JSON body requirement
 * keeps plain cross-site forms out.
 */
function refuseForeignOrigin(c: Context<AppEnv>, publicUrl: string): void {
  const origin = c.req.header("origin");
  if (origin === undefined) return;
  if (origin === new URL(publicUrl).origin || origin === new URL(c.req.url).origin) return;
  throw new AppError("FORBIDDEN", "Sign in from the console's own page", { reason: "origin" });
}
