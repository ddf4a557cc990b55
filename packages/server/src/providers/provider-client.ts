import * as oauth from "oauth4webapi";
import type { ResolvedProvider } from "./provider.ts";
import { isLoopbackHost } from "./provider-urls.ts";
import type { ConnectorRow } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import type { Config } from "../config/config.ts";
import type { Vault } from "../vault/vault.ts";
import { normalizeTokenAnswer, tokenRequestInit, type TokenAnswerCapture } from "./token-answer.ts";
import { asymmetricJwsAlgorithms } from "../kernel/jws-algorithms.ts";
import { tokenHashAuthentication } from "./token-hash.ts";

/**
 * What provider clients need: the client secret is decrypted per call, requests go through
 * `fetch`, the outbound fetch for provider calls (no redirects, providerTimeoutMs, size limit,
 * private-network guard) built once by the app.
 */
export interface ProviderClientDeps {
  config: Config;
  vault: Vault;
  fetch: typeof fetch;
}

/** Every call to a provider gives up after this long (RFC 9700 / THREATS: bounded outbound calls). */
export const providerTimeoutMs = 10_000;

/** What oauth4webapi needs to talk to one connector's provider. */
export interface ProviderClient {
  provider: ResolvedProvider;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  clientAuth: oauth.ClientAuth;
  /** Whether the provider's issuer is known, so an `iss` in its responses can be checked. */
  knowsIssuer: boolean;
  /** Transport options for one call: deps.fetch, the outbound fetch for provider calls. */
  http(): HttpOptions;
  /**
   * Transport options for one token request (code or refresh): the request in the provider's
   * dialect, its answer rewritten to RFC 6749 and kept in `capture`, its fixed extra parameters;
   * `url` sends it elsewhere than the token endpoint (a provider's own refresh URL).
   */
  tokenHttp(capture: TokenAnswerCapture, now: Date, url?: string): TokenHttpOptions;
  /** The outbound fetch itself, for userinfo, lookups and revocation in the provider's dialect. */
  fetch: typeof fetch;
  /** The client secret, for revocation requests that authenticate the client their own way. */
  clientSecret(): string | null;
}

export interface TokenHttpOptions extends HttpOptions {
  additionalParameters: Record<string, string>;
}

export interface HttpOptions {
  [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<string, unknown>) => Promise<Response>;
  [oauth.allowInsecureRequests]: boolean;
}

export function redirectUri(deps: { config: Pick<Config, "publicUrl"> }): string {
  return `${deps.config.publicUrl}/oauth/callback`;
}

export type ProviderClientFactory = (connector: ConnectorRow, provider: ResolvedProvider) => ProviderClient;

/** Builds provider clients that all send through deps.fetch. */
export function providerClients(deps: ProviderClientDeps): ProviderClientFactory {
  return (connector, provider) => createProviderClient(deps, deps.fetch, connector, provider);
}

function createProviderClient(
  deps: ProviderClientDeps,
  outbound: typeof fetch,
  connector: ConnectorRow,
  provider: ResolvedProvider,
): ProviderClient {
  const as: oauth.AuthorizationServer = {
    // Without a known issuer the value only has to be stable; `iss` is then not checked (see knowsIssuer).
    issuer: provider.issuer ?? new URL(provider.tokenEndpoint).origin,
    authorization_endpoint: provider.authorizationEndpoint,
    token_endpoint: provider.tokenEndpoint,
    ...(provider.revocationEndpoint !== null && { revocation_endpoint: provider.revocationEndpoint }),
    ...(provider.userinfoEndpoint !== null && { userinfo_endpoint: provider.userinfoEndpoint }),
    authorization_response_iss_parameter_supported: provider.authorizationResponseIssParameterSupported,
    // ID tokens from the token endpoint arrive over TLS straight from the provider, so oauth4webapi
    // checks their claims, not their signature; this list only keeps it from refusing a provider
    // that signs with something other than RS256.
    id_token_signing_alg_values_supported: asymmetricJwsAlgorithms,
  };
  const client: oauth.Client = {
    client_id: connector.client_id,
    token_endpoint_auth_method: provider.clientAuthMethod,
  };
  // Plain http only to a provider on this machine (as connectors allow for configured URLs); an
  // http endpoint elsewhere, e.g. from a discovery document, is refused by oauth4webapi.
  const httpEndpoints = [
    provider.tokenEndpoint,
    provider.revocationEndpoint,
    provider.userinfoEndpoint,
    provider.refresh.endpoint || null,
  ]
    .filter((url): url is string => url?.startsWith("http:") === true)
    .map((url) => new URL(url).hostname);
  const insecure = httpEndpoints.length > 0 && httpEndpoints.every(isLoopbackHost);
  return {
    provider,
    as,
    client,
    clientAuth: clientAuthentication(deps, connector, provider),
    knowsIssuer: provider.issuer !== null,
    http: () => ({
      [oauth.customFetch]: (url, init) => outbound(url, init as RequestInit),
      [oauth.allowInsecureRequests]: insecure,
    }),
    tokenHttp: (capture, now, url) => ({
      [oauth.customFetch]: async (target, init) => {
        const rewritten = tokenRequestInit(provider.tokenRequest, init);
        const response = await outbound(url ?? target, { ...(init as RequestInit), ...rewritten });
        // An ID token is checked against the issuer: without a known one it cannot be, so it is not read.
        return normalizeTokenAnswer(response, provider.tokenResponse, now, capture, provider.issuer !== null);
      },
      [oauth.allowInsecureRequests]: insecure || (url !== undefined && isLoopbackHttp(url)),
      additionalParameters: { ...provider.tokenRequest.extraParams },
    }),
    fetch: outbound,
    clientSecret: () => decryptSecret(deps, connector),
  };
}

function isLoopbackHttp(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === "http:" && isLoopbackHost(parsed.hostname);
}

function decryptSecret(deps: ProviderClientDeps, connector: ConnectorRow): string | null {
  return deps.vault.decryptNullable(connector.client_secret, {
    table: "connectors",
    column: "client_secret",
    rowId: connector.id,
  });
}

function clientAuthentication(
  deps: ProviderClientDeps,
  connector: ConnectorRow,
  provider: ResolvedProvider,
): oauth.ClientAuth {
  if (provider.clientAuthMethod === "none") return oauth.None();
  const secret = decryptSecret(deps, connector);
  if (secret === null) {
    throw new AppError(
      "PROVIDER_ERROR",
      `Connector ${connector.id} has no client secret for ${provider.clientAuthMethod}`,
    );
  }
  // The hook replaces how the secret is presented (a hash of it instead), whichever secret-based method is set.
  if (provider.hooks.includes("smartsheet-token-hash")) return tokenHashAuthentication(secret);
  return provider.clientAuthMethod === "client_secret_post"
    ? oauth.ClientSecretPost(secret)
    : oauth.ClientSecretBasic(secret);
}
