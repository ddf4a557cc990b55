import { describe, expect, it } from "vitest";
import { loadConfig } from "../config/config.ts";
import { retryDelayMs } from "./retry-schedule.ts";

const defaults = loadConfig({}).webhooks;

describe("webhook retry schedule", () => {
  it("retries first within 5 s, then about twice as long each time, up to 1 h", () => {
    const highest = Array.from({ length: 16 }, (_, i) => retryDelayMs(i + 1, defaults, () => 1));
    expect(highest.slice(0, 6)).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000]);
    expect(highest.at(-1)).toBe(3_600_000);
    expect(Math.max(...highest)).toBe(3_600_000);
  });

  it("jitters each wait over the upper half of its step", () => {
    expect(retryDelayMs(1, defaults, () => 0)).toBe(2_500);
    for (let i = 0; i < 100; i++) {
      const delay = retryDelayMs(3, defaults);
      expect(delay).toBeGreaterThanOrEqual(10_000);
      expect(delay).toBeLessThanOrEqual(20_000);
    }
  });

  it("keeps retrying for at least 24 h by default, and each setting is configurable", () => {
    expect(defaults).toEqual({
      firstRetryMs: 5_000,
      maxRetryIntervalMs: 3_600_000,
      retryForMs: 86_400_000,
      timeoutMs: 10_000,
    });
    const custom = loadConfig({
      LATCHKEY_WEBHOOK_RETRY_FIRST_SECONDS: "1",
      LATCHKEY_WEBHOOK_RETRY_MAX_SECONDS: "60",
      LATCHKEY_WEBHOOK_RETRY_HOURS: "72",
      LATCHKEY_WEBHOOK_TIMEOUT_SECONDS: "3",
    }).webhooks;
    expect(custom).toEqual({
      firstRetryMs: 1_000,
      maxRetryIntervalMs: 60_000,
      retryForMs: 259_200_000,
      timeoutMs: 3_000,
    });
    expect(retryDelayMs(10, custom, () => 1)).toBe(60_000);
    expect(() => loadConfig({ LATCHKEY_WEBHOOK_TIMEOUT_SECONDS: "0" })).toThrow(/LATCHKEY_WEBHOOK_TIMEOUT_SECONDS/);
    expect(() => loadConfig({ LATCHKEY_WEBHOOK_RETRY_HOURS: "x" })).toThrow(/LATCHKEY_WEBHOOK_RETRY_HOURS/);
  });
});
