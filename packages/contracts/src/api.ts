/** Wire shapes (snake_case) shared by the server, the SDK and outside tests. */
import type { MemberRole, Plan } from "./plans.ts";

export interface Workspace {
  id: string;
  name: string;
  plan: Plan;
  created_at: string;
  updated_at: string;
}

export interface Member {
  id: string;
  workspace_id: string;
  email: string;
  role: MemberRole;
  created_at: string;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export type IdentityConfig =
  | { type: "jwks"; issuer: string; audience?: string; jwks_url?: string }
  | { type: "hs256"; issuer?: string; audience?: string }
  | { type: "latchkey" };

export interface App {
  id: string;
  workspace_id: string;
  name: string;
  allowed_return_origins: string[];
  /** Secrets (the hs256 secret) are never returned. */
  identity: IdentityConfig;
  created_at: string;
  updated_at: string;
}

export type ConnectionStatus = "active" | "needs_reauth";

export interface ProviderAccount {
  id: string | null;
  email: string | null;
  name?: string | null;
}

/** Response of every token route (Base44 wire shape plus extensions). */
export interface TokenResponse {
  access_token: string;
  integration_type: string;
  connection_config: Record<string, string> | null;
  token_type: string;
  expires_at: string | null;
  scopes: string[];
  account: ProviderAccount | null;
}

// ---- Tenancy API (operator + workspace) -------------------------------------------------

/** An admin API key as listed: metadata only, never the key or its hash. */
export interface AdminApiKeyInfo extends ApiKeyInfo {
  member_id: string;
}

/** A service key as listed: metadata only, never the key or its hash. */
export interface ServiceKeyInfo extends ApiKeyInfo {
  app_id: string;
}

/** Input identity config (the hs256 secret travels in, never out). */
export type IdentityConfigInput =
  | { type: "jwks"; issuer: string; audience?: string; jwks_url?: string }
  | { type: "hs256"; secret: string; issuer?: string; audience?: string }
  | { type: "latchkey" };

/** `POST /api/operator/workspaces` */
export interface CreateWorkspaceResponse {
  workspace: Workspace;
  /** The first admin member (extension). */
  admin: Member;
  /** Shown once. */
  admin_api_key: string;
}

/** `POST /api/workspaces/{workspaceId}/members`: the new member's own API key, shown once. */
export interface CreateMemberResponse {
  member: Member;
  api_key: string;
  key: AdminApiKeyInfo;
}

/** `POST /api/workspaces/{workspaceId}/api-keys` */
export interface CreateApiKeyResponse {
  /** Shown once. */
  api_key: string;
  key: AdminApiKeyInfo;
}

/** `POST /api/workspaces/{workspaceId}/apps` */
export interface CreateAppResponse {
  app: App;
  /** Shown once. */
  service_key: string;
  key: ServiceKeyInfo;
}

/** `POST /api/workspaces/{workspaceId}/apps/{appId}/service-keys` */
export interface CreateServiceKeyResponse {
  /** Shown once. */
  service_key: string;
  key: ServiceKeyInfo;
}

// ---- Connectors -------------------------------------------------------------------------

export type ConnectorStatus = "enabled" | "disabled";

/** A registered connector as returned by the workspace API: never the client secret, only whether one is stored. */
export interface Connector {
  id: string;
  workspace_id: string;
  /** Catalog provider id (`oauth2`, `oidc`, …). */
  provider: string;
  name: string;
  client_id: string;
  /** Requested scopes; empty means the provider's defaults. */
  scopes: string[];
  status: ConnectorStatus;
  /** The redirect URI to register at the provider. */
  callback_url: string;
  /** Non-secret provider options as given (oauth2 endpoint URLs, oidc issuer, authorize_params, …). */
  options: Record<string, unknown>;
  has_client_secret: boolean;
  created_at: string;
  updated_at: string;
}

// ---- Connections (metadata only: listings never carry tokens) ---------------------------

/** One of the app user's connections, as `GET /api/apps/{appId}/app-user-auth/connections` lists it. */
export interface AppUserConnection {
  connector_id: string;
  /** The provider id. */
  integration_type: string;
  status: ConnectionStatus;
  scopes: string[];
  account: ProviderAccount | null;
  connection_config: Record<string, string> | null;
  expires_at: string | null;
  connected_at: string;
  updated_at: string;
}

/** A connection as the workspace API lists it (`GET /api/workspaces/{workspaceId}/connections`). */
export interface ConnectionInfo extends AppUserConnection {
  id: string;
  app_id: string;
  /** `user`: one app user's; `app`: the app's shared connection. */
  owner_type: "user" | "app";
  /** The app user's id, or null for a shared connection. */
  user_id: string | null;
  needs_reauth_reason: string | null;
  needs_reauth_at: string | null;
  refreshed_at: string | null;
  created_at: string;
}
