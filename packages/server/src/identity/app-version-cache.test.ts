import { describe, expect, it } from "vitest";
import { AppVersionCache } from "./app-version-cache.ts";

const app = (id: string, updatedAt = 1000) => ({ id, updated_at: new Date(updatedAt) });

describe("AppVersionCache", () => {
  it("builds a value once per app version", () => {
    const cache = new AppVersionCache<object>(10);
    let builds = 0;
    const build = () => ({ build: ++builds });
    const first = cache.getOrCreate(app("a"), build);
    expect(cache.getOrCreate(app("a"), build)).toBe(first);
    expect(builds).toBe(1);
  });

  it("builds a new value when the app's updated_at changes, replacing the old one", () => {
    const cache = new AppVersionCache<string>(10);
    expect(cache.getOrCreate(app("a", 1000), () => "v1")).toBe("v1");
    expect(cache.getOrCreate(app("a", 2000), () => "v2")).toBe("v2");
    expect(cache.getOrCreate(app("a", 2000), () => "v3")).toBe("v2");
    expect(cache.size).toBe(1);
  });

  it("keeps at most `capacity` apps, dropping the least recently used", () => {
    const cache = new AppVersionCache<string>(3);
    for (const id of ["a", "b", "c"]) cache.getOrCreate(app(id), () => id);
    cache.getOrCreate(app("a"), () => "rebuilt a"); // a is now the most recently used
    cache.getOrCreate(app("d"), () => "d"); // evicts b
    expect(cache.size).toBe(3);
    expect(cache.getOrCreate(app("a"), () => "rebuilt a")).toBe("a");
    expect(cache.getOrCreate(app("b"), () => "rebuilt b")).toBe("rebuilt b");
    for (let i = 0; i < 100; i++) cache.getOrCreate(app(`x${i}`), () => "x");
    expect(cache.size).toBe(3);
  });

  it("refuses a capacity below 1", () => {
    expect(() => new AppVersionCache(0)).toThrow(RangeError);
  });
});
