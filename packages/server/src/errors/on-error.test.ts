import { HTTPException } from "hono/http-exception";
import { ErrorCode, errorCodes } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import { AppError, forbidden, notFound, unauthenticated } from "./app-error.ts";

/** Creating a test database can take seconds on a busy machine. */
const databaseSetupMs = 60_000;

describe("error handler", () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;

  beforeAll(async () => {
    t = await createTestApp();
    t.routes.mount("GET", "/test/errors/:code", [], (c) => {
      throw new AppError(c.req.param("code") as ErrorCode, `thrown ${c.req.param("code")}`);
    });
    t.routes.mount("GET", "/test/limited", [], () => {
      throw new AppError("RATE_LIMITED", "Slow down", { retry_after_seconds: 30 }, { "Retry-After": "30" });
    });
    t.routes.mount("GET", "/test/helpers/:which", [], (c) => {
      const which = c.req.param("which");
      throw which === "not-found" ? notFound("Widget") : which === "forbidden" ? forbidden() : unauthenticated();
    });
    t.routes.mount("GET", "/test/database-down/:kind", [], (c) => {
      const kind = c.req.param("kind");
      if (kind === "refused") {
        throw Object.assign(new AggregateError([Object.assign(new Error("connect"), { code: "ECONNREFUSED" })]), {
          message: "connect ECONNREFUSED 127.0.0.1:5432",
        });
      }
      if (kind === "shutdown") {
        throw Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
      }
      if (kind === "terminated") throw new Error("Connection terminated unexpectedly");
      throw Object.assign(new Error('relation "nope" does not exist at 10.0.0.5:5432'), { code: "42P01" });
    });
    t.routes.mount("GET", "/test/http-exception/:status", [], (c) => {
      throw new HTTPException(Number(c.req.param("status")) as 400, { message: "framework said no" });
    });
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  it("answers every ErrorCode with its status and exactly {error: {code, message, request_id}}", async () => {
    for (const code of errorCodes) {
      const res = await t.call("GET", `/test/errors/${code}`);
      expect(res.status, code).toBe(ErrorCode[code]);
      expect(await res.json()).toEqual({
        error: { code, message: `thrown ${code}`, request_id: res.headers.get("x-request-id") },
      });
    }
  });

  it("includes details and extra headers such as Retry-After", async () => {
    const res = await t.call("GET", "/test/limited");
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(await res.json()).toEqual({
      error: {
        code: "RATE_LIMITED",
        message: "Slow down",
        details: { retry_after_seconds: 30 },
        request_id: res.headers.get("x-request-id"),
      },
    });
  });

  it("gives the helpers their codes: notFound 404, forbidden 403, unauthenticated 401", async () => {
    const cases = [
      ["not-found", 404, "NOT_FOUND", "Widget not found"],
      ["forbidden", 403, "FORBIDDEN", "You do not have permission to do this"],
      ["unauthenticated", 401, "UNAUTHENTICATED", "Missing or invalid credentials"],
    ] as const;
    for (const [which, status, code, message] of cases) {
      const res = await t.call("GET", `/test/helpers/${which}`);
      expect(res.status).toBe(status);
      expect((await res.json()).error).toMatchObject({ code, message });
    }
  });

  it("maps framework HTTP exceptions onto stable codes, never passing a 5xx message through", async () => {
    const expectations = [
      [413, 413, "PAYLOAD_TOO_LARGE"],
      [404, 404, "NOT_FOUND"],
      [400, 400, "INVALID_REQUEST"],
      [503, 500, "INTERNAL"],
    ] as const;
    for (const [thrown, status, code] of expectations) {
      const res = await t.call("GET", `/test/http-exception/${thrown}`);
      expect(res.status, String(thrown)).toBe(status);
      const body = await res.json();
      expect(body.error.code).toBe(code);
      if (status === 500) expect(JSON.stringify(body)).not.toContain("framework said no");
    }
  });

  it("answers a database that cannot be reached with 503 NOT_READY and Retry-After, other database errors with 500", async () => {
    for (const kind of ["refused", "shutdown", "terminated"]) {
      const res = await t.call("GET", `/test/database-down/${kind}`);
      expect(res.status, kind).toBe(503);
      expect(res.headers.get("retry-after"), kind).toBe("2");
      const body = await res.json();
      expect(body.error).toMatchObject({ code: "NOT_READY", details: { retry_after_seconds: 2 } });
      expect(JSON.stringify(body)).not.toMatch(/5432|terminat|ECONN/);
    }
    const res = await t.call("GET", "/test/database-down/bug");
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain("nope");
  });

  it("logs only unexpected errors, not client errors", async () => {
    await t.call("GET", "/test/errors/INVALID_REQUEST", { headers: { "x-request-id": "client-error-1" } });
    await t.call("GET", "/test/http-exception/503", { headers: { "x-request-id": "server-error-1" } });
    const errorLines = t.logs.lines
      .map((line) => JSON.parse(line) as { msg: string; request_id?: string })
      .filter((entry) => entry.msg === "unhandled error" && entry.request_id?.endsWith("-error-1"));
    expect(errorLines.map((entry) => entry.request_id)).toEqual(["server-error-1"]);
  });
});
