/**
 * Slow clients (slowloris): the real HTTP server (cli/http-server.ts) over a real app. A few dozen
 * sockets drip their headers, or their body, a byte at a time; meanwhile other clients are served
 * promptly, and the server's own timeouts (LATCHKEY_HEADERS_TIMEOUT_SECONDS,
 * LATCHKEY_REQUEST_TIMEOUT_SECONDS, LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS; small here) close the slow
 * sockets long before their requests would have arrived.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, serverTimeouts, type Listening } from "../src/cli/http-server.ts";
import { createTestApp, testOperatorKey, type OpenTestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";

const kind = testDbKind();

const headersTimeoutMs = 5_000;
const requestTimeoutMs = 6_000;
const keepAliveTimeoutMs = 1_000;
/** One byte every this often: a 250-byte request would take 25 s to arrive. */
const dripEveryMs = 100;

interface SlowSocket {
  socket: net.Socket;
  openedAt: number;
  /** When the server closed the socket (undefined while it is open). */
  closedAt: number | undefined;
  received: string;
  sent: number;
}

/** Opens a socket that sends `head` at once, then drips `drip` a byte per tick until the server closes it. */
function slowSocket(port: number, head: string, drip: string): Promise<SlowSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const slow: SlowSocket = { socket, openedAt: 0, closedAt: undefined, received: "", sent: 0 };
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      slow.received += chunk;
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      slow.closedAt = performance.now();
      clearInterval(timer);
    });
    socket.once("connect", () => {
      slow.openedAt = performance.now();
      if (head) socket.write(head);
      timer = setInterval(() => {
        if (slow.sent >= drip.length || socket.destroyed) return clearInterval(timer);
        socket.write(drip.charAt(slow.sent));
        slow.sent += 1;
      }, dripEveryMs);
      resolve(slow);
    });
    socket.once("error", reject);
  });
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

describe(`slow clients do not stop others being served (${kind})`, () => {
  let t: OpenTestApp;
  let server: Listening;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        LATCHKEY_HEADERS_TIMEOUT_SECONDS: String(headersTimeoutMs / 1000),
        LATCHKEY_REQUEST_TIMEOUT_SECONDS: String(requestTimeoutMs / 1000),
        LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS: String(keepAliveTimeoutMs / 1000),
      },
    });
    server = await listen(t, { ...t.deps.config, port: 0, host: "127.0.0.1" });
    port = Number(new URL(server.url).port);
  }, 60_000);
  afterAll(async () => {
    await server?.close(1_000);
    await t?.close();
  });

  it("sets Node's header, request and keep-alive timeouts from the configuration, checked often enough to matter", () => {
    expect(serverTimeouts(t.deps.config)).toEqual({
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: 1_000,
    });
    // The defaults, far below Node's own (60 s for headers, 300 s for a request, a check every 30 s).
    const defaults = { httpTimeouts: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 } };
    expect(serverTimeouts(defaults)).toMatchObject({ headersTimeout: 10_000, connectionsCheckingInterval: 1_000 });
  });

  it("serves other clients promptly while 30 slowloris sockets drip headers and bodies, then closes the slow sockets with its timeouts", async () => {
    const headerDrip = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${"x".repeat(200)}\r\n\r\n`;
    const body = JSON.stringify({ name: "Slow", plan: "free", admin_email: `slow@example.test${" ".repeat(200)}` });
    const bodyHead =
      `POST /api/operator/workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${testOperatorKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const headerSockets = await Promise.all(Array.from({ length: 15 }, () => slowSocket(port, "", headerDrip)));
    const bodySockets = await Promise.all(Array.from({ length: 15 }, () => slowSocket(port, bodyHead, body)));
    const slow = [...headerSockets, ...bodySockets];
    const workspacesBefore = await t.deps.db.selectFrom("workspaces").select("id").execute();

    // Meanwhile: other clients, each served promptly, while every slow socket is still open and dripping.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      const started = performance.now();
      const answers = await Promise.all([
        fetch(`${server.url}/healthz`),
        fetch(`${server.url}/readyz`),
        fetch(`${server.url}/api/providers`),
        fetch(`${server.url}/api/operator/workspaces`, { headers: { authorization: `Bearer ${testOperatorKey}` } }),
      ]);
      latencies.push(performance.now() - started);
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      await Promise.all(answers.map((answer) => answer.arrayBuffer()));
    }
    const stillOpen = slow.filter((s) => s.closedAt === undefined).length;
    console.log(
      `[slow-clients] ${slow.length} slow sockets; 5 rounds of 4 requests served in ${latencies.map((ms) => Math.round(ms)).join(", ")} ms; ${stillOpen} slow sockets still open then`,
    );
    expect(stillOpen).toBe(slow.length);
    expect(Math.max(...latencies)).toBeLessThan(headersTimeoutMs);

    // Then the server's timeouts close every slow socket, long before its request could have arrived.
    const slack = 4_000;
    expect(await until(() => slow.every((s) => s.closedAt !== undefined), requestTimeoutMs + slack)).toBe(true);
    for (const s of headerSockets) {
      const openFor = (s.closedAt ?? 0) - s.openedAt;
      expect(openFor).toBeGreaterThanOrEqual(headersTimeoutMs - 100);
      expect(openFor).toBeLessThan(headersTimeoutMs + slack);
      expect(s.sent).toBeLessThan(headerDrip.length);
      expect(s.received).toMatch(/^HTTP\/1\.1 408 /);
    }
    for (const s of bodySockets) {
      const openFor = (s.closedAt ?? 0) - s.openedAt;
      expect(openFor).toBeGreaterThanOrEqual(requestTimeoutMs - 100);
      expect(openFor).toBeLessThan(requestTimeoutMs + slack);
      expect(s.sent).toBeLessThan(body.length);
    }
    // A request whose body never arrived created nothing, and the server is still answering.
    expect(await t.deps.db.selectFrom("workspaces").select("id").execute()).toEqual(workspacesBefore);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(t.logs.text).not.toContain("unhandled error");
  }, 60_000);

  it("closes an idle keep-alive connection after the keep-alive timeout", async () => {
    const idle = await slowSocket(
      port,
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
      "",
    );
    expect(await until(() => idle.received.includes("\r\n\r\n"), 5_000)).toBe(true);
    expect(idle.received).toMatch(/^HTTP\/1\.1 200 /);
    const answeredAt = performance.now();
    expect(await until(() => idle.closedAt !== undefined, keepAliveTimeoutMs + 3_000)).toBe(true);
    expect((idle.closedAt ?? 0) - answeredAt).toBeGreaterThanOrEqual(keepAliveTimeoutMs - 300);
  }, 30_000);
});
