import { sql } from "kysely";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";

/** What the usage recorder needs. */
export interface UsageRecorderDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, "refreshSweepUsedWithinSeconds">;
}

/** How often the connections read since the last flush are written. */
export const usageFlushMs = 5_000;
/** One instance sends a connection's use to the database at most this often. */
export const usageWriteEveryMs = 60_000;
/** The coarsest grain: a connection read all the time is written about once an hour, whatever the window. */
const maxGrainMs = 3_600_000;
/** Ids per statement (one array parameter each); a bigger flush runs several. */
const idsPerStatement = 5_000;

/**
 * A stored use younger than this is not written again: a tenth of the sweep's "used within"
 * window, at most an hour (with background refresh off nothing reads it, so the coarsest grain).
 */
export function usageGrainMs(usedWithinSeconds: number): number {
  return usedWithinSeconds > 0 ? Math.min(usedWithinSeconds * 100, maxGrainMs) : maxGrainMs;
}

/**
 * How much older than a connection's last token read its stored `last_used_at` can be, once the
 * flush after the read has run: the grain, plus the in-memory interval within which one instance
 * does not send it again, plus one flush interval (the time it compares with moves on at each
 * flush). The sweep widens its window by this, so every connection read within the window stays
 * eligible (and some read up to this much earlier are too).
 */
export function usageLagMs(usedWithinSeconds: number): number {
  return usageGrainMs(usedWithinSeconds) + usageWriteEveryMs + usageFlushMs;
}

/**
 * Remembers which connections the token routes handed out, for the background refresh's "used
 * recently" (the only reader of `connection_usage`). The hot path only calls `touch`: one Map
 * read, at most one Map write, no await, no clock read (the time it compares with is the
 * recorder's own, moved on at each flush), and no write to the connections table.
 *
 * Every `usageFlushMs` the connections touched since the last flush are written to
 * `connection_usage` (migration 007 says why it is a table of its own) in two statements per
 * 5,000 ids: an UPDATE of the rows whose stored use is older than the grain (`usageGrainMs`; the
 * others are not even locked) and an INSERT … ON CONFLICT DO NOTHING of the connections used for
 * the first time. So a connection read all the time costs one write per grain for all instances
 * together, not one per minute per instance, and a first use is an append to a narrow table. A
 * connection touched again within `usageWriteEveryMs` of being marked is not sent again, which
 * keeps the statements small for busy connections. Ids go sorted, so two instances writing the
 * same connections at once take their rows in the same order and cannot deadlock.
 */
export class UsageRecorder {
  /** Connection id → the recorder time (`#nowMs`) at which it was last marked for a write. */
  readonly #marked = new Map<string, number>();
  #nowMs: number;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: UsageRecorderDeps) {
    this.#nowMs = deps.clock.now().getTime();
  }

  /** The token routes' call: notes that the connection's token was handed out. */
  touch(connectionId: string): void {
    const marked = this.#marked.get(connectionId);
    if (marked !== undefined && this.#nowMs - marked < usageWriteEveryMs) return;
    this.#marked.set(connectionId, this.#nowMs);
  }

  /** Flushes every `usageFlushMs` until `stop`; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), usageFlushMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.flush();
  }

  /** Writes `last_used_at` of the connections marked since the last flush (one flush at a time). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flush());
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const markedAt = this.#nowMs;
    const now = this.deps.clock.now();
    // From here on, touches are marked with the new time (strictly later, whatever the clock does)
    // and belong to the next flush.
    this.#nowMs = Math.max(now.getTime(), markedAt + 1);
    const due: string[] = [];
    for (const [id, at] of this.#marked) {
      if (at === markedAt) due.push(id);
      // Past the write interval the entry no longer suppresses anything: forget it (bounds the map).
      else if (this.#nowMs - at >= usageWriteEveryMs) this.#marked.delete(id);
    }
    due.sort();
    const staleBefore = new Date(now.getTime() - usageGrainMs(this.deps.config.refreshSweepUsedWithinSeconds));
    for (let start = 0; start < due.length; start += idsPerStatement) {
      const ids = due.slice(start, start + idsPerStatement);
      try {
        await this.#write(ids, now, staleBefore);
      } catch (error) {
        // Not worth retrying: the next touch after the write interval marks them again.
        this.deps.logger.warn({ err: error, connections: ids.length }, "could not record connection usage");
      }
    }
  }

  /** Records `now` as the last use of `ids` (sorted) where none is stored or the stored one is older than `staleBefore`. */
  async #write(ids: string[], now: Date, staleBefore: Date): Promise<void> {
    const { db } = this.deps;
    await db
      .updateTable("connection_usage")
      .set({ last_used_at: now })
      .where((eb) => eb("connection_id", "=", eb.fn.any(eb.val(ids))))
      .where("last_used_at", "<", staleBefore)
      .execute();
    await db
      .insertInto("connection_usage")
      .columns(["connection_id", "last_used_at"])
      .expression(sql<never>`select id, ${now}::timestamptz from unnest(${ids}::text[]) as id`)
      .onConflict((conflict) => conflict.column("connection_id").doNothing())
      .execute();
  }
}
