import { afterEach, describe, expect, it, vi } from "vitest";
import { TtlCache } from "./ttl-cache.ts";

describe("TtlCache (verified service keys, connector summaries)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("serves an entry until its time-to-live has passed, then forgets it", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const cache = new TtlCache<string>(10);
    cache.set("k", "v", 5_000);
    vi.setSystemTime(1_004_999);
    expect(cache.get("k")).toBe("v");
    vi.setSystemTime(1_005_000);
    expect(cache.get("k")).toBeUndefined();
  });

  it("stores nothing when the time-to-live is 0 (the cache turned off)", () => {
    const cache = new TtlCache<string>(10);
    cache.set("k", "v", 0);
    expect(cache.get("k")).toBeUndefined();
  });

  it("drops the oldest entry when full", () => {
    const cache = new TtlCache<number>(2);
    cache.set("a", 1, 60_000);
    cache.set("b", 2, 60_000);
    cache.set("c", 3, 60_000);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual([undefined, 2, 3]);
  });

  it("drops the least recently used entry when full: a read keeps an entry", () => {
    const cache = new TtlCache<number>(2);
    cache.set("a", 1, 60_000);
    cache.set("b", 2, 60_000);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3, 60_000);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual([1, undefined, 3]);
  });

  it("stays at its cap through a long stream of new keys, keeping the newest", () => {
    const cache = new TtlCache<number>(1_000);
    for (let index = 0; index < 50_000; index++) cache.set(`key${index}`, index, 60_000);
    expect(cache.get("key48999")).toBeUndefined();
    expect(cache.get("key49000")).toBe(49_000);
    expect(cache.get("key49999")).toBe(49_999);
  });

  it("keeps a cached null apart from a miss", () => {
    const cache = new TtlCache<string | null>(10);
    cache.set("gone", null, 60_000);
    expect(cache.get("gone")).toBeNull();
    expect(cache.get("never")).toBeUndefined();
  });
});
