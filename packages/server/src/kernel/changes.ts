/**
 * A change to a table that per-instance caches depend on. `row` names the changed row's ids when
 * they are known (a database trigger's announcement); without it any row of `table` may have
 * changed. `table: "*"` means anything may have changed (the feed has just (re)subscribed).
 */
export interface Change {
  table: string;
  row?: ChangedRow;
}

export interface ChangedRow {
  id: string;
  appId?: string;
  connectorId?: string;
  ownerType?: string;
  userId?: string;
}

export type ChangeListener = (change: Change) => void;

/** Where a feed's changes come from, for logs and metrics. */
export interface ChangeFeedStats {
  /** Times the source was lost (the LISTEN connection dropped). */
  losses: number;
  /** Times the source was (re)established and every subscriber told to forget everything. */
  subscriptions: number;
}

/**
 * The one invalidation channel of a database handle: the database's change announcements
 * (LISTEN/NOTIFY on PostgreSQL, PGlite's in-process notifications embedded) and this process's
 * own writes, fanned out to every cache that subscribes. Caches may hold entries only while the
 * feed is `live`: while its source is lost, changes could go unseen, so they must read through.
 *
 * `generation` grows with every change. A cache that fills an entry from a read notes the
 * generation before the read and stores the entry only if no change arrived meanwhile, so a
 * value read just before a change is never kept after it.
 */
export class ChangeFeed {
  readonly #listeners = new Set<ChangeListener>();
  #live: boolean;
  #generation = 0;
  readonly stats: ChangeFeedStats = { losses: 0, subscriptions: 0 };

  constructor(options: { live: boolean }) {
    this.#live = options.live;
  }

  get live(): boolean {
    return this.#live;
  }

  get generation(): number {
    return this.#generation;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(change: Change): void {
    this.#generation++;
    for (const listener of this.#listeners) listener(change);
  }

  /** The source is lost: caches stop serving and forget what they hold (it may go stale unseen). */
  lost(): void {
    if (!this.#live) return;
    this.#live = false;
    this.stats.losses++;
    this.publish({ table: "*" });
  }

  /**
   * The source is listening (again): every change from now on will be seen, but some may have
   * been missed before, so caches forget everything first and only then may serve again.
   */
  subscribed(): void {
    this.publish({ table: "*" });
    this.stats.subscriptions++;
    this.#live = true;
  }
}
