/**
 * In-process rate limits against floods (THREATS.md "Floods"): per client IP on the connect,
 * callback and user-token routes, per app user on connect, per service key on minting user tokens,
 * and per client IP on failed authentication.
 *
 * Limits are kept per instance, in memory: with N instances behind a load balancer a client can
 * get up to N× a limit. That is good enough against floods, which is what these are for, and keeps
 * every check free of database and network round trips. Memory is bounded: each limiter tracks at
 * most `maxKeys` keys, dropping those idle for a whole window first, then the least recently used.
 */
import type { Context } from "hono";
import { LRUCache } from "lru-cache";
import type { Config } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv } from "./app-env.ts";
import { clientIp } from "./client-ip.ts";
import type { Step } from "./route-pipeline.ts";
import { requestLog } from "./request-context.ts";

const windowMs = 60_000;
/** Refills are fractions: this much less than a unit still counts as a unit. */
const tolerance = 1e-9;

/** Per limiter. A key costs under 400 bytes (user ids are at most 255 characters): ~20 MB at worst. */
export const defaultMaxTrackedKeys = 50_000;

export interface RateLimiterOptions {
  /** Allowance per minute; 0 turns the limiter off. */
  perMinute: number;
  /** Milliseconds since the epoch (the app's clock, so tests can move time). */
  now: () => number;
  /** Starts the 429 message, e.g. "Too many requests from this address". */
  refusal: string;
  maxKeys?: number;
  /**
   * Once the allowance is used up, refuse until all of it is back (a full window) instead of
   * until the next unit is: a lockout, for failed authentications.
   */
  lockOutWhenEmpty?: boolean;
}

interface Bucket {
  tokens: number;
  /** Last time the bucket was refilled and used; the cache keeps buckets in this order. */
  updatedAt: number;
  lockedOut: boolean;
}

/**
 * A token bucket per key: `perMinute` units, refilled continuously at `perMinute` a minute, so a
 * burst of the whole allowance and then one every 60/perMinute seconds.
 */
export class RateLimiter {
  /**
   * Least recently used first: lru-cache, whose eviction and oldest-first walk are O(1) a step. A
   * Map kept in that order by delete-and-set is not: V8 leaves each deleted entry in place until the
   * table is rebuilt, and a walk from the front passes every one of them. Made at the first key:
   * lru-cache allocates its whole capacity up front (~7 ms for 50,000), which a start should not pay.
   */
  #buckets: LRUCache<string, Bucket> | undefined;
  readonly #maxKeys: number;
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #refusal: string;
  readonly #lockOutWhenEmpty: boolean;
  #lastSpentAt = Number.NEGATIVE_INFINITY;

  constructor(options: RateLimiterOptions) {
    this.#capacity = options.perMinute;
    this.#now = options.now;
    this.#refusal = options.refusal;
    this.#maxKeys = Math.max(1, options.maxKeys ?? defaultMaxTrackedKeys);
    this.#lockOutWhenEmpty = options.lockOutWhenEmpty ?? false;
  }

  get enabled(): boolean {
    return this.#capacity > 0;
  }

  get trackedKeys(): number {
    return this.#buckets?.size ?? 0;
  }

  /** Spends one unit of `key`'s allowance, or throws RATE_LIMITED with Retry-After when none is left. */
  take(key: string): void {
    if (!this.enabled) return;
    const now = this.#now();
    const bucket = this.#touch(key, now);
    const waitMs = this.#waitMs(bucket.tokens, bucket.lockedOut);
    if (waitMs > 0) throw this.#refuse(waitMs);
    this.#spend(bucket, now);
  }

  /**
   * Spends one unit without refusing: for something that already happened, such as a failed sign-in.
   * Returns whether this started a lockout (lockOutWhenEmpty).
   */
  record(key: string): boolean {
    if (!this.enabled) return false;
    const now = this.#now();
    const bucket = this.#touch(key, now);
    const wasLockedOut = bucket.lockedOut;
    this.#spend(bucket, now);
    return bucket.lockedOut && !wasLockedOut;
  }

  /** Throws RATE_LIMITED when `key` would be refused now; spends nothing. */
  check(key: string): void {
    if (!this.isTracking()) return;
    const bucket = this.#buckets?.peek(key);
    if (!bucket) return;
    const waitMs = this.#waitMs(this.#refilled(bucket, this.#now()), bucket.lockedOut);
    if (waitMs > 0) throw this.#refuse(waitMs);
  }

  /**
   * Whether any key could be refused now. O(1); with nothing tracked it reads neither the clock nor
   * anything else, so a hot path can skip working out its key.
   */
  isTracking(): boolean {
    if (this.#buckets === undefined || this.#buckets.size === 0) return false;
    if (this.#now() - this.#lastSpentAt < windowMs) return true;
    // Every bucket has refilled since: tracking them any longer would change no answer.
    this.#buckets.clear();
    return false;
  }

  #spend(bucket: Bucket, now: number): void {
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    if (this.#lockOutWhenEmpty && 1 - bucket.tokens > tolerance) bucket.lockedOut = true;
    this.#lastSpentAt = now;
  }

  /** The key's bucket refilled up to now and moved to the newest end; created (evicting if full) when new. */
  #touch(key: string, now: number): Bucket {
    this.#buckets ??= new LRUCache({ max: this.#maxKeys });
    const buckets = this.#buckets;
    this.#dropIdle(buckets, now);
    const existing = buckets.get(key);
    if (existing) {
      existing.tokens = this.#refilled(existing, now);
      if (this.#capacity - existing.tokens <= tolerance) existing.lockedOut = false;
      existing.updatedAt = now;
      return existing;
    }
    // At maxKeys, setting a new key evicts the least recently used one.
    const bucket = { tokens: this.#capacity, updatedAt: now, lockedOut: false };
    buckets.set(key, bucket);
    return bucket;
  }

  #refilled(bucket: Bucket, now: number): number {
    // (elapsed × capacity) / window stays exact for whole windows, so a full window always refills all.
    const refill = (Math.max(0, now - bucket.updatedAt) * this.#capacity) / windowMs;
    return Math.min(this.#capacity, bucket.tokens + refill);
  }

  #waitMs(tokens: number, lockedOut: boolean): number {
    const missing = (lockedOut ? this.#capacity : 1) - tokens;
    return missing <= tolerance ? 0 : (missing * windowMs) / this.#capacity;
  }

  /** Buckets untouched for a window are full again, the same as absent. Oldest first, so this stops early. */
  #dropIdle(buckets: LRUCache<string, Bucket>, now: number): void {
    const idle: string[] = [];
    for (const key of buckets.rkeys()) {
      const bucket = buckets.peek(key);
      if (bucket && now - bucket.updatedAt < windowMs) break;
      idle.push(key);
    }
    for (const key of idle) buckets.delete(key);
  }

  #refuse(waitMs: number): AppError {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000 - tolerance));
    return new AppError("RATE_LIMITED", `${this.#refusal}; try again in ${seconds} s`, undefined, {
      "Retry-After": String(seconds),
    });
  }
}

/**
 * Failed authentications per client IP. The auth middlewares call `refuseIfLockedOut` before
 * verifying anything and `recordFailure` when verification ends in 401. An address that used up
 * its allowance gets 429 on every authenticated route, even with a good key, until a whole
 * window's allowance is back; successful requests spend nothing.
 */
export class AuthFailureLimit {
  readonly #limiter: RateLimiter;
  readonly #trustProxyHops: number;

  constructor(perMinute: number, trustProxyHops: number, now: () => number) {
    this.#trustProxyHops = trustProxyHops;
    this.#limiter = new RateLimiter({
      perMinute,
      now,
      refusal: "Too many failed authentication attempts from this address",
      lockOutWhenEmpty: true,
    });
  }

  /** O(1); finds the client address only while some address has recent failures. */
  refuseIfLockedOut(c: Context): void {
    if (this.#limiter.isTracking()) this.#limiter.check(clientIp(c, this.#trustProxyHops));
  }

  recordFailure(c: Context<AppEnv>, error: unknown): void {
    if (!(error instanceof AppError && error.status === 401 && this.#limiter.enabled)) return;
    const client = clientIp(c, this.#trustProxyHops);
    if (this.#limiter.record(client)) {
      requestLog(c).warn({ client }, "too many failed authentications: refusing this address for up to a minute");
    }
  }
}

/** This instance's limiters, built once in createLatchkeyApp (Services.rateLimits). */
export interface RateLimits {
  /** Middleware, before authentication: per client IP on the connect, callback and user-token routes together. */
  perIp: Step;
  /** Connect flows started; key with `connectLimitKey`. */
  connects: RateLimiter;
  /** User tokens minted, keyed by service key id. */
  userTokens: RateLimiter;
  authFailures: AuthFailureLimit;
}

export function createRateLimits(config: Pick<Config, "rateLimits" | "trustProxyHops">, now: () => number): RateLimits {
  const limits = config.rateLimits;
  const byIp = new RateLimiter({ perMinute: limits.ipPerMinute, now, refusal: "Too many requests from this address" });
  const perIp: Step = (c, next) => {
    if (byIp.enabled) byIp.take(clientIp(c, config.trustProxyHops));
    return next();
  };
  return {
    perIp,
    connects: new RateLimiter({
      perMinute: limits.connectPerMinute,
      now,
      refusal: "Too many connect attempts for this user and app",
    }),
    userTokens: new RateLimiter({
      perMinute: limits.userTokensPerMinute,
      now,
      refusal: "Too many user tokens minted with this service key",
    }),
    authFailures: new AuthFailureLimit(limits.authFailuresPerMinute, config.trustProxyHops, now),
  };
}

/** Who starts a connect flow: an app user, or a workspace member starting the app's shared connection. */
export function connectLimitKey(appId: string, by: { userId: string } | { memberId: string }): string {
  return "userId" in by ? `${appId}/users/${by.userId}` : `${appId}/members/${by.memberId}`;
}
