import type { Hono } from "hono";
import type { ProviderResolver } from "../connectors/provider.ts";
import type { UserTokenVerifier } from "../identity/user-token-verifier.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { ApiDocs } from "./api-docs.ts";
import type { AppDeps } from "./app.ts";
import type { AppEnv } from "./app-env.ts";
import type { RateLimits } from "./rate-limit.ts";

/** Per-instance services built once in createApp and shared by the route modules. */
export interface Services {
  userTokens: UserTokenVerifier;
  providers: ProviderResolver;
  /** This instance's Prometheus registry: `metrics.counter({...})` / `histogram` / `gauge` (idempotent by name). */
  metrics: Metrics;
  /** This instance's rate limits (in memory: per instance). */
  rateLimits: RateLimits;
}

/** What every feature's `register…Routes(ctx)` receives. */
export interface RouteContext {
  app: Hono<AppEnv>;
  deps: AppDeps;
  docs: ApiDocs;
  services: Services;
}
