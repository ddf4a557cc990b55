import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestApp } from "../../test/support/test-app.ts";
import { readJson } from "../http/read-json.ts";

const bodyLimitBytes = 2048;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Creating a test database can take seconds on a busy machine. */
const databaseSetupMs = 60_000;

const Widget = z.object({ name: z.string().min(1), size: z.number().int().optional(), data: z.unknown().optional() });
const OptionalBody = z.object({ return_to: z.string().optional() });

describe("HTTP core: routing, JSON bodies, limits, errors, request ids", () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  /** Bodies the test routes accepted; a rejected request must not reach the handler. */
  const accepted: unknown[] = [];

  beforeAll(async () => {
    t = await createTestApp({ env: { LATCHKEY_BODY_LIMIT_BYTES: String(bodyLimitBytes) } });
    t.routes.mount("POST", "/api/test/widgets", [], async (c) => {
      const body = await readJson(c, Widget);
      accepted.push(body);
      return c.json({ widget: body }, 201);
    });
    t.routes.mount("POST", "/api/test/initiate", [], async (c) => {
      const body = await readJson(c, OptionalBody);
      accepted.push(body);
      return c.json({ received: body });
    });
    t.routes.mount("POST", "/test/outside-api", [], async (c) => c.json(await readJson(c, z.object({}).passthrough())));
    t.routes.mount("GET", "/api/test/boom", [], () => {
      throw new Error("pool exhausted at 10.1.2.3:5432 (detail 8d1f0c)");
    });
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  async function expectError(res: Response, status: number, code: string) {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe("string");
    expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
    for (const key of Object.keys(body.error)) expect(["code", "message", "details", "request_id"]).toContain(key);
    return body.error;
  }

  function streamOf(text: string, chunkSize = 512): ReadableStream<Uint8Array> {
    const bytes = new TextEncoder().encode(text);
    let offset = 0;
    return new ReadableStream({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.subarray(offset, offset + chunkSize));
        offset += chunkSize;
      },
    });
  }

  /** A request whose body arrives as a stream with no Content-Length (chunked upload). */
  function postStream(path: string, text: string): Promise<Response> {
    const init = {
      method: "POST",
      body: streamOf(text),
      duplex: "half",
      headers: { "content-type": "application/json" },
    };
    return Promise.resolve(t.app.request(new Request(`http://latchkey.test${path}`, init as RequestInit)));
  }

  function nested(depth: number): unknown {
    let value: unknown = "leaf";
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  }

  describe("routing", () => {
    it("answers an unknown route with 404 NOT_FOUND in the error envelope", async () => {
      const error = await expectError(await t.call("GET", "/no/such/route"), 404, "NOT_FOUND");
      expect(error.message).toBe("No route for GET /no/such/route");
    });

    it("answers an unknown /api route with 404 NOT_FOUND", async () => {
      await expectError(await t.call("POST", "/api/nothing/here", { body: {} }), 404, "NOT_FOUND");
    });

    it("answers a known path with the wrong method with 404 NOT_FOUND", async () => {
      await expectError(await t.call("DELETE", "/api/test/widgets"), 404, "NOT_FOUND");
    });

    it("matches every route with Hono's RegExpRouter, not the slower TrieRouter fallback", async () => {
      // A literal segment beside a parameter at the same place (`/a/static`, `/a/:id`) makes Hono
      // fall back to TrieRouter for every request, at a measurable cost on the token hot path.
      await t.call("GET", "/healthz");
      expect(t.app.router.name).toBe("SmartRouter + RegExpRouter");
    });
  });

  describe("JSON bodies", () => {
    it("accepts a valid body", async () => {
      const res = await t.call("POST", "/api/test/widgets", { body: { name: "gear", size: 3 } });
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ widget: { name: "gear", size: 3 } });
    });

    it("rejects malformed JSON with 400 INVALID_REQUEST", async () => {
      const before = accepted.length;
      const error = await expectError(
        await t.call("POST", "/api/test/widgets", { body: '{"name": "gear",' }),
        400,
        "INVALID_REQUEST",
      );
      expect(error.message).toBe("The request body is not valid JSON");
      expect(accepted.length).toBe(before);
    });

    it("rejects a non-JSON content type with 415 UNSUPPORTED_MEDIA_TYPE", async () => {
      for (const contentType of [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
      ]) {
        const res = await t.call("POST", "/api/test/widgets", {
          body: "name=gear",
          headers: { "content-type": contentType },
        });
        await expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
      }
    });

    it("accepts JSON subtypes such as application/merge-patch+json and a charset", async () => {
      for (const contentType of ["application/merge-patch+json", "application/json; charset=utf-8"]) {
        const res = await t.call("POST", "/api/test/widgets", {
          body: { name: "x" },
          headers: { "content-type": contentType },
        });
        expect(res.status).toBe(201);
      }
    });

    it("treats an empty body with Content-Type: application/json as {} (the Base44 SDK sends that)", async () => {
      const res = await t.call("POST", "/api/test/initiate", { headers: { "content-type": "application/json" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ received: {} });
    });

    it("lists schema problems in details.issues with 400 INVALID_REQUEST", async () => {
      const error = await expectError(
        await t.call("POST", "/api/test/widgets", { body: { name: "", size: "big" } }),
        400,
        "INVALID_REQUEST",
      );
      const issues = (error.details as { issues: Array<{ path: string }> }).issues;
      expect(issues.map((issue) => issue.path).sort()).toEqual(["name", "size"]);
    });

    it("rejects a JSON array or scalar where an object is expected with 400", async () => {
      for (const body of ["[]", "42", '"text"', "null"]) {
        await expectError(await t.call("POST", "/api/test/widgets", { body }), 400, "INVALID_REQUEST");
      }
    });

    it("accepts JSON nested 32 levels deep", async () => {
      // The outer object is level 1.
      const res = await t.call("POST", "/api/test/widgets", { body: { name: "deep", data: nested(31) } });
      expect(res.status).toBe(201);
    });

    it("rejects JSON nested deeper than 32 levels with 400 INVALID_REQUEST", async () => {
      const error = await expectError(
        await t.call("POST", "/api/test/widgets", { body: { name: "deep", data: nested(32) } }),
        400,
        "INVALID_REQUEST",
      );
      expect(error.message).toMatch(/nested deeper than 32/);
    });

    it("rejects pathologically deep JSON within the size limit with a 400, not a crash", async () => {
      const depth = 1000;
      const body = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      await expectError(await t.call("POST", "/api/test/widgets", { body }), 400, "INVALID_REQUEST");
    });
  });

  describe("body size limit", () => {
    const bodyOfSize = (size: number) => {
      const text = JSON.stringify({ name: "x", data: "" });
      return JSON.stringify({ name: "x", data: "a".repeat(size - text.length) });
    };

    it("accepts a body of exactly the limit", async () => {
      const body = bodyOfSize(bodyLimitBytes);
      expect(Buffer.byteLength(body)).toBe(bodyLimitBytes);
      const res = await t.call("POST", "/api/test/widgets", {
        body,
        headers: { "content-length": String(bodyLimitBytes) },
      });
      expect(res.status).toBe(201);
    });

    it("rejects a larger body announced by Content-Length with 413 PAYLOAD_TOO_LARGE, before the handler", async () => {
      const before = accepted.length;
      const body = bodyOfSize(bodyLimitBytes + 1);
      const res = await t.call("POST", "/api/test/widgets", {
        body,
        headers: { "content-length": String(Buffer.byteLength(body)) },
      });
      const error = await expectError(res, 413, "PAYLOAD_TOO_LARGE");
      expect(error.message).toBe(`Request body is larger than ${bodyLimitBytes} bytes`);
      expect(accepted.length).toBe(before);
    });

    it("rejects a larger streamed body without Content-Length with 413 PAYLOAD_TOO_LARGE", async () => {
      const before = accepted.length;
      await expectError(
        await postStream("/api/test/widgets", bodyOfSize(bodyLimitBytes * 4)),
        413,
        "PAYLOAD_TOO_LARGE",
      );
      expect(accepted.length).toBe(before);
    });

    it("accepts a streamed body within the limit, delivered whole to the handler", async () => {
      const body = bodyOfSize(bodyLimitBytes - 10);
      const res = await postStream("/api/test/widgets", body);
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ widget: JSON.parse(body) });
    });

    it("limits bodies outside /api as well", async () => {
      const res = await t.call("POST", "/test/outside-api", { body: bodyOfSize(bodyLimitBytes * 2) });
      await expectError(res, 413, "PAYLOAD_TOO_LARGE");
    });
  });

  describe("unexpected errors", () => {
    it("answers 500 INTERNAL with a request id and without the internal message", async () => {
      const res = await t.call("GET", "/api/test/boom");
      const error = await expectError(res, 500, "INTERNAL");
      expect(error.message).toBe("Internal error");
      expect(error.request_id).toMatch(uuid);
      const raw = JSON.stringify(error);
      expect(raw).not.toContain("pool exhausted");
      expect(raw).not.toContain("10.1.2.3");
      expect(raw).not.toContain("8d1f0c");
    });

    it("logs the internal error with the same request id for operators", async () => {
      const res = await t.call("GET", "/api/test/boom", { headers: { "x-request-id": "trace-boom-1" } });
      expect(res.status).toBe(500);
      const line = t.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((entry) => entry.msg === "unhandled error" && entry.request_id === "trace-boom-1");
      expect(line).toBeDefined();
      expect(JSON.stringify(line)).toContain("pool exhausted");
    });
  });

  describe("request ids", () => {
    it("echoes a valid X-Request-Id in the response header and error bodies", async () => {
      const id = "req-7f3a.9:abc_DEF";
      const res = await t.call("GET", "/healthz", { headers: { "x-request-id": id } });
      expect(res.headers.get("x-request-id")).toBe(id);
      const error = await expectError(
        await t.call("GET", "/nope", { headers: { "x-request-id": id } }),
        404,
        "NOT_FOUND",
      );
      expect(error.request_id).toBe(id);
    });

    it("replaces an invalid or oversized X-Request-Id with a fresh UUID", async () => {
      for (const id of ["has spaces", "semi;colon", "<script>", "x".repeat(129)]) {
        const res = await t.call("GET", "/healthz", { headers: { "x-request-id": id } });
        expect(res.headers.get("x-request-id")).toMatch(uuid);
      }
    });

    it("assigns a fresh id per request when none is sent", async () => {
      const first = (await t.call("GET", "/healthz")).headers.get("x-request-id");
      const second = (await t.call("GET", "/healthz")).headers.get("x-request-id");
      expect(first).toMatch(uuid);
      expect(second).toMatch(uuid);
      expect(first).not.toBe(second);
    });

    it("writes one access-log line per request with the id, method, path and status", async () => {
      await t.call("GET", "/no/such/thing?code=abc", { headers: { "x-request-id": "trace-404" } });
      const line = t.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((entry) => entry.msg === "request" && entry.request_id === "trace-404");
      expect(line).toMatchObject({ method: "GET", path: "/no/such/thing", status: 404 });
    });
  });
});
