import { createServer, type Server, type Socket } from "node:net";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutboundError } from "./outbound-fetch.ts";
import { createOutboundRequest } from "./outbound-request.ts";

let server: HttpServer;
let base: string;
let port: number;
const requests: { method: string; url: string; authorization: string | undefined; body: string }[] = [];
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  server = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, body });
      switch (new URL(req.url ?? "/", "http://x").pathname) {
        case "/ok":
          res.setHeader("set-cookie", ["a=1", "b=2"]);
          res.writeHead(200, { "content-type": "application/json", "x-ratelimit-remaining": "7" });
          return res.end(JSON.stringify({ ok: true }));
        case "/redirect":
          return res.writeHead(302, { location: `${base}/ok` }).end();
        case "/slow-headers":
          return setTimeout(() => res.writeHead(200).end("late"), 2_000);
        case "/slow-body":
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("first part;");
          return setTimeout(() => res.end("second part"), 2_000);
        case "/big-declared":
          return res.writeHead(200, { "content-length": "2048" }).end("x".repeat(2048));
        case "/big-streamed": {
          res.writeHead(200, { "content-type": "application/json" });
          let sent = 0;
          const more = () => {
            if (sent >= 64 * 1024) return res.end();
            sent += 1024;
            res.write("y".repeat(1024), more);
          };
          return more();
        }
        default:
          return res.writeHead(404).end();
      }
    });
  });
  server.on("connection", (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function outboundErrorOf(promise: Promise<unknown>): Promise<OutboundError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  if (!(error instanceof OutboundError)) throw new Error(`expected an OutboundError, got ${String(error)}`);
  return error;
}

const get = { method: "GET", headers: { authorization: "Bearer t0k3n" }, body: undefined };

describe("createOutboundRequest", () => {
  const send = createOutboundRequest({ denyPrivateNetwork: false, maxResponseBytes: 1024 });
  // A separate pool with a short limit: the first call of a loaded test run may take a while.
  const impatient = createOutboundRequest({ denyPrivateNetwork: false, timeoutMs: 500 });

  it("sends the method, headers and body, and hands back status, headers and the whole body", async () => {
    requests.length = 0;
    const answer = await send(new URL(`${base}/ok?a=1`), {
      method: "POST",
      headers: { authorization: "Bearer t0k3n", "content-type": "application/json" },
      body: '{"n":1}',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(answer.headers["x-ratelimit-remaining"]).toBe("7");
    expect(answer.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    expect(JSON.parse(Buffer.from(await answer.body()).toString())).toEqual({ ok: true });
    expect(requests).toEqual([{ method: "POST", url: "/ok?a=1", authorization: "Bearer t0k3n", body: '{"n":1}' }]);
  });

  it("returns a redirect instead of following it", async () => {
    requests.length = 0;
    const answer = await send(new URL(`${base}/redirect`), get);
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(`${base}/ok`);
    expect((await answer.body()).byteLength).toBe(0);
    expect(requests.map((request) => request.url)).toEqual(["/redirect"]);
  });

  it("times out when the server does not answer in time", async () => {
    const started = Date.now();
    const error = await outboundErrorOf(impatient(new URL(`${base}/slow-headers`), get));
    expect(error.reason).toBe("timeout");
    expect(error.message).toBe(`Request to ${base} timed out after 500 ms`);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("times out while the body is still arriving, within the same time limit", async () => {
    const answer = await impatient(new URL(`${base}/slow-body`), get);
    expect(answer.status).toBe(200);
    expect((await outboundErrorOf(answer.body())).reason).toBe("timeout");
  });

  it("refuses a body whose declared length is over the limit, and one that grows past it", async () => {
    const declared = await send(new URL(`${base}/big-declared`), get);
    const error = await outboundErrorOf(declared.body());
    expect(error.reason).toBe("too_large");
    expect(error.message).toBe(`Response from ${base} is larger than 1024 bytes`);
    const streamed = await send(new URL(`${base}/big-streamed`), get);
    expect((await outboundErrorOf(streamed.body())).reason).toBe("too_large");
  });

  it("reports a refused connection as a network failure carrying the socket's code", async () => {
    const closed: Server = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await outboundErrorOf(send(new URL(`http://127.0.0.1:${closedPort}/`), get));
    expect(error.reason).toBe("network");
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("refuses schemes other than http and https", async () => {
    expect((await outboundErrorOf(send(new URL("file:///etc/passwd"), get))).reason).toBe("blocked");
  });

  it("keeps its connections alive and reuses them", async () => {
    const own = createOutboundRequest({ denyPrivateNetwork: false });
    const before = connections;
    for (let call = 0; call < 10; call++) {
      const answer = await own(new URL(`${base}/ok`), get);
      await answer.body();
    }
    // At most one more while the first is being handed back after its first answer.
    expect(connections - before).toBeGreaterThanOrEqual(1);
    expect(connections - before).toBeLessThanOrEqual(2);
  });
});

describe("createOutboundRequest with denyPrivateNetwork", () => {
  const at = (...addresses: string[]) =>
    addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

  it("refuses a private literal address before connecting, without a lookup", async () => {
    const lookups: string[] = [];
    const send = createOutboundRequest({
      denyPrivateNetwork: true,
      lookup: (hostname) => {
        lookups.push(hostname);
        return Promise.resolve(at("8.8.8.8"));
      },
    });
    requests.length = 0;
    const before = connections;
    const error = await outboundErrorOf(send(new URL(`${base}/ok`), get));
    expect(error.reason).toBe("blocked");
    expect(lookups).toEqual([]);
    expect(requests).toEqual([]);
    expect(connections).toBe(before);
  });

  it("refuses a name whose address at connect time is private (DNS rebinding), never connecting", async () => {
    const lookups: string[] = [];
    const send = createOutboundRequest({
      denyPrivateNetwork: true,
      lookup: (hostname) => {
        lookups.push(hostname);
        return Promise.resolve(at("127.0.0.1"));
      },
    });
    requests.length = 0;
    const before = connections;
    const error = await outboundErrorOf(send(new URL(`http://rebind.example:${port}/ok`), get));
    expect(error.reason).toBe("blocked");
    expect(error.target).toBe(`http://rebind.example:${port}`);
    expect(lookups).toEqual(["rebind.example"]);
    expect(requests).toEqual([]);
    expect(connections).toBe(before);
  });

  it("connects to a public address its lookup returned", async () => {
    // Nothing public is meant to answer the tests (a sandbox's network may still): whatever
    // happens, the call is attempted, not refused.
    const send = createOutboundRequest({
      denyPrivateNetwork: true,
      timeoutMs: 300,
      lookup: () => Promise.resolve(at("8.8.8.8")),
    });
    const outcome = await send(new URL("http://docs.example:9/ok"), get).then(
      async (answer) => {
        await answer.body().catch(() => undefined);
        return "answered";
      },
      (error: unknown) => (error instanceof OutboundError ? error.reason : String(error)),
    );
    expect(["answered", "timeout", "network"]).toContain(outcome);
  });

  it("leaves no unhandled error behind when an answer's body is never read", async () => {
    const send = createOutboundRequest({ denyPrivateNetwork: false, timeoutMs: 200 });
    const answer = await send(new URL(`${base}/slow-body`), get);
    expect(answer.status).toBe(200);
    // The time limit aborts the unread body; vitest fails the run on an unhandled error.
    await new Promise((resolve) => setTimeout(resolve, 400));
  });
});
