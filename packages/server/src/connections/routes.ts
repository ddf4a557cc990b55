import type { Context } from "hono";
import { z } from "zod";
import { AppError, noRoute } from "../errors/app-error.ts";
import type { AppEnv } from "../http/app-env.ts";
import { defineRoute } from "../http/define-route.ts";
import { parseOrThrow } from "../http/read-json.ts";
import { bodyWithResponseHeaders } from "../http/response-headers.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import type { ConnectionDeps, TokenSource } from "./connection-deps.ts";
import { isPlainUserId, UserIdSchema } from "../identity/user-id.ts";
import { requireAppRow } from "../apps/apps.ts";
import { appUserAuth, assertAppIdHeader, onBehalfOfAuth, serviceKeyAuth } from "../access/auth.ts";
import {
  connectionReader,
  decryptAccessToken,
  findSharedConnectionByProvider,
  integrationTypeOf,
  type ConnectionKey,
  type ConnectionReader,
  type TokenRow,
} from "./connection-store.ts";
import { ConnectorSummaries, type ConnectorSummary } from "./connector-summaries.ts";
import {
  AppUserConnectionSchema,
  ConnectionInfoSchema,
  toAppUserConnection,
  toConnectionInfo,
  toTokenResponse,
  TokenResponseSchema,
} from "./connection-wire.ts";
import { disconnect } from "./disconnect.ts";
import { memberOrigin } from "../events/request-origin.ts";
import { TokenCache, type CachedToken } from "./token-cache.ts";
import type { Step } from "../http/route-pipeline.ts";
import { requestLog } from "../http/request-context.ts";

const tag = "Connections";

/** What a token route can answer besides its token; `PROVIDER_UNAVAILABLE` comes with Retry-After. */
const tokenErrors = [
  "INVALID_REQUEST",
  "NOT_FOUND",
  "CONNECTION_NOT_FOUND",
  "CONNECTION_NEEDS_REAUTH",
  "PROVIDER_ERROR",
  "PROVIDER_UNAVAILABLE",
] as const;

export function registerConnectionRoutes(ctx: RouteContext<ConnectionDeps>): void {
  registerAppUserRoutes(ctx);
  registerTokenRoutes(
    ctx,
    ctx.deps.refresher,
    connectionReader(ctx.deps.db),
    new ConnectorSummaries(ctx.deps),
    tokenCache(ctx.deps),
  );
  registerWorkspaceRoutes(ctx);
}

/** The instance's token cache, with its figures on /metrics. */
function tokenCache(deps: ConnectionDeps): TokenCache {
  const cache = new TokenCache(deps.changes, deps.clock, deps.config.tokenCache);
  deps.metrics.gauge({
    name: "latchkey_token_cache_entries",
    help: "Token answers held by this instance's token cache",
    collect: (gauge) => gauge.set(undefined, cache.size),
  });
  deps.metrics.gauge({
    name: "latchkey_token_cache_bytes",
    help: "Bytes charged to the token cache's entries (answers plus a fixed overhead each)",
    collect: (gauge) => gauge.set(undefined, cache.bytes),
  });
  deps.metrics.gauge<"result">({
    name: "latchkey_token_cache_lookups",
    help: "Token cache lookups since start, by result (bypass: the change feed was not live)",
    labelNames: ["result"],
    collect: (gauge) => {
      gauge.set({ result: "hit" }, cache.stats.hits);
      gauge.set({ result: "miss" }, cache.stats.misses);
      gauge.set({ result: "bypass" }, cache.stats.bypassed);
    },
  });
  return cache;
}

const tokenAnswerHeaders = { "Cache-Control": "no-store" } as const;

/**
 * Hands out a connection's access token, refreshed first when it is about to expire. A token
 * answered as read (not refreshed) goes to `remember` for the token cache.
 */
function tokenAnswer(
  c: Context<AppEnv>,
  ctx: RouteContext<ConnectionDeps>,
  refresher: TokenSource,
  found: TokenRow | null,
  connector: ConnectorSummary | null,
  remember?: (entry: CachedToken) => void,
): Response | Promise<Response> {
  if (!found || !connector || connector.status !== "enabled") {
    throw new AppError("CONNECTION_NOT_FOUND", found && connector ? "The connector is disabled" : "No such connection");
  }
  ctx.deps.usage.touch(found.id);
  const serialize = (row: TokenRow) =>
    JSON.stringify(toTokenResponse(row, connector.integrationType, decryptAccessToken(ctx.deps.vault, row)));
  // The hot path stays synchronous from the read to the answer; only a refresh waits.
  if (refresher.servableAsRead(found)) {
    const body = serialize(found);
    remember?.({
      connectionId: found.id,
      body,
      bodyBytes: Buffer.byteLength(body),
      servableUntilMs: refresher.servableUntilMs(found),
    });
    return bodyWithResponseHeaders(c, body, 200, tokenAnswerHeaders);
  }
  // A refreshed row is not remembered: its write has just changed the feed's generation anyway.
  return refresher.usable(found).then((row) => bodyWithResponseHeaders(c, serialize(row), 200, tokenAnswerHeaders));
}

/** The connection of a key and its connector's summary (only looked up when there is a connection). */
async function connectionAndConnector(
  read: ConnectionReader,
  connectors: ConnectorSummaries,
  key: ConnectionKey,
): Promise<[TokenRow | null, ConnectorSummary | null]> {
  const found = await read(key);
  if (!found) return [null, null];
  const cached = connectors.peek(key.connectorId);
  return [found, cached !== undefined ? cached : await connectors.get(key.connectorId)];
}

function registerAppUserRoutes(ctx: RouteContext<ConnectionDeps>): void {
  const { deps } = ctx;
  const userAuth = [appUserAuth(deps)];

  defineRoute(ctx, {
    method: "delete",
    path: "/api/apps/{appId}/app-user-auth/connectors/{connectorId}",
    summary:
      "Disconnect the signed-in app user (Base44 disconnectAppUser): revokes the grant at the provider where it can, then forgets the tokens. 204 also when there was no connection.",
    tag,
    auth: "user",
    use: userAuth,
    responses: { 204: { description: "Disconnected (or was not connected)" } },
    errors: ["INVALID_REQUEST", "NOT_FOUND"],
    handler: async (c) => {
      await disconnect(
        ctx,
        ctx.deps.clients,
        {
          appId: c.get("serviceApp").app.id,
          connectorId: c.req.param("connectorId") ?? "",
          ownerType: "user",
          userId: c.get("appUser").userId,
        },
        requestLog(c),
        { actor: { type: "app_user", id: c.get("appUser").userId }, requestId: c.get("requestId") },
      );
      return c.body(null, 204);
    },
  });

  defineRoute(ctx, {
    method: "get",
    path: "/api/apps/{appId}/app-user-auth/connections",
    summary: "The signed-in app user's connections: metadata only, never tokens",
    tag,
    auth: "user",
    use: userAuth,
    responses: {
      200: { description: "OK", schema: z.object({ connections: z.array(AppUserConnectionSchema) }) },
    },
    errors: ["INVALID_REQUEST", "NOT_FOUND"],
    handler: async (c) => {
      const rows = await deps.db
        .selectFrom("connections as c")
        .innerJoin("connectors as k", "k.id", "c.connector_id")
        .selectAll("c")
        .select(integrationTypeOf("k").as("integration_type"))
        .where("c.app_id", "=", c.get("serviceApp").app.id)
        .where("c.owner_type", "=", "user")
        .where("c.user_id", "=", c.get("appUser").userId)
        .orderBy("c.created_at")
        .orderBy("c.id")
        .execute();
      return c.json({ connections: rows.map((row) => toAppUserConnection(row, row.integration_type)) }, 200);
    },
  });
}

function registerTokenRoutes(
  ctx: RouteContext<ConnectionDeps>,
  refresher: TokenSource,
  read: ConnectionReader,
  connectors: ConnectorSummaries,
  cache: TokenCache,
): void {
  const { deps } = ctx;
  const serviceAuth = serviceKeyAuth(deps);
  /**
   * A token answer from the token cache when it holds one (`cached`); else `read`, answered, and
   * handed to `remember` with the cache's generation from before the read, so an answer read
   * across a change is not kept.
   */
  const cachedOrRead = (
    c: Context<AppEnv>,
    cached: CachedToken | undefined,
    read: () => Promise<[TokenRow | null, ConnectorSummary | null]>,
    remember: (entry: CachedToken, generation: number) => void,
  ): Response | Promise<Response> => {
    if (cached !== undefined) {
      deps.usage.touch(cached.connectionId);
      return bodyWithResponseHeaders(c, cached.body, 200, tokenAnswerHeaders);
    }
    const generation = cache.generation;
    return read().then(([found, connector]) =>
      tokenAnswer(c, ctx, refresher, found, connector, (entry) => remember(entry, generation)),
    );
  };
  /** The token of the caller's app's connection to `connectorId` owned by the user (or the app). */
  const answerFor = (
    c: Context<AppEnv>,
    connectorId: string,
    ownerType: ConnectionKey["ownerType"],
    userId: string,
  ): Response | Promise<Response> => {
    const key = { appId: c.get("serviceApp").app.id, connectorId, ownerType, userId };
    return cachedOrRead(
      c,
      cache.get(key),
      () => connectionAndConnector(read, connectors, key),
      (entry, generation) => cache.set(key, entry, generation),
    );
  };
  const tokenResponses = { 200: { description: "OK", schema: TokenResponseSchema } };

  defineRoute(ctx, {
    method: "get",
    path: "/api/apps/{appId}/app-user-auth/connectors/{connectorId}/token",
    summary: "The access token of the `on-behalf-of` user's connection (Base44 getCurrentAppUserConnection)",
    tag,
    auth: "service+user",
    use: [serviceAuth, onBehalfOfAuth(deps)],
    responses: tokenResponses,
    errors: tokenErrors,
    handler: (c) => answerFor(c, c.req.param("connectorId") ?? "", "user", c.get("appUser").userId),
  });

  defineRoute(ctx, {
    method: "get",
    path: "/api/apps/{appId}/app-user-auth/connectors/{connectorId}/users/{userId}/token",
    summary: "The access token of a named app user's connection (extension)",
    tag,
    auth: "service",
    use: [serviceAuth],
    responses: tokenResponses,
    errors: tokenErrors,
    handler: (c) => {
      const raw = c.req.param("userId") ?? "";
      const userId = isPlainUserId(raw) ? raw : parseOrThrow(UserIdSchema, raw, "userId");
      return answerFor(c, c.req.param("connectorId") ?? "", "user", userId);
    },
  });

  // Shared connections ignore `on-behalf-of`: the Base44 SDK sends it whenever its client has a user token.
  // `…/tokens/connectors/:connectorId` is matched as `…/tokens/:segment/:connectorId`: a literal
  // beside the `:provider` parameter of the route below would push Hono from its RegExpRouter to the
  // slower TrieRouter for every request (app/create-app.test.ts checks which router serves).
  defineRoute(ctx, {
    method: "get",
    path: "/api/apps/{appId}/external-auth/tokens/connectors/{connectorId}",
    honoPath: "/api/apps/:appId/external-auth/tokens/:segment/:connectorId",
    summary: "The access token of the app's shared connection of a connector (Base44 getWorkspaceConnection)",
    tag,
    auth: "service",
    use: [onlySegment("connectors"), serviceAuth],
    responses: tokenResponses,
    errors: tokenErrors,
    handler: (c) => answerFor(c, c.req.param("connectorId") ?? "", "app", ""),
  });

  defineRoute(ctx, {
    method: "get",
    path: "/api/apps/{appId}/external-auth/tokens/{provider}",
    summary:
      "The access token of the app's shared connection of a provider (Base44 getConnection). When several enabled connectors of that provider have a shared connection, the oldest connection is used.",
    tag,
    auth: "service",
    use: [serviceAuth],
    responses: tokenResponses,
    errors: tokenErrors,
    handler: (c) => {
      const appId = c.get("serviceApp").app.id;
      const provider = c.req.param("provider") ?? "";
      return cachedOrRead(
        c,
        cache.getShared(appId, provider),
        () =>
          findSharedConnectionByProvider(deps, appId, provider).then((found) => [
            found,
            found && {
              provider: found.provider,
              integrationType: found.integration_type,
              status: found.connector_status,
            },
          ]),
        (entry, generation) => cache.setShared(appId, provider, entry, generation),
      );
    },
  });
}

/** Lets a request through only when its `:segment` path parameter is `literal`; else no such route. */
function onlySegment(literal: string): Step {
  return (c, next) => {
    if (c.req.param("segment") !== literal) throw noRoute(c.req.method, c.req.path);
    return next();
  };
}

const ListConnectionsQuery = z.strictObject({
  app_id: z.string().min(1).max(64).optional(),
  connector_id: z.string().min(1).max(64).optional(),
  owner_type: z.enum(["user", "app"]).optional(),
  user_id: UserIdSchema.optional(),
  status: z.enum(["active", "needs_reauth"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().min(1).max(64).optional().describe("next_cursor of the previous page"),
});

function registerWorkspaceRoutes(ctx: RouteContext<ConnectionDeps>): void {
  const { forMembers, forAdmins } = workspaceRoutes(ctx, tag);
  const { deps } = ctx;

  forMembers({
    method: "get",
    path: "/api/workspaces/{workspaceId}/connections",
    summary: "The workspace's connections, filtered and paged by id: metadata only, never tokens",
    query: ListConnectionsQuery,
    responses: {
      200: {
        description: "OK",
        schema: z.object({ connections: z.array(ConnectionInfoSchema), next_cursor: z.string().nullable() }),
      },
    },
    handler: async (c, { query }) => {
      let select = deps.db
        .selectFrom("connections as c")
        .innerJoin("connectors as k", "k.id", "c.connector_id")
        .selectAll("c")
        .select(integrationTypeOf("k").as("integration_type"))
        .where("c.workspace_id", "=", c.get("member").workspaceId);
      if (query.app_id !== undefined) select = select.where("c.app_id", "=", query.app_id);
      if (query.connector_id !== undefined) select = select.where("c.connector_id", "=", query.connector_id);
      if (query.owner_type !== undefined) select = select.where("c.owner_type", "=", query.owner_type);
      if (query.user_id !== undefined) select = select.where("c.user_id", "=", query.user_id);
      if (query.status !== undefined) select = select.where("c.status", "=", query.status);
      if (query.cursor !== undefined) select = select.where("c.id", ">", query.cursor);
      const rows = await select
        .orderBy("c.id")
        .limit(query.limit + 1)
        .execute();
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return c.json(
        {
          connections: page.map((row) => toConnectionInfo(row, row.integration_type)),
          next_cursor: rows.length > query.limit && last ? last.id : null,
        },
        200,
      );
    },
  });

  forMembers({
    method: "get",
    path: "/api/workspaces/{workspaceId}/connection-counts",
    summary: "How many of the workspace's connections are in each status",
    responses: {
      200: {
        description: "OK",
        schema: z.object({ counts: z.object({ active: z.number().int(), needs_reauth: z.number().int() }) }),
      },
    },
    handler: async (c) => {
      const rows = await deps.db
        .selectFrom("connections")
        .select(["status", (eb) => eb.fn.countAll<string>().as("count")])
        .where("workspace_id", "=", c.get("member").workspaceId)
        .groupBy("status")
        .execute();
      const counts = { active: 0, needs_reauth: 0 };
      for (const row of rows) counts[row.status] = Number(row.count);
      return c.json({ counts });
    },
  });

  forAdmins({
    method: "delete",
    path: "/api/workspaces/{workspaceId}/connections/{connectionId}",
    summary: "Revoke one connection (admin): revokes the grant at the provider where it can, then forgets the tokens",
    responses: { 204: { description: "Revoked" } },
    errors: ["CONNECTION_NOT_FOUND"],
    handler: async (c) => {
      const row = await deps.db
        .selectFrom("connections")
        .select(["app_id", "connector_id", "owner_type", "user_id"])
        .where("workspace_id", "=", c.get("member").workspaceId)
        .where("id", "=", c.req.param("connectionId") ?? "")
        .executeTakeFirst();
      if (!row) throw new AppError("CONNECTION_NOT_FOUND", "No such connection");
      await disconnect(
        ctx,
        ctx.deps.clients,
        { appId: row.app_id, connectorId: row.connector_id, ownerType: row.owner_type, userId: row.user_id },
        requestLog(c),
        memberOrigin(c),
      );
      return c.body(null, 204);
    },
  });

  forAdmins({
    method: "delete",
    path: "/api/workspaces/{workspaceId}/apps/{appId}/connectors/{connectorId}/connection",
    summary:
      "Disconnect the app's shared connection of a connector (admin): revokes at the provider where it can. 204 also when there was none.",
    responses: { 204: { description: "Disconnected (or was not connected)" } },
    errors: ["INVALID_REQUEST"],
    handler: async (c) => {
      const appId = c.req.param("appId") ?? "";
      assertAppIdHeader(c, appId);
      const appRow = await requireAppRow(deps.db, c.get("member").workspaceId, appId);
      await disconnect(
        ctx,
        ctx.deps.clients,
        { appId: appRow.id, connectorId: c.req.param("connectorId") ?? "", ownerType: "app", userId: "" },
        requestLog(c),
        memberOrigin(c),
      );
      return c.body(null, 204);
    },
  });
}
