import * as oauth from "oauth4webapi";
import type { ConnectionRow } from "../db/schema.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { ConnectionDeps } from "./connection-deps.ts";
import type { Logger } from "../log/logger.ts";
import type { ProviderClientFactory } from "../providers/provider-client.ts";
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
    const provider = await ctx.deps.providers.resolve(connector);
    if (provider.revocationEndpoint === null) return false;
    const client = clients(connector, provider);
    // Revoking the refresh token ends the whole grant at most providers (RFC 7009 section 2.1).
    const refreshToken = decryptRefreshToken(ctx.deps.vault, row);
    const token = refreshToken ?? decryptAccessToken(ctx.deps.vault, row);
    const response = await oauth.revocationRequest(client.as, client.client, client.clientAuth, token, {
      ...client.http(),
      additionalParameters: { token_type_hint: refreshToken !== null ? "refresh_token" : "access_token" },
    });
    await oauth.processRevocationResponse(response);
    return true;
  } catch (error) {
    log.warn(
      { connection_id: row.id, connector_id: row.connector_id, ...failureLogFields(classifyProviderFailure(error)) },
      "revocation at the provider failed; the connection is removed anyway",
    );
    return false;
  }
}
