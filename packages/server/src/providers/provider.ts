import type { ConnectorRow } from "../db/schema.ts";

export type ClientAuthMethod = "client_secret_basic" | "client_secret_post" | "none";

/**
 * Everything the OAuth flow and refresh need to know about a connector's provider, already
 * resolved (generic oauth2 from its URLs, oidc from discovery, named providers from the catalog).
 * Provider oddities are fields here, never `if (provider === …)` in the flow.
 */
export interface ResolvedProvider {
  /** Provider id, returned to clients as `integration_type` (e.g. "oauth2", "oidc", "google"). */
  id: string;
  /** Issuer identifier when known (oidc, or configured); used for the RFC 9207 `iss` check. */
  issuer: string | null;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string | null;
  userinfoEndpoint: string | null;
  /** Whether the authorization server advertises/supports `iss` in authorization responses (RFC 9207). */
  authorizationResponseIssParameterSupported: boolean;
  scopeSeparator: string;
  clientAuthMethod: ClientAuthMethod;
  /** Send PKCE S256. */
  pkce: boolean;
  /** Extra fixed query parameters on the authorization request (e.g. access_type=offline). */
  extraAuthorizeParams: Record<string, string>;
  /** Scopes the connector requests (connector scopes, else provider defaults). */
  scopes: string[];
  /** Where the account id / email / name are found in the userinfo response (dot paths). */
  account: { id: string; email: string; name: string };
  /** Token-response fields kept as connection_config (e.g. instance_url). */
  connectionConfigFields: string[];
  /**
   * The hosts the API proxy may call with a connection's token, the first being the default: the
   * catalog's `api_hosts` (a base URL may still hold `{name}` templates filled per connection), the
   * connector's `endpoints.api_base_url` replacing the first one's base URL. Generic providers have
   * one only when the connector names its API base URL.
   */
  apiHosts: Array<{
    name: string;
    baseUrl: string;
    allowedRequestHeaders: string[];
    exposedResponseHeaders: string[];
    binaryMediaTypes: string[];
  }>;
}

/** One API host of a provider, as the proxy uses it. */
export type ApiHostSpec = ResolvedProvider["apiHosts"][number];

export interface ProviderResolver {
  /** Throws AppError PROVIDER_ERROR / PROVIDER_UNAVAILABLE when discovery fails. */
  resolve(connector: ConnectorRow): Promise<ResolvedProvider>;
}
