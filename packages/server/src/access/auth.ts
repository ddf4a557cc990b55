import type { Context } from "hono";
import type { MemberRole } from "@latchkey/contracts";
import { AppError, forbidden, notFound, unauthenticated } from "../errors/app-error.ts";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import type { Clock } from "../kernel/clock.ts";
import type { ChangeFeed } from "../kernel/changes.ts";
import type { Logger } from "../log/logger.ts";
import type { AppEnv, AuthenticatedApp } from "../http/app-env.ts";
import type { UserTokenVerifier } from "./user-token-verifier.ts";
import { bearerToken, hashSecretKey, secretKeyKind, secretsEqual } from "./secret-keys.ts";
import { TtlCache } from "../kernel/ttl-cache.ts";
import { consoleSessionMember } from "./console-sessions.ts";
import type { Step } from "../http/route-pipeline.ts";

/** What the auth middlewares need. */
export interface AccessDeps {
  config: Pick<Config, "operatorKey" | "serviceKeyCacheMs" | "publicUrl">;
  db: Db;
  clock: Clock;
  logger: Logger;
  changes: ChangeFeed;
}

/** Routes called with an app user's token also need the verifier. */
export interface UserAccessDeps extends AccessDeps {
  userTokens: UserTokenVerifier;
}

/** last_used_at is written at most this often per key, so authentication stays read-mostly. */
const lastUsedWriteIntervalMs = 60_000;

function requireBearer(c: Context<AppEnv>): string {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) throw unauthenticated("Send credentials as `Authorization: Bearer <key>`");
  return token;
}

/**
 * An auth middleware from its verification step. An address with too many recent failed
 * authentications is refused (429) before anything is verified; a 401 from `verify` counts as one
 * more failure. Errors thrown after verification (by the route) are not the middleware's to count.
 */
function authMiddleware(verify: (c: Context<AppEnv>) => Promise<void> | void): Step {
  return (c, next) => {
    const failures = c.get("authFailures");
    failures.refuseIfLockedOut(c);
    let pending: Promise<void> | void;
    try {
      pending = verify(c);
    } catch (error) {
      failures.recordFailure(c, error);
      throw error;
    }
    // Verification may finish synchronously (a cached service key): then so does this step.
    if (pending === undefined) return next();
    return pending.then(next, (error: unknown) => {
      failures.recordFailure(c, error);
      throw error;
    });
  };
}

/** Every request may carry `X-App-Id`; when present it must name the app in the path. */
export function assertAppIdHeader(c: Context<AppEnv>, appId: string): void {
  const header = c.req.header("x-app-id");
  if (header !== undefined && header !== appId) {
    throw new AppError("INVALID_REQUEST", "The X-App-Id header does not match the app in the path");
  }
}

/** Bearer LATCHKEY_OPERATOR_KEY. With no operator key configured the operator API is closed. */
export function operatorAuth(deps: AccessDeps): Step {
  return authMiddleware(async (c) => {
    const token = requireBearer(c);
    const expected = deps.config.operatorKey;
    if (!expected || !secretsEqual(token, expected)) throw unauthenticated("Invalid operator key");
  });
}

/**
 * Bearer admin API key of a member of the path's workspace or, without an Authorization header,
 * the console's session cookie (whose state-changing requests need the session's CSRF token). A
 * key or session of another workspace gets 404 (the workspace id must not be confirmed to
 * outsiders); a member without the role gets 403.
 */
export function workspaceAuth(deps: AccessDeps, minimumRole: MemberRole): Step {
  return authMiddleware(async (c) => {
    if (c.req.header("authorization") === undefined) {
      const member = await consoleSessionMember(deps, c);
      if (member) {
        if (member.workspaceId !== c.req.param("workspaceId")) throw notFound("Workspace");
        if (minimumRole === "admin" && member.role !== "admin") throw forbidden("Only workspace admins can do this");
        c.set("member", member);
        return;
      }
    }
    const token = requireBearer(c);
    if (secretKeyKind(token) !== "admin") throw unauthenticated("Invalid admin API key");
    const row = await deps.db
      .selectFrom("admin_api_keys as k")
      .innerJoin("members as m", "m.id", "k.member_id")
      .select(["k.id as key_id", "k.workspace_id", "k.last_used_at", "m.id as member_id", "m.role", "m.email"])
      .where("k.key_hash", "=", hashSecretKey(token))
      .where("k.revoked_at", "is", null)
      .executeTakeFirst();
    if (!row) throw unauthenticated("Invalid or revoked admin API key");
    if (row.workspace_id !== c.req.param("workspaceId")) throw notFound("Workspace");
    if (minimumRole === "admin" && row.role !== "admin") throw forbidden("Only workspace admins can do this");
    c.set("member", {
      memberId: row.member_id,
      workspaceId: row.workspace_id,
      role: row.role,
      email: row.email,
      apiKeyId: row.key_id,
    });
    if (isLastUseDue(deps, row.last_used_at)) await touchLastUsed(deps, "admin_api_keys", row.key_id);
  });
}

const serviceKeyCacheMaxEntries = 10_000;

interface CachedServiceKey {
  app: AuthenticatedApp["app"];
  keyId: string;
  lastUsedAt: Date | null;
}

/**
 * Bearer service key of the path's app. A key of another app gets 404. Verified keys are cached
 * per middleware for LATCHKEY_SERVICE_KEY_CACHE_SECONDS so the token hot path needs no database
 * read for them. Any change to a service key or an app (a revocation, new identity settings or
 * origins) empties the cache on every instance as it commits (the change feed); the TTL bounds
 * what a lost change feed could leave, and while it is lost nothing is cached.
 */
export function serviceKeyAuth(deps: AccessDeps): Step {
  const cache = new TtlCache<CachedServiceKey>(serviceKeyCacheMaxEntries, {
    feed: deps.changes,
    tables: ["service_keys", "apps"],
  });
  const accept = (c: Context<AppEnv>, appId: string, verified: CachedServiceKey): Promise<void> | void => {
    if (verified.app.id !== appId) throw notFound("App");
    c.set("serviceApp", { app: verified.app, serviceKeyId: verified.keyId });
    if (!isLastUseDue(deps, verified.lastUsedAt)) return;
    return touchLastUsed(deps, "service_keys", verified.keyId).then((written) => {
      if (written) verified.lastUsedAt = deps.clock.now();
    });
  };
  return authMiddleware((c) => {
    const appId = c.req.param("appId") ?? "";
    assertAppIdHeader(c, appId);
    const token = requireBearer(c);
    if (secretKeyKind(token) !== "service") throw unauthenticated("Invalid service key");
    const hash = hashSecretKey(token);
    const cached = cache.get(hash);
    if (cached) return accept(c, appId, cached);
    return lookUpServiceKey(deps, hash, cache, deps.config.serviceKeyCacheMs).then((verified) =>
      accept(c, appId, verified),
    );
  });
}

async function lookUpServiceKey(
  deps: AccessDeps,
  hash: string,
  cache: TtlCache<CachedServiceKey>,
  ttlMs: number,
): Promise<CachedServiceKey> {
  const generation = cache.generation;
  const row = await deps.db
    .selectFrom("service_keys as k")
    .innerJoin("apps as a", "a.id", "k.app_id")
    .selectAll("a")
    .select(["k.id as key_id", "k.last_used_at as key_last_used_at"])
    .where("k.key_hash", "=", hash)
    .where("k.revoked_at", "is", null)
    .executeTakeFirst();
  if (!row) throw unauthenticated("Invalid or revoked service key");
  const { key_id, key_last_used_at, ...app } = row;
  const entry = { app, keyId: key_id, lastUsedAt: key_last_used_at };
  cache.set(hash, entry, ttlMs, generation);
  return entry;
}

/** Bearer app-user token, verified per the path app's identity config. */
export function appUserAuth(deps: UserAccessDeps): Step {
  return authMiddleware(async (c) => {
    const appId = c.req.param("appId") ?? "";
    assertAppIdHeader(c, appId);
    const token = requireBearer(c);
    const app = await deps.db.selectFrom("apps").selectAll().where("id", "=", appId).executeTakeFirst();
    if (!app) throw notFound("App");
    const user = await deps.userTokens.verify(app, token);
    c.set("serviceApp", { app, serviceKeyId: null });
    c.set("appUser", user);
  });
}

/**
 * After serviceKeyAuth: the user named by `on-behalf-of: Bearer <user token>`, verified like any user
 * token. Its 401s are not failed authentications of the caller, who has just proven a service key:
 * a backend passing an expired user token must not lock its own address out.
 */
export function onBehalfOfAuth(deps: Pick<UserAccessDeps, "userTokens">): Step {
  return (c, next) => {
    const token = bearerToken(c.req.header("on-behalf-of"));
    if (!token) {
      throw new AppError("INVALID_USER_TOKEN", "Send the app user's token as `on-behalf-of: Bearer <user token>`");
    }
    const user = deps.userTokens.verify(c.get("serviceApp").app, token);
    if (user instanceof Promise) {
      return user.then((verified) => {
        c.set("appUser", verified);
        return next();
      });
    }
    c.set("appUser", user);
    return next();
  };
}

/** Key use is recorded at most once a minute. */
function isLastUseDue(deps: AccessDeps, lastUsedAt: Date | null): boolean {
  return !lastUsedAt || deps.clock.now().getTime() - lastUsedAt.getTime() >= lastUsedWriteIntervalMs;
}

/** Records key use; returns whether it wrote. */
async function touchLastUsed(deps: AccessDeps, table: "admin_api_keys" | "service_keys", id: string): Promise<boolean> {
  const now = deps.clock.now();
  try {
    await deps.db.updateTable(table).set({ last_used_at: now }).where("id", "=", id).execute();
    return true;
  } catch (error) {
    deps.logger.warn({ err: error, table }, "could not record key use");
    return false;
  }
}
