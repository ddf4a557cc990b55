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
  /** Made at the first write: lru-cache allocates its whole capacity up front (~14 ms at start for 100,000). */
  #entries: LRUCache<string, CachedToken> | undefined;
  readonly #limits: TokenCacheLimits | null;
  readonly stats: TokenCacheStats = { hits: 0, misses: 0, bypassed: 0 };
  /**
   * The by-provider keys stored per app: a change to any shared connection of an app drops them
   * all. At most one key per provider name that found a connection, so bounded by connectors.
   */
  readonly #sharedKeysByApp = new Map<string, Set<string>>();

  constructor(
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    limits: TokenCacheLimits,
  ) {
    this.#limits = limits.maxEntries > 0 && limits.maxBytes > 0 ? limits : null;
    if (this.#limits) feed.subscribe((change) => this.#forget(change));
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
    return this.#read(keyOf(key));
  }

  /**
   * The answer of the by-provider route (Base44 `getConnection(provider)`): the app's shared
   * connection that `provider` names, as that route chose it when it read it.
   */
  getShared(appId: string, provider: string): CachedToken | undefined {
    return this.#read(sharedKeyOf(appId, provider));
  }

  #read(cacheKey: string): CachedToken | undefined {
    if (this.#limits === null) return undefined;
    if (!this.feed.live) {
      this.stats.bypassed++;
      return undefined;
    }
    const entries = this.#entries;
    const entry = entries?.get(cacheKey);
    if (entries === undefined || entry === undefined) {
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
    this.#write(keyOf(key), entry, generation);
  }

  /** Stores a by-provider answer (see `getShared`) under the same rule as `set`. */
  setShared(appId: string, provider: string, entry: CachedToken, generation: number): void {
    const cacheKey = sharedKeyOf(appId, provider);
    if (!this.#write(cacheKey, entry, generation)) return;
    let keys = this.#sharedKeysByApp.get(appId);
    if (keys === undefined) {
      keys = new Set();
      this.#sharedKeysByApp.set(appId, keys);
    }
    keys.add(cacheKey);
  }

  #write(cacheKey: string, entry: CachedToken, generation: number): boolean {
    const limits = this.#limits;
    if (limits === null || !this.feed.live || this.feed.generation !== generation) return false;
    if (this.clock.now().getTime() >= entry.servableUntilMs) return false;
    this.#entries ??= new LRUCache<string, CachedToken>({
      max: limits.maxEntries,
      maxSize: limits.maxBytes,
      sizeCalculation: (cached, key) => cached.bodyBytes + key.length * 2 + entryOverheadBytes,
    });
    this.#entries.set(cacheKey, entry);
    return true;
  }

  #forget(change: Change): void {
    const entries = this.#entries;
    if (entries === undefined) return;
    const row = change.row;
    if (change.table === "connections" && row?.appId !== undefined && row.connectorId !== undefined) {
      if (row.ownerType === "user" || row.ownerType === "app") {
        entries.delete(
          keyOf({ appId: row.appId, connectorId: row.connectorId, ownerType: row.ownerType, userId: row.userId ?? "" }),
        );
        // Any shared connection of the app, even a new one, may change which one a provider name picks.
        if (row.ownerType === "app") this.#forgetShared(row.appId);
        return;
      }
    }
    // A connector (enabled, options), an app, or a change whose rows are unknown: rare, so everything goes.
    if (
      change.table === "connections" ||
      change.table === "connectors" ||
      change.table === "apps" ||
      change.table === "*"
    ) {
      entries.clear();
      this.#sharedKeysByApp.clear();
    }
  }

  #forgetShared(appId: string): void {
    const keys = this.#sharedKeysByApp.get(appId);
    if (keys === undefined) return;
    // Keys the LRU evicted meanwhile are deleted again, harmlessly.
    for (const cacheKey of keys) this.#entries?.delete(cacheKey);
    this.#sharedKeysByApp.delete(appId);
  }
}

/** Unambiguous: no id contains NUL (http/refuse-nul-in-url.ts refuses it in any path). */
function keyOf(key: ConnectionKey): string {
  return `${key.appId}\0${key.connectorId}\0${key.ownerType}\0${key.userId}`;
}

/** Never a `keyOf` key: those never have an empty connector id. */
function sharedKeyOf(appId: string, provider: string): string {
  return `${appId}\0\0provider\0${provider}`;
}
