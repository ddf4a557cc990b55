import type { Db } from "../db/open-database.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";

/** What the usage recorder needs. */
export interface UsageRecorderDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
}

/** How often the connections read since the last flush are written, in one UPDATE. */
export const usageFlushMs = 5_000;
/** A connection's `last_used_at` is written at most this often by one instance. */
export const usageWriteEveryMs = 60_000;
/** Ids per UPDATE statement; a bigger flush runs several. */
const idsPerStatement = 1_000;

/**
 * Remembers which connections the token routes handed out, for the background refresh's "used
 * recently". The hot path only calls `touch`: one Map read, at most one Map write, no await, no
 * clock read (the time it compares with is the recorder's own, moved on at each flush). Every
 * `usageFlushMs` the connections touched since the last flush get `last_used_at` in one UPDATE
 * (per 1,000 ids); a connection touched again within `usageWriteEveryMs` of its last write is not
 * written again, so a busy connection costs one write a minute per instance.
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
    for (let start = 0; start < due.length; start += idsPerStatement) {
      const ids = due.slice(start, start + idsPerStatement);
      try {
        await this.deps.db.updateTable("connections").set({ last_used_at: now }).where("id", "in", ids).execute();
      } catch (error) {
        // Not worth retrying: the next touch after the write interval marks them again.
        this.deps.logger.warn({ err: error, connections: ids.length }, "could not record connection usage");
      }
    }
  }
}
