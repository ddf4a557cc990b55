import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { AppError, notFound, unauthenticated } from "../errors/app-error.ts";
import { createErrorHandler } from "../errors/on-error.ts";
import { createLogger } from "../log/logger.ts";
import type { AppEnv } from "./app-env.ts";
import {
  AuthFailureLimit,
  connectLimitKey,
  createRateLimits,
  RateLimiter,
  type RateLimiterOptions,
} from "./rate-limit.ts";

class ManualClock {
  ms = Date.UTC(2030, 0, 1);
  readonly now = () => this.ms;
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

function limiter(clock: ManualClock, options: Partial<RateLimiterOptions> = {}): RateLimiter {
  return new RateLimiter({ perMinute: 3, now: clock.now, refusal: "Too many tries", ...options });
}

function refusalOf(attempt: () => void): AppError {
  try {
    attempt();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected a RATE_LIMITED refusal, but the attempt was allowed");
}

function takeTimes(target: RateLimiter, key: string, times: number): void {
  for (let i = 0; i < times; i++) target.take(key);
}

describe("RateLimiter", () => {
  it("allows the whole allowance at once, then refuses with 429 RATE_LIMITED and Retry-After", () => {
    const clock = new ManualClock();
    const limits = limiter(clock, { perMinute: 3 });
    takeTimes(limits, "alice", 3);
    const refusal = refusalOf(() => limits.take("alice"));
    expect(refusal.code).toBe("RATE_LIMITED");
    expect(refusal.status).toBe(429);
    // One unit comes back every 60 / 3 = 20 seconds.
    expect(refusal.headers).toEqual({ "Retry-After": "20" });
    expect(refusal.message).toBe("Too many tries; try again in 20 s");
    expect(refusal.details).toBeUndefined();
  });

  it("lets the next request through once Retry-After has passed, and not a second sooner", () => {
    const clock = new ManualClock();
    const limits = limiter(clock, { perMinute: 3 });
    takeTimes(limits, "alice", 3);
    clock.advanceSeconds(19);
    expect(refusalOf(() => limits.take("alice")).headers).toEqual({ "Retry-After": "1" });
    clock.advanceSeconds(1);
    limits.take("alice");
    expect(refusalOf(() => limits.take("alice")).code).toBe("RATE_LIMITED");
  });

  it("gives the whole allowance back after a full window", () => {
    const clock = new ManualClock();
    const limits = limiter(clock, { perMinute: 30 });
    takeTimes(limits, "alice", 30);
    expect(refusalOf(() => limits.take("alice")).headers).toEqual({ "Retry-After": "2" });
    clock.advanceSeconds(60);
    takeTimes(limits, "alice", 30);
    expect(refusalOf(() => limits.take("alice")).code).toBe("RATE_LIMITED");
  });

  it("does not spend the allowance on refused requests", () => {
    const clock = new ManualClock();
    const limits = limiter(clock, { perMinute: 3 });
    takeTimes(limits, "alice", 3);
    for (let i = 0; i < 10; i++) refusalOf(() => limits.take("alice"));
    clock.advanceSeconds(20);
    limits.take("alice");
  });

  it("keeps each key's allowance separate", () => {
    const clock = new ManualClock();
    const limits = limiter(clock, { perMinute: 2 });
    takeTimes(limits, "alice", 2);
    refusalOf(() => limits.take("alice"));
    takeTimes(limits, "bob", 2);
    expect(limits.trackedKeys).toBe(2);
  });

  it("is off with 0 per minute: allows everything and tracks nothing", () => {
    const clock = new ManualClock();
    const limits = limiter(clock, { perMinute: 0 });
    expect(limits.enabled).toBe(false);
    takeTimes(limits, "alice", 1000);
    for (let i = 0; i < 1000; i++) limits.record("alice");
    limits.check("alice");
    expect(limits.trackedKeys).toBe(0);
    expect(limits.isTracking()).toBe(false);
  });

  describe("memory", () => {
    it("tracks at most maxKeys keys, evicting the least recently used", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 1, maxKeys: 3 });
      for (const key of ["a", "b", "c"]) limits.take(key);
      refusalOf(() => limits.take("a")); // a is now the most recently used; b the least
      limits.take("d");
      expect(limits.trackedKeys).toBe(3);
      limits.take("b"); // evicted, so it starts over with a full allowance (and evicts c)
      refusalOf(() => limits.take("a"));
      refusalOf(() => limits.take("d"));
      expect(limits.trackedKeys).toBe(3);
    });

    it("never grows past maxKeys under a flood of distinct keys", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 5, maxKeys: 100 });
      for (let i = 0; i < 10_000; i++) limits.take(`198.51.100.${i}`);
      expect(limits.trackedKeys).toBe(100);
    });

    it("drops keys idle for a whole window when others are touched", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 3 });
      for (const key of ["a", "b", "c"]) limits.take(key);
      clock.advanceSeconds(30);
      limits.take("b");
      clock.advanceSeconds(30);
      limits.take("d");
      // a and c were last touched a window ago; b half a window ago.
      expect(limits.trackedKeys).toBe(2);
    });

    it("forgets everything once nothing was spent for a window (isTracking)", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 3 });
      expect(limits.isTracking()).toBe(false);
      limits.take("a");
      limits.take("b");
      clock.advanceSeconds(59);
      expect(limits.isTracking()).toBe(true);
      clock.advanceSeconds(1);
      expect(limits.isTracking()).toBe(false);
      expect(limits.trackedKeys).toBe(0);
    });
  });

  describe("with lockOutWhenEmpty (failed authentications)", () => {
    it("records without refusing, and check refuses once the allowance is used up", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 3, lockOutWhenEmpty: true });
      expect(limits.record("203.0.113.7")).toBe(false);
      expect(limits.record("203.0.113.7")).toBe(false);
      limits.check("203.0.113.7");
      expect(limits.record("203.0.113.7")).toBe(true); // this one starts the lockout
      expect(limits.record("203.0.113.7")).toBe(false); // already locked out
      const refusal = refusalOf(() => limits.check("203.0.113.7"));
      expect(refusal.headers).toEqual({ "Retry-After": "60" });
      limits.check("198.51.100.1");
    });

    it("stays locked out until the whole window's allowance is back, not just one unit", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 3, lockOutWhenEmpty: true });
      for (let i = 0; i < 3; i++) limits.record("203.0.113.7");
      clock.advanceSeconds(20);
      expect(refusalOf(() => limits.check("203.0.113.7")).headers).toEqual({ "Retry-After": "40" });
      clock.advanceSeconds(39);
      expect(refusalOf(() => limits.check("203.0.113.7")).headers).toEqual({ "Retry-After": "1" });
      clock.advanceSeconds(1);
      limits.check("203.0.113.7");
      // The lockout is over: the next failures are counted from a full allowance again.
      limits.record("203.0.113.7");
      limits.check("203.0.113.7");
    });

    it("check spends nothing, however often it is called", () => {
      const clock = new ManualClock();
      const limits = limiter(clock, { perMinute: 2, lockOutWhenEmpty: true });
      limits.record("203.0.113.7");
      for (let i = 0; i < 100; i++) limits.check("203.0.113.7");
      limits.record("203.0.113.7");
      refusalOf(() => limits.check("203.0.113.7"));
    });
  });
});

describe("AuthFailureLimit", () => {
  function probeApp(failures: AuthFailureLimit, failure: Error) {
    const app = new Hono<AppEnv>();
    const logger = createLogger({ level: "silent" });
    app.use((c, next) => {
      c.set("authFailures", failures);
      c.set("baseLogger", logger);
      c.set("requestId", "probe");
      return next();
    });
    app.get("/fail", (c) => {
      c.get("authFailures").refuseIfLockedOut(c);
      c.get("authFailures").recordFailure(c, failure);
      throw failure;
    });
    app.get("/ok", (c) => {
      c.get("authFailures").refuseIfLockedOut(c);
      return c.text("ok");
    });
    app.onError(createErrorHandler(logger));
    const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });
    return {
      fail: (ip: string) => app.request("/fail", from(ip)),
      ok: (ip: string) => app.request("/ok", from(ip)),
    };
  }

  it("locks an address out after its allowance of 401s, while another address goes on", async () => {
    const clock = new ManualClock();
    const probe = probeApp(new AuthFailureLimit(2, 1, clock.now), unauthenticated());
    expect((await probe.fail("203.0.113.7")).status).toBe(401);
    expect((await probe.ok("203.0.113.7")).status).toBe(200);
    expect((await probe.fail("203.0.113.7")).status).toBe(401);
    const locked = await probe.ok("203.0.113.7");
    expect(locked.status).toBe(429);
    expect(locked.headers.get("retry-after")).toBe("60");
    expect(((await locked.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    expect((await probe.fail("203.0.113.7")).status).toBe(429);
    expect((await probe.ok("198.51.100.1")).status).toBe(200);
    clock.advanceSeconds(60);
    expect((await probe.ok("203.0.113.7")).status).toBe(200);
  });

  it.each([
    ["404", notFound("App")],
    ["400", new AppError("INVALID_REQUEST", "bad")],
    ["403", new AppError("FORBIDDEN", "no")],
    ["an unexpected error", new Error("boom")],
  ])("does not count %s as a failed authentication", async (_name, failure) => {
    const clock = new ManualClock();
    const probe = probeApp(new AuthFailureLimit(1, 1, clock.now), failure);
    for (let i = 0; i < 5; i++) expect((await probe.fail("203.0.113.7")).status).not.toBe(429);
    expect((await probe.ok("203.0.113.7")).status).toBe(200);
  });

  it("is off with 0 per minute", async () => {
    const clock = new ManualClock();
    const probe = probeApp(new AuthFailureLimit(0, 1, clock.now), unauthenticated());
    for (let i = 0; i < 100; i++) expect((await probe.fail("203.0.113.7")).status).toBe(401);
    expect((await probe.ok("203.0.113.7")).status).toBe(200);
  });
});

describe("createRateLimits", () => {
  const config = (ipPerMinute: number, trustProxyHops: number) => ({
    rateLimits: {
      connectPerMinute: 2,
      ipPerMinute,
      authFailuresPerMinute: 2,
      userTokensPerMinute: 2,
      signInPerMinute: 2,
    },
    trustProxyHops,
  });

  function perIpApp(ipPerMinute: number, trustProxyHops: number) {
    const limits = createRateLimits(config(ipPerMinute, trustProxyHops), new ManualClock().now);
    const app = new Hono<AppEnv>();
    app.get("/limited", limits.perIp, (c) => c.text("ok"));
    app.onError(createErrorHandler(createLogger({ level: "silent" })));
    return (ip?: string) => app.request("/limited", ip === undefined ? {} : { headers: { "x-forwarded-for": ip } });
  }

  it("perIp limits each client address separately", async () => {
    const get = perIpApp(2, 1);
    expect((await get("203.0.113.7")).status).toBe(200);
    expect((await get("203.0.113.7")).status).toBe(200);
    const refused = await get("203.0.113.7");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("30");
    expect((await get("198.51.100.1")).status).toBe(200);
  });

  it("perIp ignores X-Forwarded-For without a trusted proxy: every request is the one unknown client", async () => {
    const get = perIpApp(2, 0);
    expect((await get("203.0.113.1")).status).toBe(200);
    expect((await get("203.0.113.2")).status).toBe(200);
    expect((await get("203.0.113.3")).status).toBe(429);
  });

  it("perIp is off with 0 per minute", async () => {
    const get = perIpApp(0, 1);
    for (let i = 0; i < 50; i++) expect((await get("203.0.113.7")).status).toBe(200);
  });

  it("keys connects by app and user, apart from an admin's shared connects of the same app", () => {
    expect(connectLimitKey("app_1", { userId: "alice" })).toBe("app_1/users/alice");
    expect(connectLimitKey("app_1", { memberId: "mem_1" })).toBe("app_1/members/mem_1");
    expect(connectLimitKey("app_1", { userId: "mem_1" })).not.toBe(connectLimitKey("app_1", { memberId: "mem_1" }));
  });
});
