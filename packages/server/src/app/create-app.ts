import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { noRoute } from "../errors/app-error.ts";
import { createErrorHandler, payloadTooLarge } from "../errors/on-error.ts";
import { ApiDocs } from "../http/api-docs.ts";
import { createRateLimits } from "../http/rate-limit.ts";
import { requestContext } from "../http/request-context.ts";
import { refuseNulInUrl } from "../http/refuse-nul-in-url.ts";
import { registerCors } from "../http/cors.ts";
import { RoutePipeline, stepFromHono } from "../http/route-pipeline.ts";
import type { AppEnv } from "../http/app-env.ts";
import { createProviderResolver } from "../providers/create-provider-resolver.ts";
import { createUserTokenVerifier } from "../identity/create-user-token-verifier.ts";
import { registerConnectorRoutes } from "../connectors/routes.ts";
import { registerProviderCatalogRoutes } from "../provider-catalog/routes.ts";
import { registerConnectionRoutes } from "../connections/routes.ts";
import { registerProxyRoutes } from "../proxy/routes.ts";
import { registerOAuthRoutes } from "../oauth/routes.ts";
import { registerIdentityRoutes } from "../identity/routes.ts";
import { httpMetrics } from "../http/http-metrics.ts";
import { Metrics } from "../kernel/metrics.ts";
import { registerOpsRoutes } from "../ops/routes.ts";
import { registerOperatorRoutes } from "../workspaces/operator-routes.ts";
import { registerWorkspaceRoutes } from "../workspaces/workspace-routes.ts";
import { registerMemberRoutes } from "../workspaces/member-routes.ts";
import { registerApiKeyRoutes } from "../workspaces/api-key-routes.ts";
import { registerAppRoutes } from "../apps/app-routes.ts";
import { registerServiceKeyRoutes } from "../apps/service-key-routes.ts";
import { providerClients, providerTimeoutMs } from "../providers/provider-client.ts";
import { createOutboundFetch } from "../http/outbound-fetch.ts";
import { createOutboundRequest, type OutboundRequest } from "../http/outbound-request.ts";
import { identityFetchTimeoutMs } from "../identity/jwks-key-resolver.ts";
import { maxIdentityDocumentBytes } from "../identity/fetch-identity-json.ts";
import { TokenRefresher } from "../refresh/refresh.ts";
import { BackgroundSweep, type Pruner } from "../refresh/sweep.ts";
import { UsageRecorder } from "../connections/usage-recorder.ts";
import { deleteSomeExpiredStates } from "../oauth/oauth-states.ts";
import { registerAuditRoutes } from "../events/audit-routes.ts";
import { WebhookDispatcher } from "../webhooks/dispatcher.ts";
import { registerWebhookRoutes } from "../webhooks/webhook-routes.ts";
import type { AppDeps } from "./deps.ts";
import { registerConsoleRoutes } from "../console/routes.ts";
import { registerConsoleStaticRoutes } from "../console/static-routes.ts";
import { registerConsoleWorkspaceRoutes } from "../console/workspace-routes.ts";

export interface LatchkeyApp {
  app: Hono<AppEnv>;
  /** Where routes are mounted (each one Hono handler running the app's steps); tests add probe routes here. */
  routes: RoutePipeline;
  docs: ApiDocs;
  metrics: Metrics;
  /** Delivers the webhook outbox; not started here (the instance starts it, tests drive it). */
  webhooks: WebhookDispatcher;
  /** The instance's background work (usage writes, refresh sweep, pruning): started by the server, stopped on close. */
  background: BackgroundWork;
}

export interface BackgroundWork {
  usage: UsageRecorder;
  sweep: BackgroundSweep;
  start(): void;
  /** Stops the timers, waits for a sweep in progress and writes the pending usage. */
  stop(): Promise<void>;
}

export function createLatchkeyApp(deps: AppDeps): LatchkeyApp {
  const docs = new ApiDocs();
  const app = new Hono<AppEnv>();
  const metrics = new Metrics();
  metrics.gauge({
    name: "latchkey_change_feed_live",
    help: "1 while this instance sees every change to cached data (LISTEN up); 0: its caches are bypassed",
    collect: (gauge) => gauge.set(undefined, deps.changes.live ? 1 : 0),
  });
  metrics.gauge({
    name: "latchkey_change_feed_losses",
    help: "Times since start the change feed's source (the LISTEN connection) was lost",
    collect: (gauge) => gauge.set(undefined, deps.changes.stats.losses),
  });
  const rateLimits = createRateLimits(deps.config, () => deps.clock.now().getTime());
  const onError = createErrorHandler(deps.logger);
  const routes = new RoutePipeline(app, onError);
  routes.everyRequest(
    requestContext({ logger: deps.logger, metrics: httpMetrics(metrics), authFailures: rateLimits.authFailures }),
  );
  // Every route, not only /api: an OAuth form_post callback or a console route reads bodies too.
  const limitBody = stepFromHono(
    bodyLimit({
      maxSize: deps.config.bodyLimitBytes,
      onError: () => {
        throw payloadTooLarge(`Request body is larger than ${deps.config.bodyLimitBytes} bytes`);
      },
    }),
  );
  routes.everyRequest(() => (c, next) => {
    refuseNulInUrl(c);
    // GET and HEAD cannot carry a body in Fetch; skipping them spares the token hot path the
    // limiter's `c.req.raw.body` read, which makes the node adapter build a full Fetch Request.
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    // A declared length within the limit is all Node's parser reads as this request's body, so the
    // limiter has nothing to add; skipping it lets the adapter hand the body to readJson straight
    // from the socket instead of through a Fetch Request and a web stream (the API proxy's POSTs).
    const declared = c.req.header("content-length");
    if (
      declared !== undefined &&
      /^\d{1,15}$/.test(declared) &&
      Number(declared) <= deps.config.bodyLimitBytes &&
      c.req.header("transfer-encoding") === undefined
    ) {
      return next();
    }
    return limitBody(c, next);
  });
  registerCors(routes);

  const outbound = outboundUses(deps);
  const providers = createProviderResolver({ ...deps, fetch: outbound.providers });
  const clients = providerClients({ ...deps, fetch: outbound.providers });
  const refresher = new TokenRefresher(deps, providers, clients, metrics);
  const usage = new UsageRecorder(deps);
  // Per-instance services, built once and handed to the features with the plain dependencies.
  const services = {
    ...deps,
    fetch: outbound.providers,
    userTokens: createUserTokenVerifier({ ...deps, fetch: outbound.identity }),
    apiProxyOutbound: outbound.apiProxy,
    providers,
    clients,
    refresher,
    usage,
    metrics,
    rateLimits,
  };
  const pruners: Pruner[] = [
    { name: "oauth_states", prune: (now, limit) => deleteSomeExpiredStates(deps, now, limit) },
    // Webhook delivery rows: the webhooks feature adds its pruner of old deliveries here.
  ];
  const sweep = new BackgroundSweep(deps, refresher, pruners, metrics);
  const background: BackgroundWork = {
    usage,
    sweep,
    start() {
      usage.start();
      sweep.start();
    },
    async stop() {
      await sweep.stop();
      await usage.stop();
    },
  };
  const ctx = { routes, deps: services, docs };
  registerOpsRoutes(ctx);
  registerOperatorRoutes(ctx);
  registerWorkspaceRoutes(ctx);
  registerMemberRoutes(ctx);
  registerApiKeyRoutes(ctx);
  registerAppRoutes(ctx);
  registerServiceKeyRoutes(ctx);
  registerIdentityRoutes(ctx);
  registerProviderCatalogRoutes(ctx);
  registerConnectorRoutes(ctx);
  registerOAuthRoutes(ctx);
  registerConnectionRoutes(ctx);
  registerConsoleRoutes(ctx);
  registerConsoleWorkspaceRoutes(ctx);
  registerConsoleStaticRoutes(ctx);
  registerProxyRoutes(ctx);
  registerAuditRoutes(ctx);
  registerWebhookRoutes(ctx);

  routes.mountNotFound((c) => {
    throw noRoute(c.req.method, c.req.path);
  });
  // Errors are answered inside each route's pipeline; this is Hono's own last resort.
  app.onError(onError);
  const webhooks = new WebhookDispatcher({ ...deps, fetch: outbound.webhooks });
  return { app, routes, docs, metrics, background, webhooks };
}

/** Every kind of call this instance makes to other servers, each with its own limits. */
interface OutboundUses {
  /** Token, refresh, revocation, userinfo and lookup calls, and OpenID discovery. */
  providers: typeof fetch;
  /** An app's identity provider: discovery and JWKS for user tokens. */
  identity: typeof fetch;
  webhooks: typeof fetch;
  apiProxy: OutboundRequest;
}

/**
 * Each use's guarded outbound call, built once: no redirects followed, its own time and size
 * limits, the private-network guard (LATCHKEY_DENY_PRIVATE_NETWORK), and its own keep-alive
 * dispatcher. A test's deps.fetch replaces the transport under all of them.
 */
function outboundUses(deps: AppDeps): OutboundUses {
  const { config } = deps;
  const guard = {
    denyPrivateNetwork: config.denyPrivateNetwork,
    ...(deps.lookup !== undefined && { lookup: deps.lookup }),
  };
  const guarded = (limits: { timeoutMs: number; maxResponseBytes?: number }) =>
    createOutboundFetch({ ...guard, ...limits, ...(deps.fetch !== undefined && { fetch: deps.fetch }) });
  return {
    providers: guarded({ timeoutMs: providerTimeoutMs }),
    identity: guarded({ timeoutMs: identityFetchTimeoutMs, maxResponseBytes: maxIdentityDocumentBytes }),
    webhooks: guarded({ timeoutMs: config.webhooks.timeoutMs }),
    apiProxy: createOutboundRequest({
      ...guard,
      ...(deps.fetch !== undefined && { fetch: deps.fetch }),
      timeoutMs: config.proxyTimeoutMs,
      maxResponseBytes: config.proxyMaxResponseBytes,
    }),
  };
}
