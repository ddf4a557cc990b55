import { describe, expect, it } from "vitest";
import { prefersJson } from "./callback-page.ts";

describe("prefersJson (which answer a callback without a usable state gets)", () => {
  it("chooses JSON for an API client's Accept", () => {
    expect(prefersJson("application/json")).toBe(true);
    expect(prefersJson("application/json, text/plain, */*")).toBe(true);
    expect(prefersJson("application/problem+json")).toBe(true);
    expect(prefersJson("text/html;q=0.5, application/json")).toBe(true);
  });

  it("chooses the page for browsers, no Accept, wildcards and JSON refused with q=0", () => {
    expect(prefersJson(undefined)).toBe(false);
    expect(prefersJson("*/*")).toBe(false);
    expect(prefersJson("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")).toBe(false);
    expect(prefersJson("text/html, application/json;q=0.9")).toBe(false);
    expect(prefersJson("application/json;q=0")).toBe(false);
    expect(prefersJson("application/json;q=abc")).toBe(false);
  });
});
