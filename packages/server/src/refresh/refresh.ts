import { sql, type Kysely, type Updateable } from "kysely";
import * as oauth from "oauth4webapi";
import type { ProviderResolver } from "../providers/provider.ts";
import {
  accessTokenContext,
  decryptRefreshToken,
  refreshTokenContext,
  type TokenRow,
} from "../connections/connection-store.ts";
import type { ConnectionRow, ConnectionsTable, Database } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { Vault } from "../vault/vault.ts";
import { expiryFrom, splitScopes } from "../providers/token-values.ts";
import type { ProviderClient, ProviderClientFactory } from "../providers/provider-client.ts";
import {
  classifyProviderFailure,
  failureLogFields,
  isGrantRevoked,
  type ProviderFailure,
} from "../providers/provider-failure.ts";
import type { Metrics } from "../kernel/metrics.ts";
import { inTransaction } from "../db/in-transaction.ts";
import { type EventOrigin, recordConnectionEvent } from "../events/record-event.ts";
import { singleFlightFor } from "./single-flight.ts";
import { isDeadGrant, newCapture } from "../providers/token-answer.ts";

/** What refreshing needs. */
export interface RefreshDeps {
  config: Config;
  db: Db;
  dbKind: "postgres" | "embedded";
  vault: Vault;
  logger: Logger;
  clock: Clock;
}

/** After a failed refresh, no new attempt for this long: a provider outage must not turn into a storm. */
export const refreshCooldownMs = 30_000;

/** What one refresh attempt (by whichever caller or instance made it) left behind. */
export type RefreshOutcome =
  | { kind: "fresh"; row: ConnectionRow }
  | { kind: "needs_reauth" }
  | { kind: "failed"; row: ConnectionRow; code: "PROVIDER_UNAVAILABLE" | "PROVIDER_ERROR"; retryAt: Date }
  | { kind: "gone" };

type ProviderResult =
  | { kind: "refreshed"; tokens: oauth.TokenEndpointResponse }
  | { kind: "failed"; failure: ProviderFailure; deadGrant: boolean };

type Executor = Kysely<Database>;

/**
 * What makes a token due besides the hot path's window: an access token the provider refused
 * (`rejected`), or the background sweep's longer look ahead (`aheadMs`).
 */
interface Due {
  rejected?: string;
  aheadMs?: number;
}

/**
 * Keeps access tokens fresh. A token within `refreshBeforeSeconds` of expiry is refreshed before
 * it is handed out, with at most one refresh per connection in flight:
 *
 * - in this process, a single-flight map keyed by connection id (shared by every app instance on
 *   the same database handle), so concurrent callers wait for one provider call and share it;
 * - across instances (PostgreSQL), the refresh runs in a transaction holding `SELECT … FOR UPDATE`
 *   on the connection row. Whoever gets the lock second re-reads the row, finds the token already
 *   fresh and returns it without calling the provider, so a rotated refresh token is spent once.
 *
 * On embedded PGlite there is one process and one database connection: a transaction held across
 * the provider call would stall every other query (the dialect serialises all statements behind
 * it) for up to the provider timeout. There the single-flight map is the whole guarantee, and the
 * write is still conditional on the row's version so a concurrent change is never overwritten.
 */
export class TokenRefresher {
  readonly #refreshes;

  constructor(
    private readonly deps: RefreshDeps,
    private readonly providers: ProviderResolver,
    private readonly clients: ProviderClientFactory,
    metrics: Metrics,
  ) {
    this.#refreshes = metrics.counter<"outcome">({
      name: "latchkey_token_refreshes_total",
      help: "Token refresh attempts at providers, by outcome",
      labelNames: ["outcome"],
    });
  }

  /**
   * The connection, with an access token that can be handed out: as read when it is not about to
   * expire (the hot path: no query, no write; callers may ask `servableAsRead` first and skip the
   * promise), else after a refresh.
   */
  async usable(row: TokenRow): Promise<TokenRow> {
    if (this.servableAsRead(row)) return row;
    const outcome = await singleFlightFor<RefreshOutcome>(this.deps.db).run(row.id, () => this.#renew(row.id));
    return settle(outcome, this.deps.clock.now());
  }

  /**
   * The provider refused the access token of `row` (an API answered 401) although it had not
   * expired: refresh it now, unless the stored token already differs from the refused one (someone
   * refreshed or reconnected meanwhile). Same single flight and locking as `usable`. A token
   * that cannot be refreshed (no refresh token, provider down) comes back unchanged.
   */
  async renewRejected(row: TokenRow): Promise<TokenRow> {
    if (row.status === "needs_reauth") throw needsReauth();
    const outcome = await singleFlightFor<RefreshOutcome>(this.deps.db).run(row.id, () =>
      this.#renew(row.id, { rejected: row.access_token }),
    );
    if (outcome.kind === "failed") return outcome.row;
    return settle(outcome, this.deps.clock.now());
  }

  /**
   * The background sweep's call: refreshes the connection when its token expires within
   * `aheadMs` (further ahead than the hot path looks), through the same single flight and row
   * lock as `usable`, so a sweep and a token request never refresh one connection twice.
   */
  refreshAhead(id: string, aheadMs: number): Promise<RefreshOutcome> {
    return singleFlightFor<RefreshOutcome>(this.deps.db).run(id, () => this.#renew(id, { aheadMs }));
  }

  /** True when the row's token can be handed out as read; throws when the user must reconnect. */
  servableAsRead(row: TokenRow): boolean {
    if (row.status === "needs_reauth") throw needsReauth();
    return !this.#isExpiring(row, this.deps.clock.now());
  }

  /** The first instant at which `#isExpiring` holds for the row (the token cache keeps it until then). */
  servableUntilMs(row: Pick<ConnectionRow, "expires_at">): number {
    if (row.expires_at === null) return Number.POSITIVE_INFINITY;
    return row.expires_at.getTime() - this.deps.config.refreshBeforeSeconds * 1000;
  }

  /** Due for a refresh: expiring, or still holding an access token the provider refused. */
  #isStale(row: Pick<ConnectionRow, "expires_at" | "access_token">, now: Date, due: Due): boolean {
    return (due.rejected !== undefined && row.access_token === due.rejected) || this.#isExpiring(row, now, due.aheadMs);
  }

  #isExpiring(
    row: Pick<ConnectionRow, "expires_at">,
    now: Date,
    aheadMs = this.deps.config.refreshBeforeSeconds * 1000,
  ): boolean {
    if (row.expires_at === null) return false;
    return row.expires_at.getTime() - now.getTime() <= aheadMs;
  }

  /** The slow path, run once at a time per connection: the whole row, then what it calls for. */
  async #renew(id: string, due: Due = {}): Promise<RefreshOutcome> {
    const seen = await this.deps.db.selectFrom("connections").selectAll().where("id", "=", id).executeTakeFirst();
    if (!seen) return { kind: "gone" };
    if (seen.status === "needs_reauth") return { kind: "needs_reauth" };
    const now = this.deps.clock.now();
    if (!this.#isStale(seen, now, due)) return { kind: "fresh", row: seen };
    if (seen.refresh_token === null) return this.#withoutRefreshToken(seen, now);
    if (seen.refresh_cooldown_until !== null && seen.refresh_cooldown_until > now) {
      return { kind: "failed", row: seen, code: "PROVIDER_UNAVAILABLE", retryAt: seen.refresh_cooldown_until };
    }
    return this.#refresh(seen, due);
  }

  /** Nothing to refresh with: usable until it expires, then only a new consent helps. */
  async #withoutRefreshToken(row: ConnectionRow, now: Date): Promise<RefreshOutcome> {
    if (row.expires_at !== null && row.expires_at > now) return { kind: "fresh", row };
    await markNeedsReauth(this.deps.db, row, "expired_without_refresh_token", now);
    return { kind: "needs_reauth" };
  }

  async #refresh(seen: ConnectionRow, due: Due): Promise<RefreshOutcome> {
    const connector = await this.deps.db
      .selectFrom("connectors")
      .selectAll()
      .where("id", "=", seen.connector_id)
      .executeTakeFirst();
    if (!connector) return { kind: "gone" };
    let client: ProviderClient;
    try {
      client = this.clients(connector, await this.providers.resolve(connector, { connection: seen.connection_config }));
    } catch (error) {
      return this.#record(this.deps.db, seen, {
        kind: "failed",
        failure: classifyProviderFailure(error),
        deadGrant: false,
      });
    }
    // A provider without refresh (Shopify offline tokens): the token is usable until it expires.
    if (!client.provider.refresh.supported) return this.#withoutRefreshToken(seen, this.deps.clock.now());
    if (this.deps.dbKind === "postgres") {
      return this.deps.db.transaction().execute(async (trx) => {
        const current = await trx
          .selectFrom("connections")
          .selectAll()
          .where("id", "=", seen.id)
          .forUpdate()
          .executeTakeFirst();
        return this.#refreshCurrent(trx, current, client, due);
      });
    }
    const current = await this.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("id", "=", seen.id)
      .executeTakeFirst();
    return this.#refreshCurrent(this.deps.db, current, client, due);
  }

  /** With the row as it is now: maybe someone else already refreshed it; else ask the provider. */
  async #refreshCurrent(
    db: Executor,
    current: ConnectionRow | undefined,
    client: ProviderClient,
    due: Due,
  ): Promise<RefreshOutcome> {
    if (!current) return { kind: "gone" };
    if (current.status === "needs_reauth") return { kind: "needs_reauth" };
    const now = this.deps.clock.now();
    if (!this.#isStale(current, now, due)) {
      this.deps.logger.debug(
        { connection_id: current.id },
        "token already refreshed by another caller; not refreshing",
      );
      return { kind: "fresh", row: current };
    }
    if (current.refresh_cooldown_until !== null && current.refresh_cooldown_until > now) {
      return { kind: "failed", row: current, code: "PROVIDER_UNAVAILABLE", retryAt: current.refresh_cooldown_until };
    }
    const result = await this.#callProvider(client, current);
    return this.#record(db, current, result);
  }

  async #callProvider(client: ProviderClient, row: ConnectionRow): Promise<ProviderResult> {
    const refreshToken = decryptRefreshToken(this.deps.vault, row);
    if (refreshToken === null)
      return { kind: "failed", failure: { kind: "rejected", error: "invalid_grant", status: 400 }, deadGrant: true };
    const capture = newCapture();
    const endpoint = client.provider.refresh.endpoint;
    try {
      const response = await oauth.refreshTokenGrantRequest(
        client.as,
        client.client,
        client.clientAuth,
        refreshToken,
        client.tokenHttp(capture, this.deps.clock.now(), endpoint === "" ? undefined : endpoint),
      );
      return { kind: "refreshed", tokens: await oauth.processRefreshTokenResponse(client.as, client.client, response) };
    } catch (error) {
      const failure = classifyProviderFailure(error);
      // The description's dead-grant answers decide; with no answer to read, oauth4webapi's reading does.
      const deadGrant =
        capture.body !== null ? isDeadGrant(capture, client.provider.refresh.deadGrantErrors) : isGrantRevoked(failure);
      return { kind: "failed", failure, deadGrant };
    }
  }

  async #record(db: Executor, row: ConnectionRow, result: ProviderResult): Promise<RefreshOutcome> {
    const now = this.deps.clock.now();
    if (result.kind === "refreshed") {
      this.#refreshes.inc({ outcome: "refreshed" });
      return this.#storeTokens(db, row, result.tokens, now);
    }
    const log = { connection_id: row.id, connector_id: row.connector_id, ...failureLogFields(result.failure) };
    if (result.deadGrant) {
      this.#refreshes.inc({ outcome: "needs_reauth" });
      this.deps.logger.warn(log, "refresh token rejected by the provider: connection needs reauthorization");
      // The row changed meanwhile (a reconnect): the refresh token we spent was not the current one.
      if (!(await markNeedsReauth(db, row, "invalid_grant", now))) return this.#reread(db, row.id);
      return { kind: "needs_reauth" };
    }
    // 5xx, timeouts and anything else unexpected are never the user's fault: cool down, keep the grant.
    this.#refreshes.inc({ outcome: result.failure.kind });
    this.deps.logger.warn(log, "token refresh failed; cooling down");
    const retryAt = new Date(now.getTime() + refreshCooldownMs);
    await db.updateTable("connections").set({ refresh_cooldown_until: retryAt }).where("id", "=", row.id).execute();
    const code = result.failure.kind === "unavailable" ? "PROVIDER_UNAVAILABLE" : "PROVIDER_ERROR";
    return { kind: "failed", row, code, retryAt };
  }

  /**
   * Writes the new tokens and the `connection.refreshed` event in one transaction; a provider that
   * did not rotate the refresh token leaves the old one in place. The provider has already spent
   * the old refresh token: if the full write fails, a minimal one (the new tokens and expiry only,
   * with the same version check) still keeps the rotated refresh token, so no later read replays
   * the spent one, and records the event with it. The full write runs under a savepoint (or in its
   * own transaction when there is none) so its failure does not abort the refresh's transaction.
   */
  async #storeTokens(
    db: Executor,
    row: ConnectionRow,
    tokens: oauth.TokenEndpointResponse,
    now: Date,
  ): Promise<RefreshOutcome> {
    const kept = {
      access_token: this.deps.vault.encrypt(tokens.access_token, accessTokenContext(row.id)),
      ...(tokens.refresh_token !== undefined && {
        refresh_token: this.deps.vault.encrypt(tokens.refresh_token, refreshTokenContext(row.id)),
      }),
      expires_at: expiryFrom(now, tokens.expires_in),
      refresh_cooldown_until: null,
      refreshed_at: now,
      updated_at: now,
    };
    let updated: ConnectionRow | undefined;
    try {
      updated = await underSavepoint(db, "store_refreshed_tokens", async (trx) => {
        const stored = await this.#writeTokens(trx, row, {
          ...kept,
          token_type: tokens.token_type,
          ...(tokens.scope !== undefined && { scopes: JSON.stringify(splitScopes(tokens.scope)) }),
        });
        if (stored) await recordRefreshed(trx, stored, now);
        return stored;
      });
    } catch (error) {
      this.deps.logger.error(
        { connection_id: row.id, err: error },
        "storing the refreshed tokens failed; keeping the new tokens without the other fields",
      );
      updated = await inTransaction(db, async (trx) => {
        const stored = await this.#writeTokens(trx, row, kept);
        if (stored) await this.#recordRefreshedKeepingTokens(trx, stored, now);
        return stored;
      });
    }
    if (updated) return { kind: "fresh", row: updated };
    // Changed under us (embedded only: a reconnect or disconnect meanwhile); the row as it is now wins.
    this.deps.logger.warn({ connection_id: row.id }, "connection changed during refresh; keeping the newer row");
    return this.#reread(db, row.id);
  }

  #writeTokens(
    db: Executor,
    row: ConnectionRow,
    values: Omit<Updateable<ConnectionsTable>, "version">,
  ): Promise<ConnectionRow | undefined> {
    return db
      .updateTable("connections")
      .set((eb) => ({ ...values, version: eb("version", "+", 1) }))
      .where("id", "=", row.id)
      .where("version", "=", row.version)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * The fallback's event: recorded in the tokens' transaction, but under its own savepoint, so a
   * failure to record it (the same fault that broke the full write, say) never costs the rotated
   * refresh token; the missing event is logged instead.
   */
  async #recordRefreshedKeepingTokens(trx: Executor, stored: ConnectionRow, now: Date): Promise<void> {
    try {
      await underSavepoint(trx, "record_refreshed_event", (inner) => recordRefreshed(inner, stored, now));
    } catch (error) {
      this.deps.logger.error(
        { connection_id: stored.id, err: error },
        "recording connection.refreshed failed; the refreshed tokens are kept without the event",
      );
    }
  }

  async #reread(db: Executor, id: string): Promise<RefreshOutcome> {
    const current = await db.selectFrom("connections").selectAll().where("id", "=", id).executeTakeFirst();
    if (!current) return { kind: "gone" };
    return current.status === "needs_reauth" ? { kind: "needs_reauth" } : { kind: "fresh", row: current };
  }
}

/** Refreshes are Latchkey's own doing, whichever request needed the token. */
const bySystem: EventOrigin = { actor: { type: "system" }, requestId: null };

function recordRefreshed(db: Executor, stored: ConnectionRow, now: Date): Promise<void> {
  return recordConnectionEvent(db, { action: "connection.refreshed", connection: stored, origin: bySystem, at: now });
}

/**
 * Runs `work` so that its failure undoes only its own writes: under a savepoint of the caller's
 * transaction, or in a transaction of its own when the caller has none.
 */
async function underSavepoint<T>(db: Executor, name: string, work: (trx: Executor) => Promise<T>): Promise<T> {
  if (!db.isTransaction) return db.transaction().execute(work);
  await sql`savepoint ${sql.id(name)}`.execute(db);
  try {
    const result = await work(db);
    await sql`release savepoint ${sql.id(name)}`.execute(db);
    return result;
  } catch (error) {
    await sql`rollback to savepoint ${sql.id(name)}`.execute(db);
    throw error;
  }
}

/**
 * Marks the row as the user having to connect again, unless it changed since it was read, and
 * records `connection.needs_reauth` in the same transaction; true when it did.
 */
async function markNeedsReauth(
  db: Executor,
  row: Pick<ConnectionRow, "id" | "version">,
  reason: "invalid_grant" | "expired_without_refresh_token",
  now: Date,
): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    const marked = await trx
      .updateTable("connections")
      .set((eb) => ({
        status: "needs_reauth",
        needs_reauth_reason: reason,
        needs_reauth_at: now,
        updated_at: now,
        version: eb("version", "+", 1),
      }))
      .where("id", "=", row.id)
      .where("version", "=", row.version)
      .returningAll()
      .executeTakeFirst();
    if (!marked) return false;
    await recordConnectionEvent(trx, {
      action: "connection.needs_reauth",
      connection: marked,
      origin: bySystem,
      reason,
      at: now,
    });
    return true;
  });
}

/** Turns an outcome into the connection to serve, or the error the caller gets. */
function settle(outcome: RefreshOutcome, now: Date): ConnectionRow {
  switch (outcome.kind) {
    case "fresh":
      return outcome.row;
    case "needs_reauth":
      throw needsReauth();
    case "gone":
      throw new AppError("CONNECTION_NOT_FOUND", "The connection was removed");
    case "failed": {
      // The provider could not refresh, but the token we have is still good for a while: serve it.
      if (outcome.row.expires_at !== null && outcome.row.expires_at > now) return outcome.row;
      const retryAfter = Math.max(1, Math.ceil((outcome.retryAt.getTime() - now.getTime()) / 1000));
      const message =
        outcome.code === "PROVIDER_UNAVAILABLE"
          ? "The provider is unavailable and the access token has expired; retry later"
          : "The provider refused to refresh the access token; retry later";
      throw new AppError(
        outcome.code,
        message,
        { retry_after_seconds: retryAfter },
        { "Retry-After": String(retryAfter) },
      );
    }
  }
}

function needsReauth(): AppError {
  return new AppError(
    "CONNECTION_NEEDS_REAUTH",
    "The provider no longer accepts this connection's grant; the user must connect again",
  );
}
