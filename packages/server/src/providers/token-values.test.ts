import { describe, expect, it } from "vitest";
import { expiryFrom, maxTokenLifetimeSeconds } from "./token-values.ts";

describe("expiryFrom", () => {
  const now = new Date("2030-01-01T00:00:00Z");
  const latest = now.getTime() + maxTokenLifetimeSeconds * 1000;

  it("adds a provider's ordinary lifetime to now", () => {
    expect(expiryFrom(now, 3600)?.toISOString()).toBe("2030-01-01T01:00:00.000Z");
  });

  it("clamps an absurd expires_in (1e300, 1e13, Infinity) to the longest lifetime believed, always a valid date", () => {
    for (const absurd of [1e300, 10_000_000_000_000, Number.POSITIVE_INFINITY, Number.MAX_VALUE]) {
      const expiry = expiryFrom(now, absurd);
      expect(expiry?.getTime()).toBe(latest);
      expect(Number.isNaN(expiry?.getTime())).toBe(false);
    }
  });

  it("treats a negative lifetime as already expired and a missing or NaN one as no expiry", () => {
    expect(expiryFrom(now, -5)?.getTime()).toBe(now.getTime());
    expect(expiryFrom(now, Number.NEGATIVE_INFINITY)?.getTime()).toBe(now.getTime());
    expect(expiryFrom(now, undefined)).toBeNull();
    expect(expiryFrom(now, Number.NaN)).toBeNull();
  });
});
