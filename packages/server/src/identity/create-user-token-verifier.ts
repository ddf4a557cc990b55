import { hash } from "node:crypto";
import { errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from "jose";
import { LRUCache } from "lru-cache";
import { AppError } from "../errors/app-error.ts";
import type { AppRow } from "../db/schema.ts";
import type { Config } from "../config/config.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";
import { type Vault, VaultError } from "../vault/vault.ts";
import { AppVersionCache } from "./app-version-cache.ts";
import { IdentityConfigProblem, identityConfigOf, identitySecretOf } from "./identity-settings.ts";
import { JwksKeyResolver } from "./jwks-key-resolver.ts";
import { latchkeyIssuer, latchkeyTokenAlgorithm, maxUserTokenLifetimeSeconds } from "./latchkey-user-tokens.ts";
import { describeTokenFailure, invalidUserToken, SigningKeysUnavailable } from "./token-failure.ts";
import { isValidUserId } from "./user-id.ts";
import type { UserTokenVerifier } from "../access/user-token-verifier.ts";
import { asymmetricJwsAlgorithms } from "../kernel/jws-algorithms.ts";

/** What verifying user tokens needs (JWKS fetches go through `fetch`). */
export interface UserTokenVerifierDeps {
  config: Config;
  clock: Clock;
  logger: Logger;
  fetch: typeof fetch;
  vault: Vault;
}

export const clockToleranceSeconds = 30;
/** Real user tokens are a few KiB; a longer bearer is refused before any parsing. */
export const maxUserTokenLength = 16 * 1024;
export const defaultMaxCachedApps = 1000;
/** How long a verified token is remembered (never past its own expiry). */
export const verifiedTokenTtlMs = 60_000;
const maxVerifiedTokens = 10_000;

export interface UserTokenVerifierOptions {
  /** Apps whose JWKS resolver / decrypted secret are kept in memory at once. */
  maxCachedApps?: number;
}

/**
 * Verifies app users' bearer tokens per the app's identity type (jwks / hs256 / latchkey). Every
 * reason a token is not accepted becomes 401 INVALID_USER_TOKEN; a broken vault stays a 500.
 */
export function createUserTokenVerifier(
  deps: UserTokenVerifierDeps,
  options: UserTokenVerifierOptions = {},
): UserTokenVerifier {
  const capacity = options.maxCachedApps ?? defaultMaxCachedApps;
  const jwksResolvers = new AppVersionCache<JwksKeyResolver>(capacity);
  const secrets = new AppVersionCache<Uint8Array>(capacity);

  const commonChecks = (): JWTVerifyOptions => ({
    clockTolerance: clockToleranceSeconds,
    currentDate: deps.clock.now(),
    requiredClaims: ["exp", "sub"],
  });

  function verifyJwks(app: AppRow, token: string) {
    const config = identityConfigOf(app);
    const issuer = config.issuer;
    if (issuer === undefined) throw new IdentityConfigProblem(`jwks app ${app.id} has no issuer`);
    const resolver = jwksResolvers.getOrCreate(
      app,
      () =>
        new JwksKeyResolver(
          { issuer, jwksUrl: config.jwks_url },
          {
            fetch: deps.fetch,
            clock: deps.clock,
            logger: deps.logger.child({ app_id: app.id }),
            production: deps.config.production,
          },
        ),
    );
    return jwtVerify(token, resolver.getKey, {
      ...commonChecks(),
      algorithms: asymmetricJwsAlgorithms,
      issuer,
      ...(config.audience !== undefined && { audience: config.audience }),
    });
  }

  function verifyHs256(app: AppRow, token: string) {
    const config = identityConfigOf(app);
    return jwtVerify(token, secretOf(app), {
      ...commonChecks(),
      algorithms: ["HS256"],
      ...(config.issuer !== undefined && { issuer: config.issuer }),
      ...(config.audience !== undefined && { audience: config.audience }),
    });
  }

  function verifyLatchkey(app: AppRow, token: string) {
    return jwtVerify(token, secretOf(app), {
      ...commonChecks(),
      algorithms: [latchkeyTokenAlgorithm],
      issuer: latchkeyIssuer(deps),
      audience: app.id,
      // Minting caps the lifetime; this also bounds a token whose exp was set further out.
      maxTokenAge: maxUserTokenLifetimeSeconds,
    });
  }

  function secretOf(app: AppRow): Uint8Array {
    return secrets.getOrCreate(app, () => identitySecretOf(deps, app));
  }

  /**
   * An app's own tokens: no `iat` beyond the clock tolerance in the future, and no lifetime (from
   * now, and from `iat`) over the server's maximum. An `exp` of 1e400 parses as Infinity: refused.
   */
  function checkLifetime(payload: JWTPayload): JWTPayload {
    const nowSeconds = deps.clock.now().getTime() / 1000;
    const maxLifetime = deps.config.userTokenMaxLifetimeSeconds + clockToleranceSeconds;
    if (payload.iat !== undefined && payload.iat > nowSeconds + clockToleranceSeconds) {
      throw invalidUserToken("The user token's issued-at time (iat) is in the future");
    }
    const exp = payload.exp ?? Number.POSITIVE_INFINITY;
    const tooLong = exp - nowSeconds > maxLifetime || (payload.iat !== undefined && exp - payload.iat > maxLifetime);
    if (!(Number.isFinite(exp) && !tooLong)) {
      throw invalidUserToken(
        `The user token lives longer than this server accepts (${deps.config.userTokenMaxLifetimeSeconds} seconds)`,
      );
    }
    return payload;
  }

  async function verifiedPayload(app: AppRow, token: string): Promise<JWTPayload> {
    switch (app.identity_type) {
      case "jwks":
        return checkLifetime((await verifyJwks(app, token)).payload);
      case "hs256":
        return checkLifetime((await verifyHs256(app, token)).payload);
      case "latchkey":
        return (await verifyLatchkey(app, token)).payload;
      default:
        throw new IdentityConfigProblem(`app ${app.id} has an unknown identity type`);
    }
  }

  function toRejection(app: AppRow, error: unknown): Error {
    if (error instanceof AppError || error instanceof VaultError) return error;
    if (error instanceof IdentityConfigProblem) {
      deps.logger.error({ app_id: app.id, reason: error.message }, "app identity settings cannot verify user tokens");
      return invalidUserToken("This app's identity settings cannot verify user tokens");
    }
    if (!(error instanceof errors.JOSEError) && !(error instanceof SigningKeysUnavailable)) {
      // jose throws TypeError for some unusable inputs (e.g. a JWK of the wrong shape).
      deps.logger.warn(
        { app_id: app.id, err_name: error instanceof Error ? error.name : typeof error },
        "user token check failed",
      );
    }
    return invalidUserToken(describeTokenFailure(error));
  }

  // A backend presents the same user token for every call of a request or session; verifying its
  // signature again each time (an async WebCrypto call) dominated the current-user token route.
  // lru-cache: O(1) eviction under a stream of new tokens (a Map's first-key eviction is not, see TtlCache).
  const verifiedTokens = new LRUCache<string, { userId: string; notAfterMs: number }>({ max: maxVerifiedTokens });

  function rememberVerified(key: string, userId: string, payload: JWTPayload, app: AppRow): void {
    const nowMs = deps.clock.now().getTime();
    let notAfterMs = Math.min(nowMs + verifiedTokenTtlMs, (payload.exp ?? 0) * 1000);
    if (app.identity_type === "latchkey" && payload.iat !== undefined) {
      notAfterMs = Math.min(notAfterMs, (payload.iat + maxUserTokenLifetimeSeconds) * 1000);
    }
    if (notAfterMs <= nowMs) return;
    verifiedTokens.set(key, { userId, notAfterMs });
  }

  async function verifyAndRemember(app: AppRow, token: string, key: string): Promise<{ userId: string }> {
    let payload: JWTPayload;
    try {
      payload = await verifiedPayload(app, token);
    } catch (error) {
      throw toRejection(app, error);
    }
    if (!isValidUserId(payload.sub)) {
      throw invalidUserToken("The user token's subject (sub) is not a valid user id");
    }
    rememberVerified(key, payload.sub, payload, app);
    return { userId: payload.sub };
  }

  return {
    verify(app, token) {
      if (token.length > maxUserTokenLength) return Promise.reject(invalidUserToken("The user token is too long"));
      // Bound to the app's identity settings version: changing them forgets earlier verifications.
      // Keyed by the token's digest, not the token: the memo holds no usable bearer credential.
      const key = `${app.id}:${app.updated_at.getTime()}:${hash("sha256", token, "base64url")}`;
      const remembered = verifiedTokens.get(key);
      if (remembered && remembered.notAfterMs > deps.clock.now().getTime()) return { userId: remembered.userId };
      return verifyAndRemember(app, token, key);
    },
  };
}
