import { LRUCache } from "lru-cache";
import * as oauth from "oauth4webapi";
import { AppError } from "../errors/app-error.ts";
import type { Clock } from "../kernel/clock.ts";
import { OutboundError, providerErrorFromOutbound } from "../http/outbound-fetch.ts";
import type { Logger } from "../log/logger.ts";
import { isLoopbackHost } from "./provider-urls.ts";

/** What a connector needs from an OpenID provider's discovery document, checked. */
export interface DiscoveredProvider {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string | null;
  userinfoEndpoint: string | null;
  /** RFC 9207 `authorization_response_iss_parameter_supported`. */
  issParameterSupported: boolean;
  /** `code_challenge_methods_supported`, or null when the document does not say. */
  codeChallengeMethods: string[] | null;
}

export interface OidcDiscovery {
  /** Throws AppError PROVIDER_UNAVAILABLE (unreachable) or PROVIDER_ERROR (invalid document) when nothing is cached. */
  discover(issuer: string): Promise<DiscoveredProvider>;
}

export interface OidcDiscoveryOptions {
  fetch: typeof fetch;
  clock: Clock;
  logger: Logger;
  /** How long a document is used before it is fetched again. */
  ttlMs?: number;
  /** After a failed refresh the stale document is served, and the next try waits this long. */
  retryAfterFailureMs?: number;
  /** Issuers remembered at most (the least recently fetched is forgotten first). */
  maxEntries?: number;
}

interface CacheEntry {
  provider: DiscoveredProvider;
  refreshAt: number;
}

const retryAfterSeconds = "30";

/**
 * OpenID Connect discovery, cached per issuer in this instance's memory. One fetch per issuer
 * is in flight at a time; when a refresh fails the last good document keeps being served, so a
 * provider's discovery outage does not stop connect flows that were working.
 */
export function createOidcDiscovery(options: OidcDiscoveryOptions): OidcDiscovery {
  const ttlMs = options.ttlMs ?? 60 * 60 * 1000;
  const retryAfterFailureMs = options.retryAfterFailureMs ?? 60 * 1000;
  const maxEntries = options.maxEntries ?? 1000;
  const entries = new LRUCache<string, CacheEntry>({ max: Math.max(1, maxEntries) });
  const inFlight = new Map<string, Promise<DiscoveredProvider>>();
  const now = () => options.clock.now().getTime();

  function remember(issuer: string, provider: DiscoveredProvider): void {
    entries.set(issuer, { provider, refreshAt: now() + ttlMs });
  }

  async function refresh(issuer: string): Promise<DiscoveredProvider> {
    try {
      const provider = await fetchDiscovery(options.fetch, issuer);
      remember(issuer, provider);
      return provider;
    } catch (error) {
      const stale = entries.get(issuer);
      if (!stale) throw error;
      stale.refreshAt = now() + retryAfterFailureMs;
      options.logger.warn(
        { issuer, err: error instanceof Error ? error.message : String(error) },
        "OpenID discovery failed; serving the last good document",
      );
      return stale.provider;
    }
  }

  return {
    discover(issuer) {
      const entry = entries.get(issuer);
      if (entry && now() < entry.refreshAt) return Promise.resolve(entry.provider);
      let pending = inFlight.get(issuer);
      if (!pending) {
        pending = refresh(issuer).finally(() => inFlight.delete(issuer));
        inFlight.set(issuer, pending);
      }
      return pending;
    },
  };
}

async function fetchDiscovery(fetchImpl: typeof fetch, issuer: string): Promise<DiscoveredProvider> {
  const issuerUrl = parseUrl(issuer);
  if (!issuerUrl) throw misconfigured(issuer, "it is not a URL");
  // Plain http only to this machine, as connectors are validated: development and self-hosting.
  const insecure = issuerUrl.protocol === "http:";
  if (insecure && !isLoopbackHost(issuerUrl.hostname)) throw misconfigured(issuer, "it must use https");
  const http: oauth.DiscoveryRequestOptions = {
    [oauth.customFetch]: (url, init) =>
      fetchImpl(url, {
        method: init.method,
        headers: init.headers,
        redirect: init.redirect,
        ...(init.signal !== undefined && { signal: init.signal }),
      }),
    [oauth.allowInsecureRequests]: insecure,
  };
  let response: Response;
  try {
    response = await oauth.discoveryRequest(issuerUrl, http);
  } catch (error) {
    throw requestFailure(issuer, error);
  }
  if (response.status >= 500 || response.status === 429) {
    await response.body?.cancel().catch(() => {});
    throw unavailable(issuer, `the discovery endpoint answered HTTP ${response.status}`);
  }
  let metadata: oauth.AuthorizationServer;
  try {
    metadata = await oauth.processDiscoveryResponse(issuerUrl, response);
  } catch (error) {
    if (error instanceof OutboundError) throw providerErrorFromOutbound(error, discoveryOf(issuer));
    throw invalid(issuer, error instanceof Error ? error.message : String(error));
  }
  return checkedProvider(issuer, metadata, insecure);
}

function checkedProvider(issuer: string, metadata: oauth.AuthorizationServer, insecure: boolean): DiscoveredProvider {
  const endpoint = (name: keyof oauth.AuthorizationServer) => checkedEndpoint(issuer, metadata, name, insecure);
  const authorizationEndpoint = endpoint("authorization_endpoint");
  const tokenEndpoint = endpoint("token_endpoint");
  if (authorizationEndpoint === null || tokenEndpoint === null) {
    throw invalid(issuer, "it names no authorization_endpoint or no token_endpoint");
  }
  const methods: unknown = metadata.code_challenge_methods_supported;
  return {
    issuer: metadata.issuer,
    authorizationEndpoint,
    tokenEndpoint,
    revocationEndpoint: endpoint("revocation_endpoint"),
    userinfoEndpoint: endpoint("userinfo_endpoint"),
    issParameterSupported: metadata.authorization_response_iss_parameter_supported === true,
    codeChallengeMethods:
      Array.isArray(methods) && methods.every((method) => typeof method === "string") ? (methods as string[]) : null,
  };
}

/** An endpoint the document names: https, or http to loopback when the issuer itself is. */
function checkedEndpoint(
  issuer: string,
  metadata: oauth.AuthorizationServer,
  name: keyof oauth.AuthorizationServer,
  insecure: boolean,
): string | null {
  const value: unknown = metadata[name];
  if (value === undefined) return null;
  const url = typeof value === "string" ? parseUrl(value) : null;
  const acceptable =
    url !== null &&
    url.username === "" &&
    url.password === "" &&
    (url.protocol === "https:" || (insecure && url.protocol === "http:" && isLoopbackHost(url.hostname)));
  if (!acceptable || typeof value !== "string") throw invalid(issuer, `its ${name} is not an acceptable https URL`);
  return value;
}

function requestFailure(issuer: string, error: unknown): AppError {
  if (error instanceof OutboundError) return providerErrorFromOutbound(error, discoveryOf(issuer));
  if (error instanceof oauth.OperationProcessingError) return misconfigured(issuer, error.message);
  const detail =
    error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
  return unavailable(issuer, detail);
}

const discoveryOf = (issuer: string) => `OpenID discovery for ${issuer}`;

// The client gets the code and a plain message; the issuer, the cause and socket errors are the
// log's (AppError.logDetail), never a frontend user's.
function unavailable(issuer: string, detail: string): AppError {
  return new AppError(
    "PROVIDER_UNAVAILABLE",
    "The provider's OpenID discovery document could not be fetched; retry later",
    undefined,
    { "Retry-After": retryAfterSeconds },
    `${discoveryOf(issuer)} failed: ${detail}`,
  );
}

function invalid(issuer: string, detail: string): AppError {
  return new AppError(
    "PROVIDER_ERROR",
    "The provider's OpenID discovery document cannot be used",
    undefined,
    undefined,
    `${discoveryOf(issuer)} returned an unusable document: ${detail}`,
  );
}

function misconfigured(issuer: string, detail: string): AppError {
  return new AppError(
    "PROVIDER_ERROR",
    "The connector's OpenID issuer cannot be used",
    undefined,
    undefined,
    `The connector's issuer ${issuer} cannot be used: ${detail}`,
  );
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}
