import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type { MemberRole, Plan } from "@latchkey/contracts";

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export interface WorkspacesTable {
  id: string;
  name: string;
  plan: Plan;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface MembersTable {
  id: string;
  workspace_id: string;
  email: string;
  role: MemberRole;
  created_at: CreatedAt;
}

/** Admin API keys: a member's bearer credential for the workspace API. Only a hash is stored. */
export interface AdminApiKeysTable {
  id: string;
  workspace_id: string;
  member_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface AppsTable {
  id: string;
  workspace_id: string;
  name: string;
  allowed_return_origins: Json<string[]>;
  identity_type: "jwks" | "hs256" | "latchkey";
  /** Non-secret identity settings (issuer, audience, jwks_url). */
  identity_config: Json<Record<string, string>>;
  /** hs256 shared secret or latchkey signing secret, vault-encrypted. */
  identity_secret: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ServiceKeysTable {
  id: string;
  workspace_id: string;
  app_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface ConnectorsTable {
  id: string;
  workspace_id: string;
  provider: string;
  name: string;
  client_id: string;
  /** vault-encrypted */
  client_secret: string | null;
  scopes: Json<string[]>;
  /** Provider options (generic oauth2 URLs, oidc issuer, extra params…), no secrets. */
  options: Json<Record<string, unknown>>;
  status: "enabled" | "disabled";
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface OAuthStatesTable {
  /** sha256 of the state value; the value itself is never stored. */
  state_hash: string;
  workspace_id: string;
  app_id: string;
  connector_id: string;
  owner_type: "user" | "app";
  /** App user id (sub); empty string for an app-owned (shared) connection. */
  user_id: string;
  return_to: string;
  /** vault-encrypted PKCE verifier */
  code_verifier: string | null;
  nonce: string | null;
  /** The app user's connection values given at initiate (a Shopify shop), or null. */
  connection_values: ColumnType<Record<string, string> | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  expires_at: Timestamp;
}

export interface ConnectionsTable {
  id: string;
  workspace_id: string;
  app_id: string;
  connector_id: string;
  owner_type: "user" | "app";
  /** App user id (sub); empty string for the app's shared connection. */
  user_id: string;
  status: "active" | "needs_reauth";
  /** vault-encrypted */
  access_token: string;
  /** vault-encrypted */
  refresh_token: string | null;
  token_type: string;
  expires_at: Timestamp | null;
  scopes: Json<string[]>;
  account: Json<Record<string, unknown> | null>;
  connection_config: Json<Record<string, string> | null>;
  needs_reauth_reason: string | null;
  needs_reauth_at: Timestamp | null;
  refresh_cooldown_until: Timestamp | null;
  refreshed_at: Timestamp | null;
  /** When the user (re)connected: set at the first connect and again on every reconnect. */
  connected_at: Timestamp;
  /** Until then, one instance's background sweep has claimed the connection for a refresh. */
  sweep_claimed_until: Timestamp | null;
  version: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/**
 * When a token route last handed a connection's token out (connections/usage-recorder.ts): one row
 * per used connection, written in batches and at most about once per grain, read by the sweep.
 */
export interface ConnectionUsageTable {
  connection_id: string;
  last_used_at: Timestamp;
}

/** A member's console password (scrypt; see console/passwords.ts). */
export interface MemberPasswordsTable {
  member_id: string;
  password_hash: string;
  updated_at: Timestamp;
}

/** One-time console setup links; only the token's SHA-256 is stored. */
export interface ConsoleSetupLinksTable {
  id: string;
  member_id: string;
  workspace_id: string;
  token_hash: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

/** Console sessions; only the cookie token's SHA-256 is stored. */
export interface ConsoleSessionsTable {
  id: string;
  token_hash: string;
  member_id: string;
  workspace_id: string;
  created_at: CreatedAt;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  user_agent: string | null;
  ip: string | null;
}

/** Who did something: a member, the operator, an app user, an app (its service key), or Latchkey itself. */
export type EventActor =
  | { type: "member"; id: string; email: string }
  | { type: "operator" }
  | { type: "app_user"; id: string }
  | { type: "app"; id: string }
  | { type: "system" };

/** One record per admin action or connection change: the audit log and the webhook outbox's source. */
export interface EventsTable {
  id: string;
  /** bigserial; read as a string. */
  seq: ColumnType<string, never, never>;
  workspace_id: string;
  app_id: string | null;
  /** "connection" or "admin". */
  type: "connection" | "admin";
  /** e.g. "connection.created", "app.updated". */
  action: string;
  actor: Json<EventActor>;
  /** Id of what the action was done to. */
  target: string;
  /** Never a secret. */
  data: Json<Record<string, unknown>>;
  request_id: string | null;
  created_at: CreatedAt;
}

export interface WebhooksTable {
  id: string;
  workspace_id: string;
  app_id: string | null;
  url: string;
  events: Json<string[]>;
  description: string;
  status: "enabled" | "disabled";
  /** vault-encrypted */
  secret: string;
  /** vault-encrypted; signs alongside `secret` until previous_secret_expires_at. */
  previous_secret: string | null;
  previous_secret_expires_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  /** The `webhook-id` header, the same on every attempt. */
  id: string;
  workspace_id: string;
  webhook_id: string;
  event_id: string;
  event_seq: ColumnType<string, string | number | bigint, never>;
  ordering_key: string;
  state: "pending" | "delivered" | "failed";
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  /** Retried until this + the configured retry window; a redelivery moves it. */
  retry_window_from: Timestamp;
  lease_until: Timestamp | null;
  lease_token: string | null;
  last_attempt_at: Timestamp | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface Database {
  workspaces: WorkspacesTable;
  members: MembersTable;
  admin_api_keys: AdminApiKeysTable;
  apps: AppsTable;
  service_keys: ServiceKeysTable;
  connectors: ConnectorsTable;
  oauth_states: OAuthStatesTable;
  connections: ConnectionsTable;
  connection_usage: ConnectionUsageTable;
  member_passwords: MemberPasswordsTable;
  console_setup_links: ConsoleSetupLinksTable;
  console_sessions: ConsoleSessionsTable;
  events: EventsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

export type WorkspaceRow = Selectable<WorkspacesTable>;
export type MemberRow = Selectable<MembersTable>;
export type AppRow = Selectable<AppsTable>;
export type NewApp = Insertable<AppsTable>;
export type AppUpdate = Updateable<AppsTable>;
export type ServiceKeyRow = Selectable<ServiceKeysTable>;
export type AdminApiKeyRow = Selectable<AdminApiKeysTable>;
export type ConnectorRow = Selectable<ConnectorsTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type OAuthStateRow = Selectable<OAuthStatesTable>;
export type EventRow = Selectable<EventsTable>;
export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
