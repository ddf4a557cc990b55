import { LRUCache } from "lru-cache";
import type { ChangeFeed } from "./changes.ts";

/** Which database changes empty a cache (see kernel/changes.ts). */
export interface FollowedChanges {
  feed: ChangeFeed;
  tables: readonly string[];
}

/**
 * A per-instance cache whose entries expire after a time-to-live and whose size is capped (the
 * least recently used entry goes first). A TTL of 0 or less stores nothing, so callers can turn it off.
 *
 * Eviction is lru-cache's, O(1). A Map evicting its first key (`keys().next()`) is not: V8 leaves
 * deleted entries in place until the table is rebuilt, and the iterator walks past each of them,
 * so a full cache with a steady stream of new keys (the vault's data keys over a million
 * connections) spent ~9 µs per insertion there.
 *
 * Following a change feed, it also forgets everything when one of `tables` changes (on any
 * instance), and holds nothing while the feed is not live; callers then pass the generation they
 * noted before their read to `set`, so a value read before a change is not stored after it.
 */
export class TtlCache<Value> {
  /** Made at the first `set`: lru-cache allocates its whole capacity up front, which a start should not pay for. */
  #entries: LRUCache<string, { value: Value; expiresAt: number }> | undefined;
  readonly #maxEntries: number;
  readonly #follows: FollowedChanges | undefined;

  constructor(maxEntries: number, follows?: FollowedChanges) {
    this.#maxEntries = Math.max(1, maxEntries);
    this.#follows = follows;
    if (follows) {
      const tables = new Set(follows.tables);
      follows.feed.subscribe((change) => {
        if (change.table === "*" || tables.has(change.table)) this.#entries?.clear();
      });
    }
  }

  /** The feed's generation, to note before reading a value to `set` (0 without a feed). */
  get generation(): number {
    return this.#follows?.feed.generation ?? 0;
  }

  get(key: string): Value | undefined {
    const entry = this.#entries?.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry.value;
    this.#entries?.delete(key);
    return undefined;
  }

  set(key: string, value: Value, ttlMs: number, generation = this.generation): void {
    if (ttlMs <= 0) return;
    const follows = this.#follows;
    if (follows && (!follows.feed.live || follows.feed.generation !== generation)) return;
    this.#entries ??= new LRUCache({ max: this.#maxEntries });
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }
}
