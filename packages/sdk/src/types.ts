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
}

export interface LatchkeyClient {
  connectors: AppUserConnectors;
  asServiceRole: { connectors: ServiceRoleConnectors };
  /** Replaces the user token for later calls (after a sign-in or a token refresh). */
  setToken(token: TokenSource | null | undefined): void;
}
