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
