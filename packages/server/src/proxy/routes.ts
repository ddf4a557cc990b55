import type { Context } from "hono";
import { z } from "zod";
import { onBehalfOfAuth, serviceKeyAuth, type UserAccessDeps } from "../access/auth.ts";
import type { Config } from "../config/config.ts";
import {
  connectionReader,
  decryptAccessToken,
  findSharedConnectionByProvider,
  type ConnectionStoreDeps,
  type TokenRow,
} from "../connections/connection-store.ts";
import type { ConnectorRow } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv } from "../http/app-env.ts";
import { defineRoute } from "../http/define-route.ts";
import type { OutboundRequest } from "../http/outbound-request.ts";
import { parseOrThrow } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import { isPlainUserId, UserIdSchema } from "../identity/user-id.ts";
import type { Metrics } from "../kernel/metrics.ts";
import { TtlCache } from "../kernel/ttl-cache.ts";
import type { ApiHost, ProviderResolver, ResolvedProvider } from "../providers/provider.ts";
import { isLoopbackHost } from "../providers/provider-urls.ts";
import { callProvider, type ProxyAnswer } from "./provider-call.ts";
import { allowedCallerHeaders, buildTargetUrl, pickHost, ProxyCallBody } from "./proxy-request.ts";
import { requestLog } from "../http/request-context.ts";

/**
 * Hands out a usable token for a stored row. The refresh feature implements it (TokenRefresher);
 * the proxy also asks for a refresh when a provider refused a token that had not expired.
 */
export interface ProxyTokenSource {
  servableAsRead(row: TokenRow): boolean;
  usable(row: TokenRow): Promise<TokenRow>;
  renewRejected(row: TokenRow): Promise<TokenRow>;
}

/** What the proxy routes need. */
export interface ProxyDeps extends UserAccessDeps, ConnectionStoreDeps {
  config: Config;
  /** The proxy's own outbound transport, built once with its limits (LATCHKEY_PROXY_*). */
  apiProxyOutbound: OutboundRequest;
  providers: ProviderResolver;
  refresher: ProxyTokenSource;
  metrics: Metrics;
}

const tag = "API proxy";

const ProxyAnswerSchema: z.ZodType<ProxyAnswer> = z.object({
  success: z.boolean().describe("True only for an upstream 2xx"),
  phase: z
    .enum(["not_sent", "responded", "timed_out", "sent_unconfirmed"])
    .describe("How far the call got; only not_sent proves the provider did not run it"),
  status_code: z.number().int().nullable().describe("The upstream status, or null when none was received"),
  data: z.unknown().describe("The parsed JSON or text body; {error: {code, message}} when no answer was received"),
  data_base64: z.string().nullable().describe("The body, base64, for binary media types (data is then null)"),
  content_type: z.string().nullable().describe("The body's media type, only beside data_base64"),
  headers: z.record(z.string(), z.string()).describe("The upstream headers the provider exposes, lower-case names"),
  credits_charged: z.number().describe("Always 0"),
});

const proxyErrors = ["NOT_FOUND", "CONNECTION_NOT_FOUND", "CONNECTION_NEEDS_REAUTH", "PROVIDER_ERROR"] as const;

interface ConnectorEntry {
  connector: ConnectorRow;
  provider: ResolvedProvider;
}

export function registerProxyRoutes(ctx: RouteContext<ProxyDeps>): void {
  const { deps } = ctx;
  const proxy = new ApiProxy(deps);
  const serviceAuth = serviceKeyAuth(deps);
  const read = connectionReader(deps.db);
  const responses = { 200: { description: "The provider's answer, or why there was none", schema: ProxyAnswerSchema } };
  const userConnection = async (c: Context<AppEnv>, connectorId: string, userId: string) => {
    const key = { appId: c.get("serviceApp").app.id, connectorId, ownerType: "user" as const, userId };
    return { row: await read(key), connectorId };
  };

  defineRoute(ctx, {
    method: "post",
    path: "/api/apps/{appId}/connectors/{integrationType}/call",
    summary:
      "Call the provider's API with the app's shared connection (Base44 callApi). The connection is matched by the connector's integration type, then the provider id, then the provider's Base44 integration types; its token is refreshed first when needed and once more after a 401. A provider 4xx/5xx or a transport failure is an answer with success false.",
    tag,
    auth: "service",
    use: [serviceAuth],
    body: ProxyCallBody,
    responses,
    errors: proxyErrors,
    handler: async (c, { body }) => {
      const found = await sharedConnection(deps, c.get("serviceApp").app.id, c.req.param("integrationType") ?? "");
      return proxy.answer(c, found, body);
    },
  });

  defineRoute(ctx, {
    method: "post",
    path: "/api/apps/{appId}/app-user-auth/connectors/{connectorId}/call",
    summary: "Call the provider's API with the `on-behalf-of` user's connection (extension; same bodies as callApi)",
    tag,
    auth: "service+user",
    use: [serviceAuth, onBehalfOfAuth(deps)],
    body: ProxyCallBody,
    responses,
    errors: proxyErrors,
    handler: async (c, { body }) =>
      proxy.answer(c, await userConnection(c, c.req.param("connectorId") ?? "", c.get("appUser").userId), body),
  });

  defineRoute(ctx, {
    method: "post",
    path: "/api/apps/{appId}/app-user-auth/connectors/{connectorId}/users/{userId}/call",
    summary: "Call the provider's API with a named app user's connection (extension; same bodies as callApi)",
    tag,
    auth: "service",
    use: [serviceAuth],
    body: ProxyCallBody,
    responses,
    errors: proxyErrors,
    handler: async (c, { body }) => {
      const raw = c.req.param("userId") ?? "";
      const userId = isPlainUserId(raw) ? raw : parseOrThrow(UserIdSchema, raw, "userId");
      return proxy.answer(c, await userConnection(c, c.req.param("connectorId") ?? "", userId), body);
    },
  });
}

/**
 * The app's shared connection for a Base44 integration type, matched as `getConnection` matches it:
 * the connector's own integration_type, then the provider id, then the provider's Base44 types.
 */
async function sharedConnection(
  deps: ConnectionStoreDeps,
  appId: string,
  integrationType: string,
): Promise<{ row: TokenRow | null; connectorId: string }> {
  const row = await findSharedConnectionByProvider(deps, appId, integrationType);
  return { row, connectorId: row?.connector_id ?? "" };
}

class ApiProxy {
  readonly #connectors;
  readonly #calls;

  constructor(private readonly deps: ProxyDeps) {
    // A disabled or deleted connector is seen at once on every instance (the change feed).
    this.#connectors = new TtlCache<ConnectorEntry>(10_000, { feed: deps.changes, tables: ["connectors"] });
    this.#calls = deps.metrics.counter<"phase">({
      name: "latchkey_proxy_calls_total",
      help: "Provider API calls made through the proxy, by how far they got",
      labelNames: ["phase"],
    });
  }

  async answer(
    c: Context<AppEnv>,
    found: { row: TokenRow | null; connectorId: string },
    body: ProxyCallBody,
  ): Promise<Response> {
    if (!found.row) throw new AppError("CONNECTION_NOT_FOUND", "No such connection");
    const { connector, provider } = await this.#connector(found.connectorId, found.row);
    if (connector.status !== "enabled") throw new AppError("CONNECTION_NOT_FOUND", "The connector is disabled");
    // Everything the caller sent is checked before the token is touched: bad input refreshes nothing.
    const host = pickHost(provider.apiHosts, body.host, provider.id);
    if (host.baseUrl === null) throw needsValues(provider.id, host.name);
    const url = buildTargetUrl(host.baseUrl, body.path, body.query);
    assertScheme(url, host);
    const callerHeaders = allowedCallerHeaders(host, body.headers);
    const sendsBody = body.method !== "GET" && body.method !== "HEAD" && body.body !== undefined && body.body !== null;
    const payload = sendsBody ? JSON.stringify(body.body) : undefined;
    const defaultHeaders = lowerCaseNames(host.defaultRequestHeaders);
    const headersFor = (row: TokenRow): Record<string, string> => {
      const headers: Record<string, string> = { ...defaultHeaders, ...callerHeaders };
      if (host.clientIdHeader !== null) headers[host.clientIdHeader.toLowerCase()] = connector.client_id;
      if (payload !== undefined) headers["content-type"] = "application/json";
      headers.authorization = `${host.authScheme} ${decryptAccessToken(this.deps.vault, row)}`;
      return headers;
    };
    const send = (row: TokenRow) =>
      callProvider(this.deps.apiProxyOutbound, host, {
        method: body.method,
        url,
        headers: headersFor(row),
        body: payload,
      });

    const started = performance.now();
    let row = this.deps.refresher.servableAsRead(found.row) ? found.row : await this.deps.refresher.usable(found.row);
    let answer = await send(row);
    let retried = false;
    if (answer.status_code === 401) {
      // Refused before its expiry (revoked, rotated elsewhere): one refresh, one more try.
      const renewed = await this.deps.refresher.renewRejected(row);
      if (renewed.access_token !== row.access_token) {
        row = renewed;
        retried = true;
        answer = await send(row);
      }
    }
    this.#calls.inc({ phase: answer.phase });
    // Never the path, query, headers or bodies: they may carry the user's data.
    requestLog(c).info(
      {
        connection_id: row.id,
        connector_id: connector.id,
        provider: provider.id,
        api_host: host.name,
        method: body.method,
        phase: answer.phase,
        status_code: answer.status_code,
        retried_after_401: retried,
        duration_ms: Math.round(performance.now() - started),
      },
      "provider API called through the proxy",
    );
    return c.json(answer, 200, { "Cache-Control": "no-store" });
  }

  /**
   * The connector and its provider resolved with this connection's values (a shop, an instance
   * URL), cached as briefly as verified service keys.
   */
  async #connector(connectorId: string, row: TokenRow): Promise<ConnectorEntry> {
    const key = `${connectorId}\n${JSON.stringify(row.connection_config)}`;
    const cached = this.#connectors.get(key);
    if (cached) return cached;
    const generation = this.#connectors.generation;
    const connector = await this.deps.db
      .selectFrom("connectors")
      .selectAll()
      .where("id", "=", connectorId)
      .executeTakeFirst();
    if (!connector) throw new AppError("CONNECTION_NOT_FOUND", "No such connection");
    let provider: ResolvedProvider;
    try {
      provider = await this.deps.providers.resolve(connector, { connection: row.connection_config });
    } catch (error) {
      // The stored values no longer fit the provider: not the caller's request at fault.
      if (error instanceof AppError && error.code === "INVALID_REQUEST") throw needsValues(connector.provider, null);
      throw error;
    }
    const entry = { connector, provider };
    this.#connectors.set(key, entry, this.deps.config.serviceKeyCacheMs, generation);
    return entry;
  }
}

/**
 * The connection lacks a value a host's URL needs (a lookup that failed at connect time, a value the
 * catalog added since): an unusable connection, which connecting again repairs, so the caller gets
 * the code it already branches on for "reconnect" rather than a provider error.
 */
function needsValues(providerId: string, hostName: string | null): AppError {
  const what = hostName === null ? "The API" : `The API host "${hostName}"`;
  return new AppError(
    "CONNECTION_NEEDS_REAUTH",
    `${what} of provider "${providerId}" needs values this connection does not hold; connect again`,
  );
}

/** https only, unless the connector's admin pointed the API at plain http on this machine. */
function assertScheme(url: URL, host: ApiHost): void {
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && host.fromConnector && isLoopbackHost(url.hostname)) return;
  throw new AppError("PROVIDER_ERROR", `The API host "${host.name}" is not https; the proxy refuses it`);
}

function lowerCaseNames(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
