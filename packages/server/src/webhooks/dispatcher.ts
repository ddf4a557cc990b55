import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { Webhook } from "standardwebhooks";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import type { EventRow, WebhookDeliveryRow, WebhookRow } from "../db/schema.ts";
import { OutboundError } from "../http/outbound-fetch.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { Vault } from "../vault/vault.ts";
import { retryDelayMs } from "./retry-schedule.ts";
import { signingSecrets } from "./webhook-store.ts";

/** What delivering webhooks needs. `fetch` is the guarded outbound fetch (private-network guard, no redirects, size cap). */
export interface WebhookDispatchDeps {
  config: Pick<Config, "webhooks">;
  db: Db;
  vault: Vault;
  clock: Clock;
  fetch: typeof fetch;
  logger: Logger;
}

export interface DispatcherOptions {
  /** How often an idle dispatcher looks for due deliveries. */
  pollIntervalMs?: number;
  /** Deliveries claimed per round. */
  batchSize?: number;
  /**
   * How long a claim holds a delivery. An instance that dies mid-delivery leaves its claim to
   * expire; another instance takes the delivery over after this (well within 60 s).
   */
  leaseMs?: number;
  /** Jitter source for the retry schedule (tests pin it). */
  random?: () => number;
}

export interface ClaimedDelivery {
  delivery: WebhookDeliveryRow;
  leaseToken: string;
}

export type AttemptOutcome = "delivered" | "retrying" | "failed" | "lost_lease";

const defaultLeaseMs = 30_000;

/**
 * Delivers the outbox: any instance claims due deliveries with `SELECT … FOR UPDATE SKIP LOCKED`
 * and a lease, POSTs them signed as Standard Webhooks prescribes, and records the outcome: delivered,
 * a retry on the configured schedule, or failed once the retry window is over. A delivery waits
 * while an earlier event of the same connection is still pending for that webhook, so a receiver
 * sees each connection's events in order. At least once: a delivery whose claim lapsed (a crash,
 * a lost answer) is sent again with the same `webhook-id`, which receivers use to deduplicate.
 */
export class WebhookDispatcher {
  readonly #pollIntervalMs: number;
  readonly #batchSize: number;
  readonly #leaseMs: number;
  readonly #random: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(
    private readonly deps: WebhookDispatchDeps,
    options: DispatcherOptions = {},
  ) {
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#batchSize = options.batchSize ?? 20;
    this.#leaseMs = options.leaseMs ?? Math.max(defaultLeaseMs, deps.config.webhooks.timeoutMs + 10_000);
    this.#random = options.random ?? Math.random;
  }

  /** Starts polling; each round runs after the previous one ended. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops polling and waits for the round in flight; its claims are released by their leases if cut short. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce()
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, "webhook delivery round failed"))
        .then((count) =>
          this.#schedule(typeof count === "number" && count >= this.#batchSize ? 0 : this.#pollIntervalMs),
        );
    }, delayMs);
    this.#timer.unref();
  }

  /** One round: claims what is due and delivers it. Resolves to the number of deliveries attempted. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim(this.#batchSize);
    await Promise.all(claimed.map((claim) => this.attempt(claim)));
    return claimed.length;
  }

  /**
   * Claims up to `limit` due deliveries for this instance: pending, due, not under another live
   * lease, of an enabled webhook, and with no earlier pending event of the same connection for the
   * same webhook. Rows another instance is claiming right now are skipped, not waited for.
   */
  async claim(limit: number): Promise<ClaimedDelivery[]> {
    const now = this.deps.clock.now();
    const leaseToken = randomUUID();
    const rows = await this.deps.db.transaction().execute(async (trx) => {
      const due = await trx
        .selectFrom("webhook_deliveries as d")
        .innerJoin("webhooks as w", "w.id", "d.webhook_id")
        .select("d.id")
        .where("d.state", "=", "pending")
        .where("d.next_attempt_at", "<=", now)
        .where((eb) => eb.or([eb("d.lease_until", "is", null), eb("d.lease_until", "<=", now)]))
        .where("w.status", "=", "enabled")
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom("webhook_deliveries as e")
                .select(sql.lit(1).as("one"))
                .whereRef("e.webhook_id", "=", "d.webhook_id")
                .whereRef("e.ordering_key", "=", "d.ordering_key")
                .where("e.state", "=", "pending")
                .whereRef("e.event_seq", "<", "d.event_seq"),
            ),
          ),
        )
        .orderBy("d.next_attempt_at")
        .orderBy("d.event_seq")
        .limit(limit)
        .forUpdate("d")
        .skipLocked()
        .execute();
      if (due.length === 0) return [];
      return trx
        .updateTable("webhook_deliveries")
        .set((eb) => ({
          lease_until: new Date(now.getTime() + this.#leaseMs),
          lease_token: leaseToken,
          attempts: eb("attempts", "+", 1),
        }))
        .where(
          "id",
          "in",
          due.map((row) => row.id),
        )
        .returningAll()
        .execute();
    });
    return rows.map((delivery) => ({ delivery, leaseToken }));
  }

  /** Sends one claimed delivery and records what happened, unless the claim lapsed meanwhile. */
  async attempt(claim: ClaimedDelivery): Promise<AttemptOutcome> {
    const { delivery } = claim;
    const found = await this.deps.db
      .selectFrom("events")
      .selectAll()
      .where("id", "=", delivery.event_id)
      .executeTakeFirst();
    const webhook = await this.deps.db
      .selectFrom("webhooks")
      .selectAll()
      .where("id", "=", delivery.webhook_id)
      .executeTakeFirst();
    if (!found || !webhook) return "lost_lease";
    const sentAt = this.deps.clock.now();
    const result = await this.#send(webhook, delivery, found, sentAt);
    return this.#record(claim, result, sentAt);
  }

  async #send(
    webhook: WebhookRow,
    delivery: WebhookDeliveryRow,
    event: EventRow,
    sentAt: Date,
  ): Promise<{ ok: boolean; status: number | null; error: string | null }> {
    const payload = webhookPayload(event);
    const signature = signingSecrets(this.deps.vault, webhook, sentAt)
      .map((secret) => new Webhook(secret).sign(delivery.id, sentAt, payload))
      .join(" ");
    try {
      const response = await this.deps.fetch(webhook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Latchkey-Webhooks",
          "webhook-id": delivery.id,
          "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
          "webhook-signature": signature,
        },
        body: payload,
        signal: AbortSignal.timeout(this.deps.config.webhooks.timeoutMs),
      });
      // Read (and drop) the answer so the connection can be reused; the outbound fetch caps its size.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status, error: null };
      const error = response.status >= 300 && response.status < 400 ? "redirects are not followed" : null;
      return { ok: false, status: response.status, error: error ?? `HTTP ${response.status}` };
    } catch (error) {
      return { ok: false, status: null, error: describeFailure(error, this.deps.config.webhooks.timeoutMs) };
    }
  }

  async #record(
    claim: ClaimedDelivery,
    result: { ok: boolean; status: number | null; error: string | null },
    sentAt: Date,
  ): Promise<AttemptOutcome> {
    const { delivery } = claim;
    const now = this.deps.clock.now();
    const { retryForMs } = this.deps.config.webhooks;
    const windowOver = now.getTime() >= delivery.retry_window_from.getTime() + retryForMs;
    const outcome: AttemptOutcome = result.ok ? "delivered" : windowOver ? "failed" : "retrying";
    const update = await this.deps.db
      .updateTable("webhook_deliveries")
      .set({
        state: outcome === "retrying" ? "pending" : (outcome as "delivered" | "failed"),
        last_attempt_at: sentAt,
        last_status: result.status,
        last_error: result.error,
        lease_until: null,
        lease_token: null,
        ...(outcome === "delivered" && { delivered_at: now }),
        ...(outcome === "retrying" && {
          next_attempt_at: new Date(
            now.getTime() + retryDelayMs(delivery.attempts, this.deps.config.webhooks, this.#random),
          ),
        }),
      })
      .where("id", "=", delivery.id)
      .where("lease_token", "=", claim.leaseToken)
      .executeTakeFirst();
    if (update.numUpdatedRows === 0n) {
      // Our claim lapsed and another instance took the delivery over: its outcome wins.
      this.deps.logger.warn(
        { delivery_id: delivery.id },
        "webhook delivery claim lapsed before its outcome was recorded",
      );
      return "lost_lease";
    }
    const log = {
      delivery_id: delivery.id,
      webhook_id: delivery.webhook_id,
      attempts: delivery.attempts,
      status: result.status,
      error: result.error,
    };
    if (outcome === "failed") this.deps.logger.warn(log, "webhook delivery failed for good");
    else if (outcome === "retrying") this.deps.logger.info(log, "webhook delivery attempt failed; will retry");
    else this.deps.logger.debug(log, "webhook delivered");
    return outcome;
  }
}

/** The body receivers get: `{type, timestamp, data}`, the same bytes on every attempt. */
export function webhookPayload(event: EventRow): string {
  return JSON.stringify({ type: event.action, timestamp: event.created_at.toISOString(), data: event.data });
}

/** A short, secret-free reason for a failed attempt (no response body, no URL path or query). */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof OutboundError) return `${error.reason}: ${error.message}`.slice(0, 300);
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `timeout: no answer within ${timeoutMs} ms`;
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? error.cause : null;
    const code = cause ? (cause as NodeJS.ErrnoException).code : undefined;
    return `network: ${code ?? cause?.message ?? error.message}`.slice(0, 300);
  }
  return "network: request failed";
}
