import net from "node:net";
import { errorCodes } from "@latchkey/contracts";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../errors/app-error.ts";
import { openPostgres } from "../db/open-database.ts";
import { readJson } from "../http/read-json.ts";
import { assertHistogramsConsistent, parseExposition, sampleValue } from "../../test/support/prometheus-text.ts";
import { buildTestApp, createTestApp, type TestApp } from "../../test/support/test-app.ts";
import { createTestDatabase } from "../../test/support/test-database.ts";
import { readinessTimeoutMs } from "./routes.ts";

type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

/** Creating a test database can take seconds on a busy machine. */
const databaseSetupMs = 60_000;

describe("GET /healthz", () => {
  let t: OpenTestApp;
  beforeAll(async () => {
    t = await createTestApp();
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  it("answers 200 {status: ok}", async () => {
    const res = await t.call("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers HEAD like GET, without a body", async () => {
    const res = await t.call("HEAD", "/healthz");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  it("answers 404 NOT_FOUND to other methods", async () => {
    const res = await t.call("POST", "/healthz", { body: { status: "down" } });
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe("NOT_FOUND");
  });
});

describe("GET /readyz", () => {
  let t: OpenTestApp;
  let lost: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
    // A database the app used, then lost: the state of an instance whose database went away.
    const database = await createTestDatabase();
    await sql`select 1`.execute(database.db);
    await database.close();
    lost = buildTestApp({ database });
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  it("answers 200 with the database kind when the database answers", async () => {
    const res = await t.call("GET", "/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready", database: t.deps.dbKind });
  });

  it("answers 503 NOT_READY when the database is closed, and says nothing about why", async () => {
    const res = await lost.call("GET", "/readyz");

    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body).toEqual({
      error: {
        code: "NOT_READY",
        message: "The database is not reachable",
        request_id: res.headers.get("x-request-id"),
      },
    });
    expect(lost.logs.text).toContain("readiness check failed");
  });

  it("keeps /healthz at 200 when the database is gone (liveness does not touch it)", async () => {
    expect((await lost.call("GET", "/healthz")).status).toBe(200);
  });

  it("answers 503 within its timeout when the database accepts connections but never answers", async () => {
    const sockets = new Set<net.Socket>();
    const silentServer = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silentServer.listen(0, "127.0.0.1", resolve));
    const { port } = silentServer.address() as net.AddressInfo;
    const database = openPostgres(`postgres://latchkey@127.0.0.1:${port}/nowhere`, { maxConnections: 1 });
    const t = buildTestApp({ database });
    try {
      const started = performance.now();
      const res = await t.call("GET", "/readyz");
      const elapsed = performance.now() - started;

      expect(res.status).toBe(503);
      expect((await res.json()).error.code).toBe("NOT_READY");
      expect(elapsed).toBeGreaterThanOrEqual(readinessTimeoutMs - 50);
      expect(elapsed).toBeLessThan(readinessTimeoutMs + 1_500);
    } finally {
      for (const socket of sockets) socket.destroy();
      await database.close().catch(() => undefined);
      await new Promise((resolve) => silentServer.close(resolve));
    }
  }, 15_000);
});

describe("GET /metrics", () => {
  let t: OpenTestApp;
  beforeAll(async () => {
    t = await createTestApp();
    t.routes.mount("GET", "/test/items/:itemId", [], (c) => c.json({ id: c.req.param("itemId") }));
    t.routes.mount("POST", "/api/test/items", [], async (c) =>
      c.json(await readJson(c, z.object({ name: z.string() })), 201),
    );
    t.routes.mount("GET", "/test/teapot", [], () => {
      throw new AppError("CONFLICT", "No");
    });
    await t.call("GET", "/healthz");
    await t.call("GET", "/healthz");
    await t.call("GET", "/test/items/1");
    await t.call("GET", "/test/items/2");
    await t.call("GET", "/test/items/3");
    await t.call("POST", "/api/test/items", { body: { name: "a" } });
    await t.call("POST", "/api/test/items", { body: { name: 7 } });
    await t.call("GET", "/test/teapot");
    await t.call("GET", "/no/such/path/4f1b");
    await t.call("GET", "/api/no/such/path");
    await t.call("DELETE", "/healthz");
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  async function scrape() {
    const res = await t.call("GET", "/metrics");
    expect(res.status).toBe(200);
    return { res, text: await res.text() };
  }

  it("serves the text exposition format 0.0.4", async () => {
    const { res, text } = await scrape();
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const families = parseExposition(text);
    assertHistogramsConsistent(families);
    expect(families.get("latchkey_http_requests_total")?.type).toBe("counter");
    expect(families.get("latchkey_http_request_duration_seconds")?.type).toBe("histogram");
  });

  it("counts requests by method, route pattern and status", async () => {
    const families = parseExposition((await scrape()).text);
    const requests = (method: string, route: string, status: string) =>
      sampleValue(families, "latchkey_http_requests_total", { method, route, status });
    expect(requests("GET", "/healthz", "200")).toBe(2);
    expect(requests("GET", "/test/items/:itemId", "200")).toBe(3);
    expect(requests("POST", "/api/test/items", "201")).toBe(1);
    expect(requests("POST", "/api/test/items", "400")).toBe(1);
    expect(requests("GET", "/test/teapot", "409")).toBe(1);
  });

  it("labels every request no route answered as one 'unmatched' route, never by its path", async () => {
    const { text } = await scrape();
    const families = parseExposition(text);
    expect(
      sampleValue(families, "latchkey_http_requests_total", { method: "GET", route: "unmatched", status: "404" }),
    ).toBe(2);
    expect(sampleValue(families, "latchkey_http_requests_total", { method: "DELETE", route: "unmatched" })).toBe(1);
    expect(text).not.toContain("/no/such/path");
    expect(text).not.toContain("/test/items/1");
  });

  it("records durations per route pattern", async () => {
    const families = parseExposition((await scrape()).text);
    const labels = { method: "GET", route: "/test/items/:itemId" };
    expect(sampleValue(families, "latchkey_http_request_duration_seconds_count", labels)).toBe(3);
    expect(sampleValue(families, "latchkey_http_request_duration_seconds_sum", labels)).toBeGreaterThan(0);
    expect(sampleValue(families, "latchkey_http_request_duration_seconds_bucket", { ...labels, le: "+Inf" })).toBe(3);
  });

  it("reports build info and process gauges computed at scrape time", async () => {
    const first = parseExposition((await scrape()).text);
    expect(sampleValue(first, "latchkey_build_info", { database: t.deps.dbKind })).toBe(1);
    const version = first.get("latchkey_build_info")?.samples[0]?.labels.version;
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(sampleValue(first, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    expect(sampleValue(first, "process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000);
    const uptime = sampleValue(first, "process_uptime_seconds") ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sampleValue(parseExposition((await scrape()).text), "process_uptime_seconds")).toBeGreaterThan(uptime);
  });

  it("shows metrics features register on the instance's registry", async () => {
    const refreshes = t.metrics.counter({
      name: "latchkey_test_refreshes_total",
      help: "Refreshes",
      labelNames: ["provider", "outcome"],
    });
    refreshes.inc({ provider: "google", outcome: "ok" });
    const families = parseExposition((await scrape()).text);
    expect(sampleValue(families, "latchkey_test_refreshes_total", { provider: "google", outcome: "ok" })).toBe(1);
  });

  it("keeps each app instance's metrics to itself", async () => {
    const other = buildTestApp({ database: t.database });
    await other.call("GET", "/healthz");
    const families = parseExposition(await (await other.call("GET", "/metrics")).text());
    expect(
      sampleValue(families, "latchkey_http_requests_total", { method: "GET", route: "/healthz", status: "200" }),
    ).toBe(1);
  });

  it("is open without credentials and ignores any sent", async () => {
    const res = await t.call("GET", "/metrics", { token: "not-a-real-key" });
    expect(res.status).toBe(200);
  });
});

describe("GET /openapi.json", () => {
  let t: OpenTestApp;
  const Widget = z.object({ id: z.string(), name: z.string(), color: z.enum(["red", "blue"]) });
  const CreateWidget = z.object({
    name: z.string().min(1).max(100),
    color: z.enum(["red", "blue"]).default("red"),
    tags: z.array(z.string()).optional(),
  });

  beforeAll(async () => {
    t = await createTestApp();
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  async function fetchDocument(app: TestApp = t) {
    const res = await app.call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    return (await res.json()) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, Record<string, unknown>>>;
      components: { schemas: Record<string, Record<string, unknown>>; securitySchemes: Record<string, unknown> };
    };
  }

  it("is an OpenAPI 3.1 document that documents the operations routes themselves", async () => {
    const document = await fetchDocument();
    expect(document.openapi).toBe("3.1.0");
    expect(document.info.title).toBe("Latchkey");
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(["/healthz", "/readyz", "/metrics", "/openapi.json"]),
    );
    expect(document.paths["/readyz"]?.get?.security).toEqual([]);
    expect(Object.keys(document.paths["/readyz"]?.get?.responses as object)).toEqual(
      expect.arrayContaining(["200", "503"]),
    );
  });

  it("includes routes documented after the app was built, with their zod schemas", async () => {
    t.docs.add({
      method: "post",
      path: "/api/test/widgets/{widgetId}",
      summary: "Make a widget",
      tag: "test",
      auth: "workspace",
      body: CreateWidget,
      query: z.object({ dry_run: z.enum(["true", "false"]).optional(), limit: z.coerce.number().int().max(50) }),
      responses: { 201: { description: "Created", schema: Widget }, 404: { description: "No such widget" } },
    });

    const document = await fetchDocument();
    const operation = document.paths["/api/test/widgets/{widgetId}"]?.post;
    expect(operation).toMatchObject({ summary: "Make a widget", tags: ["test"], security: [{ adminApiKey: [] }] });
    expect(operation?.parameters).toEqual([
      { name: "widgetId", in: "path", required: true, schema: { type: "string" } },
      { name: "dry_run", in: "query", required: false, schema: { type: "string", enum: ["true", "false"] } },
      expect.objectContaining({ name: "limit", in: "query", required: true }),
    ]);

    const requestBody = operation?.requestBody as {
      required: boolean;
      content: Record<string, { schema: { $ref: string } }>;
    };
    expect(requestBody.required).toBe(true);
    const bodySchema = resolve(document, requestBody.content["application/json"]?.schema.$ref);
    expect(bodySchema).toMatchObject({
      type: "object",
      properties: {
        name: { type: "string", minLength: 1, maxLength: 100 },
        color: { type: "string", enum: ["red", "blue"], default: "red" },
        tags: { type: "array", items: { type: "string" } },
      },
      required: ["name"],
    });

    const responses = operation?.responses as Record<
      string,
      { content?: Record<string, { schema: { $ref: string } }> }
    >;
    expect(resolve(document, responses["201"]?.content?.["application/json"]?.schema.$ref)).toMatchObject({
      properties: { id: { type: "string" } },
      required: ["id", "name", "color"],
    });
    expect(responses["404"]?.content?.["application/json"]?.schema.$ref).toBe("#/components/schemas/Error");
    expect(responses.default?.content?.["application/json"]?.schema.$ref).toBe("#/components/schemas/Error");
  });

  it("describes the error envelope with every ErrorCode", async () => {
    const document = await fetchDocument();
    const envelope = document.components.schemas.Error as {
      properties: { error: { properties: { code: { enum: string[] } }; required: string[] } };
      required: string[];
    };
    expect(envelope.required).toEqual(["error"]);
    expect(envelope.properties.error.required).toEqual(["code", "message"]);
    expect(envelope.properties.error.properties.code.enum).toEqual(errorCodes);
  });

  it("maps each auth kind to its security scheme", async () => {
    for (const [auth, path] of [
      ["operator", "/api/test/op"],
      ["service", "/api/test/svc"],
      ["user", "/api/test/user"],
      ["service+user", "/api/test/svc-user"],
    ] as const) {
      t.docs.add({ method: "get", path, summary: auth, tag: "test", auth, responses: { 200: { description: "ok" } } });
    }
    const document = await fetchDocument();
    expect(document.paths["/api/test/op"]?.get?.security).toEqual([{ operatorKey: [] }]);
    expect(document.paths["/api/test/svc"]?.get?.security).toEqual([{ serviceKey: [] }]);
    expect(document.paths["/api/test/user"]?.get?.security).toEqual([{ userToken: [] }]);
    expect(document.paths["/api/test/svc-user"]?.get?.security).toEqual([{ serviceKey: [], onBehalfOf: [] }]);
    for (const name of ["operatorKey", "adminApiKey", "serviceKey", "userToken", "onBehalfOf"]) {
      expect(document.components.securitySchemes).toHaveProperty(name);
    }
  });

  it("has unique operation ids and only $refs that resolve", async () => {
    const document = await fetchDocument();
    const ids = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const ref of collectRefs(document)) expect(resolve(document, ref), ref).toBeDefined();
  });
});

function resolve(document: { components: { schemas: Record<string, unknown> } }, ref: string | undefined): unknown {
  const prefix = "#/components/schemas/";
  if (!ref?.startsWith(prefix)) return undefined;
  return document.components.schemas[ref.slice(prefix.length)];
}

function collectRefs(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(collectRefs);
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === "$ref" && typeof child === "string" ? [child] : collectRefs(child),
  );
}
