import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import { AppError } from "../errors/app-error.ts";
import { createErrorHandler } from "../errors/on-error.ts";
import type { Logger } from "../log/logger.ts";
import type { Vault } from "../vault/vault.ts";
import { ApiDocs } from "./api-docs.ts";
import type { Clock } from "./clock.ts";
import { requestContext } from "./request-context.ts";
import type { AppEnv } from "./app-env.ts";
import type { RouteContext } from "./route-context.ts";
import { createProviderResolver } from "../connectors/create-provider-resolver.ts";
import { createUserTokenVerifier } from "../identity/create-user-token-verifier.ts";
import { registerConnectorRoutes } from "../connectors/routes.ts";
import { registerConnectionRoutes } from "../connections/routes.ts";
import { registerOAuthRoutes } from "../oauth/routes.ts";
import { registerIdentityRoutes } from "../identity/routes.ts";
import { registerOpsRoutes } from "../ops/routes.ts";
import { registerOperatorRoutes } from "../tenancy/operator-routes.ts";
import { registerWorkspaceRoutes } from "../tenancy/workspace-routes.ts";

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
}

export function createApp(deps: AppDeps): LatchkeyApp {
  const docs = new ApiDocs();
  const app = new Hono<AppEnv>();
  app.use(requestContext(deps.logger));
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: deps.config.bodyLimitBytes,
      onError: () => {
        throw new AppError("PAYLOAD_TOO_LARGE", `Request body is larger than ${deps.config.bodyLimitBytes} bytes`);
      },
    }),
  );

  const services = { userTokens: createUserTokenVerifier(deps), providers: createProviderResolver(deps) };
  const ctx: RouteContext = { app, deps, docs, services };
  registerOpsRoutes(ctx);
  registerOperatorRoutes(ctx);
  registerWorkspaceRoutes(ctx);
  registerIdentityRoutes(ctx);
  registerConnectorRoutes(ctx);
  registerOAuthRoutes(ctx);
  registerConnectionRoutes(ctx);

  app.notFound((c) => {
    throw new AppError("NOT_FOUND", `No route for ${c.req.method} ${c.req.path}`);
  });
  app.onError(createErrorHandler(deps.logger));
  return { app, docs };
}
