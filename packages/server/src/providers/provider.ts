import type { ProviderDescription } from "@latchkey/catalog";
import type { ConnectorRow } from "../db/schema.ts";

export type ClientAuthMethod = "client_secret_basic" | "client_secret_post" | "none";

type Description = ProviderDescription;

/** How a token request is sent: body encoding, Accept, fixed extra parameters and headers. */
export interface TokenRequestSettings {
  encoding: Description["token_request"]["encoding"];
  accept: string;
  extraParams: Record<string, string>;
  extraHeaders: Record<string, string>;
}

/** Where the parts of a token answer are found, and how a failure is recognised. */
export type TokenResponseSettings = Description["token_response"];

/** An answer that means the refresh token is dead (→ needs_reauth), not a passing failure. */
export type DeadGrantMatcher = Description["refresh"]["dead_grant_errors"][number];

export interface RefreshSettings {
  supported: boolean;
  /** Where refresh requests go; the token endpoint unless the provider names another. */
  endpoint: string;
  /** A refresh answer may carry a new refresh token; an answer without one keeps the old. */
  rotates: boolean;
  deadGrantErrors: DeadGrantMatcher[];
}

export interface RevocationSettings {
  endpoint: string;
  method: "POST" | "DELETE" | "GET";
  encoding: "form" | "json" | "none";
  token: "access_token" | "refresh_token";
  tokenParam: string;
  auth: "client" | "client_secret_basic" | "bearer" | "none";
  extraParams: Record<string, string>;
}

/** Where a value kept in connection_config comes from once the provider has answered. */
export interface KeptValueSource {
  name: string;
  from: "callback" | "token_response" | "lookup";
  path: string;
  lookup?: string | undefined;
  /** The anchored pattern a provider-supplied URL value must match before it is kept. */
  check?: ((value: string) => boolean) | undefined;
  /** Read from the callback query when the token answer lacks it (generic connection_config_fields). */
  alsoCallback?: boolean | undefined;
}

/** A request made once after the token exchange (Atlassian accessible-resources, Xero connections). */
export interface ResolvedLookup {
  name: string;
  method: "GET" | "POST";
  url: string;
  authScheme: string;
  headers: Record<string, string>;
}

/** A host the API proxy may call with a connection's token. */
export interface ApiHost {
  name: string;
  /** Its templates filled; null while it needs a value this connection does not hold (connect again). */
  baseUrl: string | null;
  /**
   * The base URL is the connector's `endpoints.api_base_url` (an admin's choice): the only one the
   * proxy may call over plain http, and then only on this machine (a local emulator).
   */
  fromConnector: boolean;
  allowedRequestHeaders: string[];
  exposedResponseHeaders: string[];
  binaryMediaTypes: string[];
  /** Fixed headers sent unless the caller sets an allowed header of that name. */
  defaultRequestHeaders: Record<string, string>;
  /** `Authorization: <scheme> <token>`. */
  authScheme: string;
  /** Header carrying the client id on every call (Twitch `Client-Id`), when the API wants it. */
  clientIdHeader: string | null;
}

/**
 * Everything the OAuth flow and refresh need to know about a connector's provider, already
 * resolved (generic oauth2 from its URLs, oidc from discovery, named providers from the catalog,
 * templates filled with the connector's and the connection's values). Provider oddities are
 * fields here, never `if (provider === …)` in the flow.
 */
export interface ResolvedProvider {
  /** Provider id (catalog id, or "oauth2" / "oidc"). */
  id: string;
  /** What clients see as `integration_type`: the connector's own when set, else the provider id. */
  integrationType: string;
  /** Issuer identifier when known (oidc, or configured); used for the RFC 9207 `iss` check. */
  issuer: string | null;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string | null;
  userinfoEndpoint: string | null;
  /** Whether the authorization server advertises/supports `iss` in authorization responses (RFC 9207). */
  authorizationResponseIssParameterSupported: boolean;
  scopeSeparator: string;
  /** The authorization-request parameter carrying the scopes (`scope`; Slack user tokens: `user_scope`). */
  scopeParam: string;
  clientAuthMethod: ClientAuthMethod;
  /** Send PKCE S256. */
  pkce: boolean;
  /** The provider refuses a flow without PKCE (a connector cannot turn it off). */
  pkceRequired: boolean;
  /** Extra fixed query parameters on the authorization request (e.g. access_type=offline). */
  extraAuthorizeParams: Record<string, string>;
  /** Scopes the connector requests (connector scopes, else its preset, else provider defaults). */
  scopes: string[];
  tokenRequest: TokenRequestSettings;
  tokenResponse: TokenResponseSettings;
  /** Where the account id / email / name are found (dot paths) and in which answer. */
  account: { id: string; email: string; name: string };
  accountSource: {
    from: "userinfo" | "token_response" | "id_token" | "lookup";
    lookup: string | null;
    userinfoMethod: "GET" | "POST";
    userinfoHeaders: Record<string, string>;
  };
  /** The connector's and app user's values (with defaults), kept in connection_config. */
  connectionValues: Record<string, string>;
  /** Values the provider supplies at connect time, kept in connection_config. */
  keptValues: KeptValueSource[];
  lookups: ResolvedLookup[];
  refresh: RefreshSettings;
  revocation: RevocationSettings | null;
  /**
   * The provider's API hosts in the catalog's order, the first being the proxy's default; the
   * connector's `endpoints.api_base_url` replaces the first one's base URL. A generic provider has
   * one (`api`) only when its connector names that URL.
   */
  apiHosts: ApiHost[];
  /** Named logic the data cannot express (see the catalog's hookNames). */
  hooks: string[];
}

/** The values a connection's URLs are filled with, besides the connector's own. */
export interface ConnectionValueInput {
  /** An app user's values at initiate: each must be one the provider lets the user supply. */
  user?: Readonly<Record<string, string>> | null | undefined;
  /** A connection's connection_config (or a flow's kept values): the declared values are picked from it. */
  connection?: Readonly<Record<string, string>> | null | undefined;
}

export interface ProviderResolver {
  /**
   * The connector's provider, its templates filled with the connector's and the connection's
   * values. Throws AppError INVALID_REQUEST when a value is missing, malformed or not the app
   * user's to give, PROVIDER_ERROR / PROVIDER_UNAVAILABLE when discovery fails.
   */
  resolve(connector: ConnectorRow, values?: ConnectionValueInput): Promise<ResolvedProvider>;
}
