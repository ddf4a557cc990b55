import { LRUCache } from "lru-cache";
import type { Change, ChangeFeed } from "../kernel/changes.ts";
import type { Clock } from "../kernel/clock.ts";
import type { ConnectionKey } from "./connection-store.ts";

/** A token answer ready to send, and how long it may be sent as is. */
export interface CachedToken {
  connectionId: string;
  /** The serialized JSON answer (it holds the decrypted access token). */
  body: string;
  /** Its size in UTF-8. */
  bodyBytes: number;
  /**
   * Until when (ms since the epoch, per the instance's clock) the refresh rule would still hand
   * the token out as read: its expiry minus the refresh window; Infinity for tokens that never expire.
   */
  servableUntilMs: number;
}

export interface TokenCacheLimits {
  maxEntries: number;
  maxBytes: number;
}

export interface TokenCacheStats {
  hits: number;
  misses: number;
  /** Lookups made while the change feed was not live (the cache was bypassed). */
  bypassed: number;
}

/** Bytes an entry is charged beyond its answer: its key, the entry object and the LRU's bookkeeping. */
const entryOverheadBytes = 200;

/**
 * Decrypted token answers of this instance, so a token read needs no database round trip. An
 * entry is kept only while the change feed is live and dropped on any change to its connection,
 * its connector or its app (the database announces every one of them, see migration 006), or when
 * the refresh rule would refresh it (checked against the clock on every read). Bounded by entries
 * and bytes, least recently used first out.
 */
export class TokenCache {
  readonly #entries: LRUCache<string, CachedToken> | null;
  readonly stats: TokenCacheStats = { hits: 0, misses: 0, bypassed: 0 };

  constructor(
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    limits: TokenCacheLimits,
  ) {
    this.#entries =
      limits.maxEntries > 0 && limits.maxBytes > 0
        ? new LRUCache<string, CachedToken>({
            max: limits.maxEntries,
            maxSize: limits.maxBytes,
            sizeCalculation: (entry, key) => entry.bodyBytes + key.length * 2 + entryOverheadBytes,
          })
        : null;
    if (this.#entries) feed.subscribe((change) => this.#forget(change));
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** Bytes charged to the entries held (answers plus a fixed overhead each). */
  get bytes(): number {
    return this.#entries?.calculatedSize ?? 0;
  }

  /** The answer for a key, if it may be served now. */
  get(key: ConnectionKey): CachedToken | undefined {
    const entries = this.#entries;
    if (entries === null) return undefined;
    if (!this.feed.live) {
      this.stats.bypassed++;
      return undefined;
    }
    const cacheKey = keyOf(key);
    const entry = entries.get(cacheKey);
    if (entry === undefined) {
      this.stats.misses++;
      return undefined;
    }
    if (this.clock.now().getTime() >= entry.servableUntilMs) {
      entries.delete(cacheKey);
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return entry;
  }

  /** Note this before reading what `set` will store: a change seen meanwhile keeps it out. */
  get generation(): number {
    return this.feed.generation;
  }

  /**
   * Stores an answer read when the feed was at `generation`, unless a change has arrived since
   * (the read may predate it), the feed is not live, or the answer is already due for refresh.
   */
  set(key: ConnectionKey, entry: CachedToken, generation: number): void {
    const entries = this.#entries;
    if (entries === null || !this.feed.live || this.feed.generation !== generation) return;
    if (this.clock.now().getTime() >= entry.servableUntilMs) return;
    entries.set(keyOf(key), entry);
  }

  #forget(change: Change): void {
    const entries = this.#entries;
    if (entries === null) return;
    const row = change.row;
    if (change.table === "connections" && row?.appId !== undefined && row.connectorId !== undefined) {
      if (row.ownerType === "user" || row.ownerType === "app") {
        entries.delete(
          keyOf({ appId: row.appId, connectorId: row.connectorId, ownerType: row.ownerType, userId: row.userId ?? "" }),
        );
        return;
      }
    }
    // A connector (enabled, options), an app, or a change whose rows are unknown: rare, so everything goes.
    if (change.table === "connections" || change.table === "connectors" || change.table === "apps") entries.clear();
    else if (change.table === "*") entries.clear();
  }
}

/** Unambiguous: no id contains NUL (http/refuse-nul-in-url.ts refuses it in any path). */
function keyOf(key: ConnectionKey): string {
  return `${key.appId}\0${key.connectorId}\0${key.ownerType}\0${key.userId}`;
}
