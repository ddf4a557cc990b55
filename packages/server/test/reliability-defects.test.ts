/**
 * Defects found from outside (the reliability issue), each with the test that names it. Everything
 * is real: the node HTTP server on a real port (cli/http-server.ts), real sockets, the real
 * database, the oidc-provider harness and the scripted provider over HTTP.
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listening } from "../src/cli/http-server.ts";
import { callback, createTenant, initiate, userToken, type Tenant } from "./connect-fixture.ts";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { expectError } from "./support/tenants.ts";
import { parseExposition, sampleValue } from "./support/prometheus-text.ts";
import { createTestApp, testOperatorKey } from "./support/test-app.ts";

/** Creating a test database and starting a provider can take seconds on a busy machine. */
const setupMs = 90_000;

type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

describe("the node server under misbehaving clients", () => {
  let t: OpenTestApp;
  let server: Listening;

  beforeAll(async () => {
    t = await createTestApp({ env: { LATCHKEY_BODY_LIMIT_BYTES: "65536" } });
    server = await listen(t, { port: 0, host: "127.0.0.1" });
  }, setupMs);
  afterAll(async () => {
    await server?.close(1_000);
    await t?.close();
  }, setupMs);

  it("answers the request after a 413 on the same pooled connection", async () => {
    // One keep-alive connection, as a backend's pool or Node's fetch gives a burst of calls.
    const pool = new Agent({ connections: 1 });
    const oversized = Buffer.alloc(2 * 1024 * 1024, "a");
    const outcomes: string[] = [];
    const send = async (method: "POST" | "GET", path: string) => {
      try {
        const response = await undiciFetch(`${server.url}${path}`, {
          method,
          dispatcher: pool,
          ...(method === "POST" && { body: oversized, headers: { "content-type": "application/json" } }),
        });
        const body = (await response.json()) as { error?: { code: string } };
        outcomes.push(`${response.status} ${body.error?.code ?? "ok"} ${response.headers.get("connection")}`);
      } catch (error) {
        outcomes.push(`failed: ${String(error instanceof Error ? (error.cause ?? error.message) : error)}`);
      }
    };
    try {
      for (let i = 0; i < 3; i++) await send("POST", "/api/apps/app_x/app-user-auth/connectors/con_x/initiate");
      for (let i = 0; i < 3; i++) await send("GET", "/healthz");
    } finally {
      await pool.close();
    }
    expect(outcomes).toEqual([
      "413 PAYLOAD_TOO_LARGE close",
      "413 PAYLOAD_TOO_LARGE close",
      "413 PAYLOAD_TOO_LARGE close",
      "200 ok keep-alive",
      "200 ok keep-alive",
      "200 ok keep-alive",
    ]);
  });

  it("counts a client that closes the connection mid-body as a client abort (499), not an internal error", async () => {
    const metricsBefore = parseExposition(await (await undiciFetch(`${server.url}/metrics`)).text());
    const abortsBefore = requestsWithStatus(metricsBefore, "499");
    const errorsBefore = requestsWithStatus(metricsBefore, "500");
    const { port } = new URL(server.url);
    const aborted = 5;
    for (let i = 0; i < aborted; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(port), "127.0.0.1", () => {
          socket.write(
            [
              "POST /api/operator/workspaces HTTP/1.1",
              "Host: 127.0.0.1",
              `Authorization: Bearer ${testOperatorKey}`,
              "Content-Type: application/json",
              "Content-Length: 1000",
              "",
              '{"name": "half a bo',
            ].join("\r\n"),
          );
          // Long enough for the server to be waiting for the rest of the body.
          setTimeout(() => socket.destroy(), 300);
        });
        socket.on("close", () => resolve());
        socket.on("error", reject);
      });
    }
    // The server finishes its side of each request after the socket is gone.
    await expect
      .poll(
        async () =>
          requestsWithStatus(parseExposition(await (await undiciFetch(`${server.url}/metrics`)).text()), "499"),
        {
          timeout: 10_000,
        },
      )
      .toBe(abortsBefore + aborted);
    const metricsAfter = parseExposition(await (await undiciFetch(`${server.url}/metrics`)).text());
    expect(requestsWithStatus(metricsAfter, "500")).toBe(errorsBefore);
    expect(t.logs.text).not.toContain("unhandled error");
    const abortLines = t.logs.lines.filter((line) => line.includes("client closed the connection"));
    expect(abortLines).toHaveLength(aborted);
    for (const line of abortLines) expect(JSON.parse(line)).toMatchObject({ level: 20 });
  });
});

function requestsWithStatus(metrics: ReturnType<typeof parseExposition>, status: string): number {
  return (
    sampleValue(metrics, "latchkey_http_requests_total", {
      method: "POST",
      route: "/api/operator/workspaces",
      status,
    }) ?? 0
  );
}

describe("the OAuth callback without a usable state", () => {
  let harness: AuthorizationServer;
  let t: OpenTestApp;
  let tenant: Tenant;

  beforeAll(async () => {
    harness = await startAuthorizationServer();
    t = await createTestApp();
    tenant = await createTenant(t, harness);
  }, setupMs);
  afterAll(async () => {
    await t?.close();
    await harness?.close();
  }, setupMs);

  const asJsonClient = { accept: "application/json" };

  it("answers 400 INVALID_STATE in the JSON envelope to a JSON client whose state is unknown, used or missing", async () => {
    const redirect = await harness.authorize(await initiate(t, tenant, await userToken(t, tenant, "jo")), {
      login: "jo",
    });
    expect((await callback(t, redirect)).status).toBe(302);

    const used = await t.call("GET", `/oauth/callback${redirect.search}`, { headers: asJsonClient });
    const unknown = await t.call("GET", `/oauth/callback?state=${randomBytes(32).toString("base64url")}&code=x`, {
      headers: asJsonClient,
    });
    const missing = await t.call("GET", "/oauth/callback?code=x", { headers: asJsonClient });
    for (const response of [used, unknown, missing]) {
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      const body = await expectError(response, 400, "INVALID_STATE");
      expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
      expect(JSON.stringify(body)).not.toContain(redirect.searchParams.get("code") ?? "-");
    }
    expect(harness.counters.authorizationCodeGrants).toBe(1);
  });

  it("shows the error code on the callback's HTML page to a browser", async () => {
    const browser = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
    const response = await t.call("GET", `/oauth/callback?state=${randomBytes(32).toString("base64url")}&code=x`, {
      headers: browser,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await response.text()).toContain("<code>INVALID_STATE</code>");
  });
});
