import type { RevocationSettings } from "../providers/provider.ts";
import type { ConnectionRow } from "../db/schema.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { ConnectionDeps } from "./connection-deps.ts";
import type { Logger } from "../log/logger.ts";
import type { ProviderClient, ProviderClientFactory } from "../providers/provider-client.ts";
import { classifyProviderFailure, failureLogFields } from "../providers/provider-failure.ts";
import { type EventOrigin, recordConnectionEvent } from "../events/record-event.ts";
import { decryptAccessToken, decryptRefreshToken, deleteConnection, type ConnectionKey } from "./connection-store.ts";

/**
 * Removes a connection and revokes its grant at the provider (RFC 7009) where the provider has a
 * revocation endpoint. The row is deleted first, atomically, so exactly one of two concurrent
 * disconnects revokes, and the tokens are gone from the database whatever the provider answers.
 * Removing a connection that does not exist is not an error (DELETE is idempotent).
 */
export async function disconnect(
  ctx: RouteContext<ConnectionDeps>,
  clients: ProviderClientFactory,
  key: ConnectionKey,
  log: Logger,
  origin: EventOrigin,
): Promise<void> {
  const removed = await deleteConnection(ctx.deps, key, origin);
  if (!removed) return;
  log.info({ connection_id: removed.id, connector_id: removed.connector_id }, "connection removed");
  if (await revokeAtProvider(ctx, clients, removed, log)) {
    // Audit only: the grant is gone at the provider too (connection.deleted already announced the removal).
    const at = ctx.deps.clock.now();
    await recordConnectionEvent(ctx.deps.db, { action: "connection.revoked", connection: removed, origin, at });
  }
}

async function revokeAtProvider(
  ctx: RouteContext<ConnectionDeps>,
  clients: ProviderClientFactory,
  row: ConnectionRow,
  log: Logger,
): Promise<boolean> {
  try {
    const connector = await ctx.deps.db
      .selectFrom("connectors")
      .selectAll()
      .where("id", "=", row.connector_id)
      .executeTakeFirst();
    if (!connector) return false;
    const provider = await ctx.deps.providers.resolve(connector, { connection: row.connection_config });
    if (provider.revocation === null) return false;
    const client = clients(connector, provider);
    const refreshToken = decryptRefreshToken(ctx.deps.vault, row);
    const accessToken = decryptAccessToken(ctx.deps.vault, row);
    // Revoking the refresh token ends the whole grant at most providers (RFC 7009 section 2.1).
    const response = await client.fetch(
      ...revocationRequest(client, provider.revocation, { access: accessToken, refresh: refreshToken }),
    );
    await response.body?.cancel();
    if (!response.ok) throw new RevocationRefused(response.status);
    return true;
  } catch (error) {
    log.warn(
      { connection_id: row.id, connector_id: row.connector_id, ...failureLogFields(classifyProviderFailure(error)) },
      "revocation at the provider failed; the connection is removed anyway",
    );
    return false;
  }
}

class RevocationRefused extends Error {
  override name = "RevocationRefused";
  constructor(readonly status: number) {
    super(`revocation answered ${status}`);
  }
}

/**
 * The revocation request in the provider's dialect: RFC 7009 (form POST of `token` with the
 * client's token-endpoint authentication) by default; otherwise the method, encoding, token,
 * parameter name and authentication its description gives (GitHub: DELETE with a JSON body and
 * Basic; Slack: the access token as Bearer, no body).
 */
export function revocationRequest(
  client: ProviderClient,
  settings: RevocationSettings,
  tokens: { access: string; refresh: string | null },
): [string, RequestInit] {
  const useRefresh = settings.token === "refresh_token" && tokens.refresh !== null;
  const token = useRefresh ? (tokens.refresh ?? "") : tokens.access;
  const params: Record<string, string> = { ...settings.extraParams };
  if (settings.encoding !== "none") params[settings.tokenParam] = token;
  // RFC 7009: a form request names the kind of token it sends.
  if (settings.encoding === "form" && settings.tokenParam === "token") {
    params.token_type_hint ??= useRefresh ? "refresh_token" : "access_token";
  }
  const headers: Record<string, string> = { accept: "application/json" };
  const secret = settings.auth === "bearer" || settings.auth === "none" ? null : client.clientSecret();
  const clientId = client.client.client_id;
  const basic = () =>
    `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret ?? "")}`).toString("base64")}`;
  if (settings.auth === "bearer") headers.authorization = `Bearer ${tokens.access}`;
  else if (settings.auth === "client_secret_basic") headers.authorization = basic();
  else if (settings.auth === "client") {
    const method = client.provider.clientAuthMethod;
    if (method === "client_secret_basic") headers.authorization = basic();
    else {
      params.client_id = clientId;
      if (method === "client_secret_post" && secret !== null) params.client_secret = secret;
    }
  }
  const url = new URL(settings.endpoint);
  let body: string | undefined;
  if (settings.method === "GET" || settings.encoding === "none") {
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  } else if (settings.encoding === "json") {
    headers["content-type"] = "application/json";
    body = JSON.stringify(params);
  } else {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(params).toString();
  }
  return [url.href, { method: settings.method, headers, ...(body !== undefined && { body }) }];
}
