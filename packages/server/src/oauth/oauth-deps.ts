import type { Config } from "../config/config.ts";
import type { UserAccessDeps } from "../access/auth.ts";
import type { ConnectionStoreDeps } from "../connections/connection-store.ts";
import type { RateLimits } from "../http/rate-limit.ts";
import type { Metrics } from "../kernel/metrics.ts";
import type { ProviderResolver } from "../providers/provider.ts";
import type { ProviderClientFactory } from "../providers/provider-client.ts";
import type { OAuthStateDeps } from "./oauth-states.ts";

/** What the connect flow (initiate and callback) needs. */
export interface OAuthDeps extends UserAccessDeps, OAuthStateDeps, ConnectionStoreDeps {
  config: Config;
  providers: ProviderResolver;
  clients: ProviderClientFactory;
  rateLimits: RateLimits;
  metrics: Metrics;
}
