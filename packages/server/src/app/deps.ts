import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import type { LookupAll } from "../http/outbound-fetch.ts";
import type { Clock } from "../kernel/clock.ts";
import type { ChangeFeed } from "../kernel/changes.ts";
import type { Logger } from "../log/logger.ts";
import type { Vault } from "../vault/vault.ts";

/**
 * What one instance is built from. A leaf: it imports no feature. Each feature states the
 * narrow part it needs as its own interface; this type satisfies all of them.
 */
export interface AppDeps {
  config: Config;
  db: Db;
  dbKind: "postgres" | "embedded";
  /** The database handle's change feed: caches that must see other instances' writes subscribe. */
  changes: ChangeFeed;
  vault: Vault;
  logger: Logger;
  clock: Clock;
  /**
   * Tests only: the transport under every outbound use (provider calls, identity documents,
   * webhooks, API proxy), e.g. to route a catalog host to an emulator. Absent, each use sends over
   * its own keep-alive dispatcher.
   */
  fetch?: typeof fetch;
  /**
   * Tests only: resolves host names for the private-network guard of every outbound use, e.g. as
   * a rebinding DNS server would answer. Absent, the system resolver.
   */
  lookup?: LookupAll;
}
