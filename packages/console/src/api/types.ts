/** Wire shapes the console reads. The shared ones come from @latchkey/contracts (types only). */
import type { Member, Workspace } from "@latchkey/contracts";

export type {
  App,
  ConnectionInfo,
  Connector,
  IdentityConfig,
  IdentityConfigInput,
  Member,
  MemberRole,
  Plan,
  ServiceKeyInfo,
  Workspace,
} from "@latchkey/contracts";

/** `GET /api/console/session` */
export interface ConsoleSession {
  member: Member;
  workspace: Workspace;
  csrf_token: string;
  /** The redirect URI every connector registers at its provider. */
  callback_url: string;
  session: { id: string; expires_at: string };
}

/** One entry of `GET /api/providers`. Older servers have no catalog route: see providers.ts. */
export interface ProviderInfo {
  id: string;
  name: string;
  categories?: string[];
  docs_url?: string | null;
  scope_presets?: Record<string, string[]>;
  connection_values?: ConnectionValueInfo[];
  integration_types?: string[];
}

export interface ConnectionValueInfo {
  name: string;
  label: string;
  pattern?: string;
  example?: string;
  supplied_by: "connector" | "user";
}

/** `GET /api/console/sessions` */
export interface SessionInfo {
  id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
}

/** `POST …/invitations`, `POST …/members/{id}/setup-link` */
export interface SetupLink {
  setup_url: string;
  expires_at: string;
}

/** `POST …/apps/{appId}/test-token` */
export type TokenTestResult =
  | { valid: true; user_id: string; expires_at: string | null }
  | { valid: false; code: string; reason: string };

/** `GET …/audit-events`: read leniently, the route belongs to another part of the server. */
export interface AuditEvent {
  id: string;
  action: string;
  actor?: unknown;
  target?: unknown;
  created_at?: string;
  time?: string;
  request_id?: string | null;
}
