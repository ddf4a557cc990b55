import type { Config } from "../config/config.ts";
import type { UserAccessDeps } from "../access/auth.ts";
import type { Metrics } from "../kernel/metrics.ts";
import type { ProviderResolver } from "../providers/provider.ts";
import type { ProviderClientFactory } from "../providers/provider-client.ts";
import type { ConnectionStoreDeps, TokenRow } from "./connection-store.ts";

/**
 * Hands out a usable token for a stored row, refreshing it first when needed. The refresh feature
 * implements it; connections only call it (the arrow points from refresh to connections).
 */
export interface TokenSource {
  /** True when the row's token can be answered as read, without a refresh and without a promise. */
  servableAsRead(row: TokenRow): boolean;
  /**
   * Until when (ms since the epoch) `servableAsRead` keeps answering true for this row as it is:
   * its expiry minus the refresh window, Infinity for a token that never expires.
   */
  servableUntilMs(row: Pick<TokenRow, "expires_at">): number;
  usable(row: TokenRow): Promise<TokenRow>;
}

/** Notes that a connection's token was handed out (UsageRecorder): synchronous, never awaited. */
export interface ConnectionUsage {
  touch(connectionId: string): void;
}

/** What the connection routes need. */
export interface ConnectionDeps extends UserAccessDeps, ConnectionStoreDeps {
  config: Config;
  providers: ProviderResolver;
  clients: ProviderClientFactory;
  refresher: TokenSource;
  usage: ConnectionUsage;
  metrics: Metrics;
}
