import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import { AppError, noRoute } from "../errors/app-error.ts";
import { createErrorHandler } from "../errors/on-error.ts";
import type { Logger } from "../log/logger.ts";
import type { Vault } from "../vault/vault.ts";
import { ApiDocs } from "./api-docs.ts";
import type { Clock } from "./clock.ts";
import { createRateLimits } from "./rate-limit.ts";
import { requestContext } from "./request-context.ts";
import { refuseNulInUrl } from "./refuse-nul-in-url.ts";
import { registerCors } from "./cors.ts";
import type { AppEnv } from "./app-env.ts";
import type { RouteContext } from "./route-context.ts";
import { createProviderResolver } from "../connectors/create-provider-resolver.ts";
import { createUserTokenVerifier } from "../identity/create-user-token-verifier.ts";
import { registerConnectorRoutes } from "../connectors/routes.ts";
import { registerConnectionRoutes } from "../connections/routes.ts";
import { registerOAuthRoutes } from "../oauth/routes.ts";
import { registerIdentityRoutes } from "../identity/routes.ts";
import { httpMetrics } from "../ops/http-metrics.ts";
import { Metrics } from "../ops/metrics.ts";
import { registerOpsRoutes } from "../ops/routes.ts";
import { registerOperatorRoutes } from "../tenancy/operator-routes.ts";
import { registerWorkspaceRoutes } from "../tenancy/workspace-routes.ts";
import { registerConsoleRoutes } from "../console/routes.ts";
import { registerConsoleStaticRoutes } from "../console/static-routes.ts";
import { registerConsoleWorkspaceRoutes } from "../console/workspace-routes.ts";

export interface AppDeps {
  config: Config;
  db: Db;
  dbKind: "postgres" | "embedded";
  vault: Vault;
  logger: Logger;
  clock: Clock;
  /** Every outbound HTTP call goes through this (tests and SSRF guards swap it). */
  fetch: typeof fetch;
}

export interface LatchkeyApp {
  app: Hono<AppEnv>;
  docs: ApiDocs;
  metrics: Metrics;
}

export function createApp(deps: AppDeps): LatchkeyApp {
  const docs = new ApiDocs();
  const app = new Hono<AppEnv>();
  const metrics = new Metrics();
  const rateLimits = createRateLimits(deps.config, () => deps.clock.now().getTime());
  app.use(
    requestContext({ logger: deps.logger, metrics: httpMetrics(metrics), authFailures: rateLimits.authFailures }),
  );
  // Every route, not only /api: an OAuth form_post callback or a console route reads bodies too.
  const limitBody = bodyLimit({
    maxSize: deps.config.bodyLimitBytes,
    onError: () => {
      throw new AppError("PAYLOAD_TOO_LARGE", `Request body is larger than ${deps.config.bodyLimitBytes} bytes`);
    },
  });
  app.use((c, next) => {
    refuseNulInUrl(c);
    // GET and HEAD cannot carry a body in Fetch; skipping them spares the token hot path the
    // limiter's `c.req.raw.body` read, which makes the node adapter build a full Fetch Request.
    return c.req.method === "GET" || c.req.method === "HEAD" ? next() : limitBody(c, next);
  });

  const services = {
    userTokens: createUserTokenVerifier(deps),
    providers: createProviderResolver(deps),
    metrics,
    rateLimits,
  };
  const ctx: RouteContext = { app, deps, docs, services };
  registerCors(app);
  registerOpsRoutes(ctx);
  registerOperatorRoutes(ctx);
  registerWorkspaceRoutes(ctx);
  registerIdentityRoutes(ctx);
  registerConnectorRoutes(ctx);
  registerOAuthRoutes(ctx);
  registerConnectionRoutes(ctx);
  registerConsoleRoutes(ctx);
  registerConsoleWorkspaceRoutes(ctx);
  registerConsoleStaticRoutes(ctx);

  const onError = createErrorHandler(deps.logger);
  // Answered here, not thrown: Hono lets an error thrown by notFound skip the middleware after next().
  app.notFound((c) => onError(noRoute(c.req.method, c.req.path), c));
  app.onError(onError);
  return { app, docs, metrics };
}
