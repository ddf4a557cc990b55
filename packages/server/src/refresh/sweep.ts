import type { Config } from "../config/config.ts";
import { usageLagMs } from "../connections/usage-recorder.ts";
import type { Db } from "../db/open-database.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Metrics } from "../kernel/metrics.ts";
import type { Logger } from "../log/logger.ts";
import type { RefreshOutcome } from "./refresh.ts";

/** What the sweep needs. */
export interface SweepDeps {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
}

/** The refresher's entry for the sweep (TokenRefresher.refreshAhead): the hot path's single flight. */
export interface AheadRefresher {
  refreshAhead(connectionId: string, aheadMs: number): Promise<RefreshOutcome>;
}

/**
 * Removes at most `limit` rows that are no longer needed (expired OAuth states, old webhook
 * deliveries…) and says how many it removed. The sweep calls it again while it fills its batch.
 */
export interface Pruner {
  /** Bounded label value for logs and metrics: what is pruned ("oauth_states"). */
  name: string;
  prune(now: Date, limit: number): Promise<number>;
}

/** Connections claimed per statement. */
export const sweepBatchSize = 50;
/** At most this many claims (and prune batches per pruner) per run: a backlog waits for the next run. */
const maxBatchesPerRun = 10;
/** Rows a pruner removes per statement. */
export const pruneBatchSize = 500;
/** Refreshes run side by side within a batch (each may hold a pooled connection for a provider call). */
const refreshConcurrency = 4;

/** What one run did. */
export interface SweepReport {
  /** Connections this instance claimed and took through the refresher. */
  claimed: number;
  outcomes: Record<RefreshOutcome["kind"], number>;
  /** Rows removed, by pruner name. */
  pruned: Record<string, number>;
}

/**
 * The background loop of one instance: every `LATCHKEY_REFRESH_SWEEP_SECONDS` it refreshes the
 * tokens of recently used connections (`connection_usage.last_used_at` within `LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS`,
 * widened by the usage recorder's lag, see `usageLagMs`)
 * that expire before the next run would find them inside the hot path's refresh window, so token
 * requests rarely wait for a provider and a dead grant is marked `needs_reauth` (by the refresher,
 * as on the hot path) before the user's next request. Then it prunes what other features hand it.
 *
 * Instances share the work through the database: a claim is one statement that picks due rows
 * `FOR UPDATE SKIP LOCKED` and sets a `sweep_claimed_until` lease on them, so no two instances
 * call a provider for the same connection within a lease (a row being refreshed under the hot
 * path's row lock is skipped too). The claim is about load only: the refresh itself goes through
 * the refresher's single flight and row lock, so even an expired lease cannot spend a refresh
 * token twice.
 */
export class BackgroundSweep {
  readonly #outcomes;
  readonly #pruned;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;
  #stopped = false;

  constructor(
    private readonly deps: SweepDeps,
    private readonly refresher: AheadRefresher,
    private readonly pruners: readonly Pruner[],
    metrics: Metrics,
  ) {
    this.#outcomes = metrics.counter<"outcome">({
      name: "latchkey_refresh_sweep_connections_total",
      help: "Connections the background sweep took through the refresher, by outcome",
      labelNames: ["outcome"],
    });
    this.#pruned = metrics.counter<"table">({
      name: "latchkey_pruned_rows_total",
      help: "Rows removed by the background sweep's pruning, by what they were",
      labelNames: ["table"],
    });
  }

  get intervalMs(): number {
    return this.deps.config.refreshSweepSeconds * 1000;
  }

  /** How far ahead of expiry a token is refreshed: the hot path's window plus one sweep interval. */
  get aheadMs(): number {
    return this.deps.config.refreshBeforeSeconds * 1000 + this.intervalMs;
  }

  /** Runs every interval until `stop` (nothing when the interval is 0); the timer never keeps the process alive. */
  start(): void {
    if (this.intervalMs === 0 || this.#timer || this.#stopped) return;
    this.#schedule();
  }

  /** Stops the loop and waits for a run in progress (which stops between connections). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.runOnce()
        .catch((error: unknown) => this.deps.logger.error({ err: error }, "background sweep failed"))
        .finally(() => {
          this.#running = null;
          if (!this.#stopped) this.#schedule();
        });
    }, this.intervalMs);
    this.#timer.unref();
  }

  /** One run: refresh what is due, then prune. Exposed for tests and tools; `start` calls it on a timer. */
  async runOnce(): Promise<SweepReport> {
    const report: SweepReport = {
      claimed: 0,
      outcomes: { fresh: 0, needs_reauth: 0, failed: 0, gone: 0 },
      pruned: {},
    };
    if (this.deps.config.refreshSweepUsedWithinSeconds > 0) await this.#refreshDue(report);
    for (const pruner of this.pruners) {
      if (this.#stopped) break;
      report.pruned[pruner.name] = await this.#prune(pruner);
    }
    const pruned = Object.values(report.pruned).reduce((sum, n) => sum + n, 0);
    if (report.claimed > 0 || pruned > 0) {
      this.deps.logger.info(
        { claimed: report.claimed, ...report.outcomes, pruned: report.pruned },
        "background sweep refreshed and pruned",
      );
    }
    return report;
  }

  async #refreshDue(report: SweepReport): Promise<void> {
    for (let batch = 0; batch < maxBatchesPerRun && !this.#stopped; batch++) {
      const ids = await this.#claim();
      report.claimed += ids.length;
      await eachWithConcurrency(ids, refreshConcurrency, async (id) => {
        if (this.#stopped) return;
        const kind = await this.#refreshOne(id);
        report.outcomes[kind]++;
        this.#outcomes.inc({ outcome: kind });
      });
      if (ids.length < sweepBatchSize) return;
    }
  }

  async #refreshOne(id: string): Promise<RefreshOutcome["kind"]> {
    try {
      return (await this.refresher.refreshAhead(id, this.aheadMs)).kind;
    } catch (error) {
      // The refresher turns provider failures into outcomes; this is the database or a bug.
      this.deps.logger.error({ err: error, connection_id: id }, "background refresh failed");
      return "failed";
    }
  }

  /**
   * Claims a batch of due connections for this instance, in one statement: active, with a
   * refresh token, expiring within `aheadMs`, used within the window (by `connection_usage`, which
   * the FOR UPDATE does not lock: the EXISTS is not in the FROM list), not cooling down after a
   * failed refresh, not claimed by anyone whose lease still runs, and not locked right now (the
   * hot path's refresh, another instance's claim).
   */
  async #claim(): Promise<string[]> {
    const now = this.deps.clock.now();
    const nowMs = now.getTime();
    const leaseUntil = new Date(nowMs + Math.max(2 * this.intervalMs, 60_000));
    // The stored use may lag the last read by the recorder's grain: the window is widened by as much.
    const usedWithin = this.deps.config.refreshSweepUsedWithinSeconds;
    const usedSince = new Date(nowMs - usedWithin * 1000 - usageLagMs(usedWithin));
    const due = this.deps.db
      .selectFrom("connections")
      .select("id")
      .where("status", "=", "active")
      .where("refresh_token", "is not", null)
      .where("expires_at", "<=", new Date(nowMs + this.aheadMs))
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom("connection_usage as u")
            .select("u.connection_id")
            .whereRef("u.connection_id", "=", "connections.id")
            .where("u.last_used_at", ">=", usedSince),
        ),
      )
      .where((eb) => eb.or([eb("refresh_cooldown_until", "is", null), eb("refresh_cooldown_until", "<=", now)]))
      .where((eb) => eb.or([eb("sweep_claimed_until", "is", null), eb("sweep_claimed_until", "<=", now)]))
      .orderBy("expires_at")
      .limit(sweepBatchSize)
      .forUpdate()
      .skipLocked();
    const claimed = await this.deps.db
      .updateTable("connections")
      .set({ sweep_claimed_until: leaseUntil })
      .where("id", "in", due)
      .returning("id")
      .execute();
    return claimed.map((row) => row.id);
  }

  /** Calls the pruner until a batch comes back short, at most `maxBatchesPerRun` times. */
  async #prune(pruner: Pruner): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < maxBatchesPerRun && !this.#stopped; batch++) {
      let removed: number;
      try {
        removed = await pruner.prune(this.deps.clock.now(), pruneBatchSize);
      } catch (error) {
        this.deps.logger.warn({ err: error, table: pruner.name }, "pruning failed");
        break;
      }
      total += removed;
      if (removed > 0) this.#pruned.add({ table: pruner.name }, removed);
      if (removed < pruneBatchSize) break;
    }
    return total;
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachWithConcurrency<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < items.length; index = next++) await work(items[index] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
