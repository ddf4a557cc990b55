import type { AppUserConnection, ConnectionInfo, ProviderAccount, TokenResponse } from "@latchkey/contracts";
import { z } from "zod";
import type { ConnectionRow } from "../db/schema.ts";

/** Wire shapes of connections, for the API docs (typed against the contracts so they cannot drift). */
const AccountSchema = z
  .object({ id: z.string().nullable(), email: z.string().nullable(), name: z.string().nullable() })
  .nullable();

const appUserConnectionFields = {
  connector_id: z.string(),
  integration_type: z.string().describe("The provider id"),
  status: z.enum(["active", "needs_reauth"]),
  scopes: z.array(z.string()),
  account: AccountSchema,
  connection_config: z.record(z.string(), z.string()).nullable(),
  expires_at: z.string().nullable(),
  connected_at: z.string(),
  updated_at: z.string(),
};

export const AppUserConnectionSchema: z.ZodType<AppUserConnection> = z.object(appUserConnectionFields);

export const ConnectionInfoSchema: z.ZodType<ConnectionInfo> = z.object({
  ...appUserConnectionFields,
  id: z.string(),
  app_id: z.string(),
  owner_type: z.enum(["user", "app"]),
  user_id: z.string().nullable(),
  needs_reauth_reason: z.string().nullable(),
  needs_reauth_at: z.string().nullable(),
  refreshed_at: z.string().nullable(),
  created_at: z.string(),
});

export const TokenResponseSchema: z.ZodType<TokenResponse> = z.object({
  access_token: z.string(),
  integration_type: z.string().describe("The provider id, as Base44 sends it"),
  connection_config: z.record(z.string(), z.string()).nullable(),
  token_type: z.string(),
  expires_at: z.string().nullable(),
  scopes: z.array(z.string()),
  account: AccountSchema,
});

export function toAppUserConnection(row: ConnectionRow, provider: string): AppUserConnection {
  return {
    connector_id: row.connector_id,
    integration_type: provider,
    status: row.status,
    scopes: row.scopes,
    account: toAccount(row.account),
    connection_config: row.connection_config,
    expires_at: row.expires_at?.toISOString() ?? null,
    connected_at: row.connected_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toConnectionInfo(row: ConnectionRow, provider: string): ConnectionInfo {
  return {
    id: row.id,
    app_id: row.app_id,
    owner_type: row.owner_type,
    user_id: row.owner_type === "user" ? row.user_id : null,
    ...toAppUserConnection(row, provider),
    needs_reauth_reason: row.needs_reauth_reason,
    needs_reauth_at: row.needs_reauth_at?.toISOString() ?? null,
    refreshed_at: row.refreshed_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}

export function toTokenResponse(
  row: Pick<ConnectionRow, "connection_config" | "token_type" | "expires_at" | "scopes" | "account">,
  provider: string,
  accessToken: string,
): TokenResponse {
  return {
    access_token: accessToken,
    integration_type: provider,
    connection_config: row.connection_config,
    // oauth4webapi lowercases token_type; "Bearer" is how it is conventionally written back.
    token_type: row.token_type === "bearer" ? "Bearer" : row.token_type,
    expires_at: row.expires_at?.toISOString() ?? null,
    scopes: row.scopes,
    account: toAccount(row.account),
  };
}

function toAccount(value: Record<string, unknown> | null): ProviderAccount | null {
  if (value === null) return null;
  return { id: textOrNull(value.id), email: textOrNull(value.email), name: textOrNull(value.name) };
}

const textOrNull = (field: unknown): string | null => (typeof field === "string" ? field : null);
