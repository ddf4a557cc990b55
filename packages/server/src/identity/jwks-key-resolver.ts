import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type RemoteJWKSet,
} from "jose";
import { z } from "zod";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";
import { fetchIdentityJson } from "./fetch-identity-json.ts";
import { identityUrlProblem } from "./identity-url-policy.ts";
import { SigningKeysUnavailable } from "./token-failure.ts";

/** How long a JWKS is used before it is fetched again (jose's cacheMaxAge). */
export const jwksMaxAgeMs = 10 * 60_000;
/**
 * After a successful fetch, a token with an unknown `kid` triggers another fetch only once this
 * has passed (jose's cooldownDuration), so a flood of forged kids costs at most one fetch per window.
 */
export const unknownKidRefetchCooldownMs = 30_000;
/** After a failed fetch, requests within this window do not fetch again (jose retries every call). */
export const failedFetchBackoffMs = 5_000;
export const identityFetchTimeoutMs = 5_000;

export interface JwksKeySource {
  issuer: string;
  /** Absent: taken from the issuer's OpenID discovery document. */
  jwksUrl: string | undefined;
}

export interface JwksKeyResolverDeps {
  fetch: typeof fetch;
  clock: Clock;
  /** Carries the app id; gets one warning per failure episode. */
  logger: Logger;
  production: boolean;
}

const DiscoveryDocument = z.object({ issuer: z.string(), jwks_uri: z.string() });

/**
 * Resolves the key that signed a token from an app's remote JWKS, for jose's jwtVerify. Caching,
 * the unknown-`kid` refetch and its cooldown are jose's createRemoteJWKSet; this adds discovery,
 * the URL policy, a size-capped fetch through deps.fetch, a backoff after failures, and keeps
 * using the last keys it had while the JWKS cannot be refreshed.
 */
export class JwksKeyResolver {
  #remote: { url: string; keys: RemoteJWKSet } | undefined;
  #discoveredJwksUrl: Promise<string> | undefined;
  #unavailableUntilMs = 0;
  #lastFailure: SigningKeysUnavailable | undefined;

  constructor(
    readonly source: JwksKeySource,
    readonly deps: JwksKeyResolverDeps,
  ) {}

  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const now = this.deps.clock.now().getTime();
    if (now < this.#unavailableUntilMs && this.#lastFailure)
      return this.#lastKnownKey(header, token, this.#lastFailure);
    try {
      const keys = await this.#remoteKeys();
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof SigningKeysUnavailable)) throw error;
      this.#recordFailure(error, now);
      return this.#lastKnownKey(header, token, error);
    }
  };

  #recordFailure(error: SigningKeysUnavailable, now: number): void {
    if (now >= this.#unavailableUntilMs) {
      this.deps.logger.warn({ reason: error.reason }, "could not fetch the app's signing keys (JWKS)");
    }
    this.#unavailableUntilMs = now + failedFetchBackoffMs;
    this.#lastFailure = error;
  }

  /** While the JWKS cannot be fetched, keys fetched earlier still verify the tokens they signed. */
  #lastKnownKey(
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
    failure: SigningKeysUnavailable,
  ): Promise<CryptoKey> {
    const lastKeys: JSONWebKeySet | undefined = this.#remote?.keys.jwks();
    if (!lastKeys) return Promise.reject(failure);
    return createLocalJWKSet(lastKeys)(header, token);
  }

  async #remoteKeys(): Promise<RemoteJWKSet> {
    const url = await this.#jwksUrl();
    if (this.#remote?.url !== url) {
      this.#remote = {
        url,
        keys: createRemoteJWKSet(new URL(url), {
          [customFetch]: this.#fetchJwks,
          timeoutDuration: identityFetchTimeoutMs,
          cooldownDuration: unknownKidRefetchCooldownMs,
          cacheMaxAge: jwksMaxAgeMs,
        }),
      };
    }
    return this.#remote.keys;
  }

  #jwksUrl(): Promise<string> {
    const configured = this.source.jwksUrl;
    if (configured !== undefined) return Promise.resolve(this.#checkedUrl("jwks_url", configured));
    // Discovered once per resolver; a changed identity config builds a new resolver.
    this.#discoveredJwksUrl ??= this.#discover().catch((error: unknown) => {
      this.#discoveredJwksUrl = undefined;
      throw error;
    });
    return this.#discoveredJwksUrl;
  }

  async #discover(): Promise<string> {
    const issuer = this.source.issuer;
    const url = this.#checkedUrl("issuer", `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`);
    const body = await fetchIdentityJson(this.deps.fetch, url, AbortSignal.timeout(identityFetchTimeoutMs));
    const parsed = DiscoveryDocument.safeParse(body);
    if (!parsed.success) throw new SigningKeysUnavailable(`${url} is not an OpenID discovery document with a jwks_uri`);
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer it was fetched for.
    if (parsed.data.issuer !== issuer) {
      throw new SigningKeysUnavailable(
        `${url} names issuer ${JSON.stringify(parsed.data.issuer)}, not the app's issuer`,
      );
    }
    return this.#checkedUrl("jwks_uri", parsed.data.jwks_uri);
  }

  #checkedUrl(what: string, url: string): string {
    const problem = identityUrlProblem(url, { production: this.deps.production });
    if (problem) throw new SigningKeysUnavailable(`${what} ${JSON.stringify(url)} ${problem}`);
    return url;
  }

  readonly #fetchJwks: FetchImplementation = async (url, options) => {
    const body = await fetchIdentityJson(this.deps.fetch, url, options.signal);
    if (!isJsonWebKeySet(body)) throw new SigningKeysUnavailable(`${url} did not return a JSON Web Key Set`);
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  };
}

function isJsonWebKeySet(value: unknown): value is JSONWebKeySet {
  if (typeof value !== "object" || value === null || !("keys" in value)) return false;
  const keys: unknown = value.keys;
  return Array.isArray(keys) && keys.every((key) => typeof key === "object" && key !== null && !Array.isArray(key));
}
