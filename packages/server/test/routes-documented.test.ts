import { ErrorCode, isErrorCode } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RouteDoc } from "../src/http/api-docs.ts";
import { createTestApp } from "./support/test-app.ts";

type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

/**
 * One check for every feature: each route Hono serves has an /openapi.json entry and each entry
 * is served, so no feature needs its own "is documented" test.
 */
describe("route documentation", () => {
  let t: OpenTestApp;
  beforeAll(async () => {
    t = await createTestApp();
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  const routeKey = (method: string, honoPath: string) => `${method.toUpperCase()} ${honoPath}`;
  /** Where a doc says the route is mounted (entries added without defineRoute name no honoPath). */
  const honoPathOf = (doc: RouteDoc) => doc.honoPath ?? doc.path.replace(/\{([A-Za-z0-9_]+)\}/g, ":$1");

  /** Hono lists a route once per handler (its middlewares too); `app.use` middleware is method ALL. */
  function registeredRoutes(): Set<string> {
    return new Set(t.app.routes.filter((route) => route.method !== "ALL").map((r) => routeKey(r.method, r.path)));
  }

  function documentedRoutes(): string[] {
    return t.docs.routes.map((doc) => routeKey(doc.method, honoPathOf(doc)));
  }

  it("documents every registered route", () => {
    const registered = registeredRoutes();
    expect(registered.size).toBeGreaterThanOrEqual(40);
    const documented = new Set(documentedRoutes());
    expect([...registered].filter((route) => !documented.has(route))).toEqual([]);
  });

  it("registers every documented route, and documents each only once", () => {
    const documented = documentedRoutes();
    const registered = registeredRoutes();
    expect(documented.filter((route) => !registered.has(route))).toEqual([]);
    expect(documented.filter((route, index) => documented.indexOf(route) !== index)).toEqual([]);
  });

  it("lists at least one answer that is not an error for every route", () => {
    for (const doc of t.docs.routes) {
      const statuses = Object.keys(doc.responses).map(Number);
      expect(
        statuses.filter((status) => status < 400),
        `${doc.method} ${doc.path}`,
      ).not.toEqual([]);
    }
  });

  it("names, for every error response, codes of the error table that answer with that status", () => {
    let errorResponses = 0;
    for (const doc of t.docs.routes) {
      for (const [status, response] of Object.entries(doc.responses)) {
        if (Number(status) < 400) continue;
        errorResponses++;
        const label = `${doc.method} ${doc.path} ${status}: ${response.description}`;
        const words: string[] = response.description.match(/\b[A-Z][A-Z0-9_]+\b/g) ?? [];
        const codes = words.filter(isErrorCode);
        expect(codes, `${label}: names no error code`).not.toEqual([]);
        for (const code of codes) expect(ErrorCode[code], `${label}: ${code}`).toBe(Number(status));
      }
    }
    expect(errorResponses).toBeGreaterThan(0);
  });
});
