/**
 * Defects found from outside (the reliability issue), each with the test that names it. Everything
 * is real: the node HTTP server on a real port (cli/http-server.ts), real sockets, the real
 * database, the oidc-provider harness and the scripted provider over HTTP.
 */
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listening } from "../src/cli/http-server.ts";
import { createTestApp } from "./support/test-app.ts";

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
});
