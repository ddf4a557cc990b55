import { describe, expect, it } from "vitest";
import { ChangeFeed } from "../kernel/changes.ts";
import type { ConnectionKey } from "./connection-store.ts";
import { TokenCache, type CachedToken } from "./token-cache.ts";

class ManualClock {
  constructor(public ms: number) {}
  now(): Date {
    return new Date(this.ms);
  }
}

const start = 1_800_000_000_000;

function setUp(limits = { maxEntries: 100, maxBytes: 1_000_000 }) {
  const feed = new ChangeFeed({ live: true });
  const clock = new ManualClock(start);
  return { feed, clock, cache: new TokenCache(feed, clock, limits) };
}

function key(userId: string, connectorId = "con_1", appId = "app_1"): ConnectionKey {
  return { appId, connectorId, ownerType: "user", userId };
}

function entry(id: string, servableUntilMs = Number.POSITIVE_INFINITY, body = `{"access_token":"${id}"}`): CachedToken {
  return { connectionId: id, body, bodyBytes: Buffer.byteLength(body), servableUntilMs };
}

describe("TokenCache", () => {
  it("serves what it stored, per key", () => {
    const { cache } = setUp();
    cache.set(key("u1"), entry("conn_1"), cache.generation);
    cache.set(key("u2"), entry("conn_2"), cache.generation);
    expect(cache.get(key("u1"))?.connectionId).toBe("conn_1");
    expect(cache.get(key("u2"))?.connectionId).toBe("conn_2");
    expect(cache.get(key("u3"))).toBeUndefined();
    expect(cache.get({ ...key("u1"), ownerType: "app" })).toBeUndefined();
    expect(cache.stats).toEqual({ hits: 2, misses: 2, bypassed: 0 });
  });

  it("stops serving a token at the instant the refresh rule would refresh it", () => {
    const { cache, clock } = setUp();
    cache.set(key("u1"), entry("conn_1", start + 60_000), cache.generation);
    clock.ms = start + 59_999;
    expect(cache.get(key("u1"))).toBeDefined();
    clock.ms = start + 60_000;
    expect(cache.get(key("u1"))).toBeUndefined();
    // Gone, not just hidden: a clock going back does not bring it back.
    clock.ms = start;
    expect(cache.get(key("u1"))).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("does not store a token already due for refresh", () => {
    const { cache } = setUp();
    cache.set(key("u1"), entry("conn_1", start), cache.generation);
    expect(cache.size).toBe(0);
  });

  it("does not store a value read before a change that arrived meanwhile", () => {
    const { cache, feed } = setUp();
    const before = cache.generation;
    feed.publish({
      table: "connections",
      row: { id: "conn_9", appId: "app_9", connectorId: "c", ownerType: "user", userId: "x" },
    });
    cache.set(key("u1"), entry("conn_1"), before);
    expect(cache.get(key("u1"))).toBeUndefined();
    cache.set(key("u1"), entry("conn_1"), cache.generation);
    expect(cache.get(key("u1"))).toBeDefined();
  });

  it("drops exactly the changed connection, and everything on a connector, app or unknown change", () => {
    const { cache, feed } = setUp();
    const fill = () => {
      for (const user of ["u1", "u2"]) cache.set(key(user), entry(`conn_${user}`), cache.generation);
      cache.set(
        { appId: "app_1", connectorId: "con_1", ownerType: "app", userId: "" },
        entry("conn_app"),
        cache.generation,
      );
    };
    fill();
    feed.publish({
      table: "connections",
      row: { id: "conn_u1", appId: "app_1", connectorId: "con_1", ownerType: "user", userId: "u1" },
    });
    expect(cache.get(key("u1"))).toBeUndefined();
    expect(cache.get(key("u2"))).toBeDefined();
    feed.publish({
      table: "connections",
      row: { id: "conn_app", appId: "app_1", connectorId: "con_1", ownerType: "app", userId: "" },
    });
    expect(cache.get({ appId: "app_1", connectorId: "con_1", ownerType: "app", userId: "" })).toBeUndefined();
    // Service keys and admin keys do not touch tokens.
    feed.publish({ table: "service_keys", row: { id: "sk_1", appId: "app_1" } });
    expect(cache.get(key("u2"))).toBeDefined();
    for (const change of [
      { table: "connectors", row: { id: "con_1" } },
      { table: "apps", row: { id: "app_1" } },
      { table: "connections" },
      { table: "*" },
    ]) {
      fill();
      expect(cache.size).toBe(3);
      feed.publish(change);
      expect(cache.size, change.table).toBe(0);
    }
  });

  it("keeps by-provider answers apart from connection keys, dropped by any shared-connection change of their app", () => {
    const { cache, feed } = setUp();
    const shared = { appId: "app_1", connectorId: "con_1", ownerType: "app", userId: "" } as const;
    const fill = () => {
      cache.setShared("app_1", "google", entry("conn_google"), cache.generation);
      cache.setShared("app_1", "slack", entry("conn_slack"), cache.generation);
      cache.setShared("app_2", "google", entry("conn_other_app"), cache.generation);
      cache.set(key("u1"), entry("conn_u1"), cache.generation);
    };
    fill();
    expect(cache.getShared("app_1", "google")?.connectionId).toBe("conn_google");
    expect(cache.getShared("app_1", "github")).toBeUndefined();
    expect(cache.get({ ...shared, connectorId: "" })).toBeUndefined();
    // A user's connection does not decide what a provider name picks.
    feed.publish({
      table: "connections",
      row: { id: "conn_u1", appId: "app_1", connectorId: "con_1", ownerType: "user", userId: "u1" },
    });
    expect(cache.getShared("app_1", "google")).toBeDefined();
    // Any shared connection of the app, even a new one of another connector, may: all of that app's go.
    feed.publish({ table: "connections", row: { id: "conn_new", ...shared, connectorId: "con_new" } });
    expect(cache.getShared("app_1", "google")).toBeUndefined();
    expect(cache.getShared("app_1", "slack")).toBeUndefined();
    expect(cache.getShared("app_2", "google")?.connectionId).toBe("conn_other_app");
    // A change that clears everything clears these too, and the next fill is tracked again.
    feed.publish({ table: "connectors", row: { id: "con_1" } });
    expect(cache.size).toBe(0);
    fill();
    feed.publish({ table: "connections", row: { id: "conn_google", ...shared } });
    expect(cache.getShared("app_1", "google")).toBeUndefined();
    expect(cache.get(key("u1"))).toBeDefined();
  });

  it("does not store a by-provider answer read before a change, nor one due for refresh", () => {
    const { cache, feed } = setUp();
    const before = cache.generation;
    feed.publish({ table: "service_keys", row: { id: "sk_1", appId: "app_1" } });
    cache.setShared("app_1", "google", entry("conn_google"), before);
    cache.setShared("app_1", "slack", entry("conn_slack", start), cache.generation);
    expect(cache.size).toBe(0);
  });

  it("is bypassed while the feed is lost and starts empty when it is back", () => {
    const { cache, feed } = setUp();
    cache.set(key("u1"), entry("conn_1"), cache.generation);
    feed.lost();
    expect(cache.get(key("u1"))).toBeUndefined();
    cache.set(key("u1"), entry("conn_1"), cache.generation);
    expect(cache.size).toBe(0);
    feed.subscribed();
    expect(cache.get(key("u1"))).toBeUndefined();
    expect(cache.stats.bypassed).toBe(1);
    cache.set(key("u1"), entry("conn_1"), cache.generation);
    expect(cache.get(key("u1"))).toBeDefined();
  });

  it("holds at most maxEntries, evicting the least recently used", () => {
    const { cache } = setUp({ maxEntries: 3, maxBytes: 1_000_000 });
    for (const user of ["u1", "u2", "u3"]) cache.set(key(user), entry(user), cache.generation);
    expect(cache.get(key("u1"))).toBeDefined(); // u2 is now the least recently used
    cache.set(key("u4"), entry("u4"), cache.generation);
    expect(cache.size).toBe(3);
    expect(cache.get(key("u2"))).toBeUndefined();
    for (const user of ["u1", "u3", "u4"]) expect(cache.get(key(user)), user).toBeDefined();
  });

  it("holds at most maxBytes, evicting the least recently used, and never an entry larger than that", () => {
    const body = "x".repeat(1_000);
    const { cache } = setUp({ maxEntries: 1_000, maxBytes: 4_000 });
    for (const user of ["u1", "u2", "u3", "u4", "u5"])
      cache.set(key(user), entry(user, Infinity, body), cache.generation);
    expect(cache.bytes).toBeLessThanOrEqual(4_000);
    expect(cache.size).toBe(3);
    expect(cache.get(key("u1"))).toBeUndefined();
    expect(cache.get(key("u2"))).toBeUndefined();
    expect(cache.get(key("u5"))).toBeDefined();
    cache.set(key("big"), entry("big", Infinity, "y".repeat(5_000)), cache.generation);
    expect(cache.get(key("big"))).toBeUndefined();
    expect(cache.bytes).toBeLessThanOrEqual(4_000);
  });

  it("stores nothing when turned off (0 entries or 0 bytes)", () => {
    for (const limits of [
      { maxEntries: 0, maxBytes: 1_000 },
      { maxEntries: 10, maxBytes: 0 },
    ]) {
      const { cache } = setUp(limits);
      cache.set(key("u1"), entry("conn_1"), cache.generation);
      expect(cache.get(key("u1"))).toBeUndefined();
    }
  });
});
