/** A fetch implementation: the global one, or any with the same call shape (undici, a test double). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A token, or a function returning the current one (for short-lived tokens such as Clerk's). */
export type TokenSource = string | (() => string | null | undefined | Promise<string | null | undefined>);

export interface ClientOptions {
  /** Where Latchkey runs, e.g. `https://latchkey.example.com`. Requests go to `${serverUrl}/api/…`. */
  serverUrl: string;
  /** The app's public id. Sent as `X-App-Id` and in every path. */
  appId: string;
  /** The signed-in app user's token (`Authorization: Bearer` on user calls, `on-behalf-of` on service calls). */
  token?: TokenSource | null | undefined;
  /** A service key of the app. Backend only: never ship it to a browser. */
  serviceToken?: string | null | undefined;
  /** Replaces the global fetch. */
  fetch?: FetchLike | undefined;
}

export interface ConnectAppUserOptions {
  /** Where the browser lands after the provider's consent screen; must be an allowed return origin of the app. */
  returnTo?: string | undefined;
  /**
   * Values the user supplies for providers that need them to build their URLs (a Shopify `shop`, a
   * Zendesk `subdomain`), by the names the provider catalog gives (`connection_values` with `supplied_by: "user"`).
   */
  connectionValues?: Readonly<Record<string, string>> | undefined;
}

/** The HTTP methods the API proxy forwards (Base44's `ConnectorApiRequest["method"]`). */
export type ConnectorApiMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD";

/** A request for the provider's API, sent through Latchkey's proxy (the shape of Base44's `ConnectorApiRequest`). */
export interface ConnectorApiRequest {
  /** Default `GET`. */
  method?: ConnectorApiMethod | undefined;
  /** The name of one of the provider's declared API hosts; absent: the first one. Not a URL. */
  host?: string | null | undefined;
  /** Relative to the host's root and starting with `/`, e.g. `/gmail/v1/users/me/profile`; never an absolute URL. */
  path: string;
  /** Merged into the URL with any query already in `path`. */
  query?: Readonly<Record<string, string | number | boolean | ReadonlyArray<string | number | boolean>>> | undefined;
  /** Forwarded only where the provider description allows the header; `Authorization`, `Cookie`, `Host` never. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Sent as JSON; ignored for `GET` and `HEAD`. */
  body?: unknown;
}

/** How far the call got. Only `not_sent` proves the provider did not run it: retry others only when idempotent. */
export type ConnectorApiResponsePhase = "not_sent" | "responded" | "timed_out" | "sent_unconfirmed";

/**
 * The provider's answer (the shape of Base44's `ConnectorApiResponse`). A provider 4xx/5xx or a transport
 * failure is an answer with `success: false`, not an error; only Latchkey's own refusals throw.
 */
export interface ConnectorApiResponse<T = unknown> {
  /** True only for an upstream 2xx. */
  success: boolean;
  phase: ConnectorApiResponsePhase;
  /** The upstream HTTP status, or null when no answer arrived. */
  status: number | null;
  /** The parsed body; null when the answer was binary (then `dataBase64`). */
  data: T | null;
  dataBase64: string | null;
  /** The media type, alongside `dataBase64`. */
  contentType: string | null;
  /** The upstream headers the provider description exposes (rate-limit counters). */
  headers: Record<string, string>;
  /** Always 0 on Latchkey. */
  creditsCharged: number;
}

export interface CallAppUserApiOptions {
  /** A named app user (`sub`); absent: the user whose token the client holds (sent as `on-behalf-of`). */
  userId?: string | undefined;
}

export type ConnectionStatus = "active" | "needs_reauth";

export interface ProviderAccount {
  id: string | null;
  email: string | null;
  name?: string | null;
}

/** One of the current user's connections, as listed by `listAppUserConnections()` (never holds tokens). */
export interface AppUserConnection {
  connectorId: string;
  integrationType: string;
  status: ConnectionStatus;
  scopes: string[];
  account: ProviderAccount | null;
  connectedAt: string;
}

/** What every service-role token call resolves to. `connectionConfig` keys are the provider's, unchanged. */
export interface ConnectionToken {
  accessToken: string;
  connectionConfig: Record<string, string> | null;
  tokenType: string;
  /** ISO 8601 time, or null when the provider gave no expiry. */
  expiresAt: string | null;
  scopes: string[];
  account: ProviderAccount | null;
  /** The provider id (`google`, `slack`, …), as Base44 names it. */
  integrationType: string;
}

/** Calls made as the signed-in app user (frontend). */
export interface AppUserConnectors {
  /** Starts the OAuth flow; resolves to the provider URL to send the browser to. */
  connectAppUser(connectorId: string, options?: ConnectAppUserOptions): Promise<string>;
  /** Removes the user's connection (idempotent). */
  disconnectAppUser(connectorId: string): Promise<void>;
  listAppUserConnections(): Promise<AppUserConnection[]>;
}

/** Calls made with the app's service key (backend). */
export interface ServiceRoleConnectors {
  /** The connection of the user whose token the client holds (sent as `on-behalf-of`). */
  getCurrentAppUserConnection(connectorId: string): Promise<ConnectionToken>;
  /** The connection of a named app user (`sub`). */
  getAppUserConnection(connectorId: string, userId: string): Promise<ConnectionToken>;
  /** The app's shared connection of a connector. */
  getWorkspaceConnection(connectorId: string): Promise<ConnectionToken>;
  /** The app's shared connection of a provider. */
  getConnection(provider: string): Promise<ConnectionToken>;
  /** @deprecated Base44 compatibility: use `getConnection(provider)` and read `accessToken`. */
  getAccessToken(provider: string): Promise<string>;
  /** @deprecated Base44 compatibility: use `getCurrentAppUserConnection(id)` and read `accessToken`. */
  getCurrentAppUserAccessToken(connectorId: string): Promise<string>;
  /**
   * Calls the provider's API with the app's shared connection of `integrationType` (matched like
   * `getConnection`), as Base44's `callApi` does. Latchkey adds the token, refreshing it first when needed.
   */
  callApi<T = unknown>(integrationType: string, request: ConnectorApiRequest): Promise<ConnectorApiResponse<T>>;
  /**
   * Calls the provider's API with an app user's connection of a connector: the current user (the client's
   * token, sent as `on-behalf-of`), or the user named by `userId`.
   */
  callAppUserApi<T = unknown>(
    connectorId: string,
    request: ConnectorApiRequest,
    options?: CallAppUserApiOptions,
  ): Promise<ConnectorApiResponse<T>>;
}

export interface LatchkeyClient {
  connectors: AppUserConnectors;
  asServiceRole: { connectors: ServiceRoleConnectors };
  /** Replaces the user token for later calls (after a sign-in or a token refresh). */
  setToken(token: TokenSource | null | undefined): void;
}
