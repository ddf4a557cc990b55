import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchIdentityJson, maxIdentityDocumentBytes } from "./fetch-identity-json.ts";
import { SigningKeysUnavailable } from "./token-failure.ts";

describe("fetchIdentityJson", () => {
  let server: Server;
  let base: string;
  const hits: Record<string, number> = {};

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? "/";
      hits[path] = (hits[path] ?? 0) + 1;
      if (path === "/ok") return void res.writeHead(200, { "content-type": "application/json" }).end('{"keys":[]}');
      if (path === "/redirect") return void res.writeHead(302, { location: "/ok" }).end();
      if (path === "/html") return void res.writeHead(200, { "content-type": "text/html" }).end("<html>");
      if (path === "/huge-declared") {
        return void res
          .writeHead(200, { "content-length": String(maxIdentityDocumentBytes + 1) })
          .end("x".repeat(maxIdentityDocumentBytes + 1));
      }
      if (path === "/huge-streamed") {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = "x".repeat(64 * 1024);
        for (let sent = 0; sent <= maxIdentityDocumentBytes; sent += chunk.length) res.write(chunk);
        return void res.end();
      }
      if (path === "/hang") return; // never answers
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (path: string, timeoutMs = 2000) =>
    fetchIdentityJson(fetch, `${base}${path}`, AbortSignal.timeout(timeoutMs));

  async function failure(path: string, timeoutMs?: number): Promise<SigningKeysUnavailable> {
    const error: unknown = await get(path, timeoutMs).catch((rejection: unknown) => rejection);
    expect(error).toBeInstanceOf(SigningKeysUnavailable);
    return error as SigningKeysUnavailable;
  }

  it("returns the parsed JSON of a 200 response", async () => {
    await expect(get("/ok")).resolves.toEqual({ keys: [] });
  });

  it("does not follow redirects", async () => {
    const before = hits["/ok"] ?? 0;
    expect((await failure("/redirect")).reason).toMatch(/HTTP 302/);
    expect(hits["/ok"] ?? 0).toBe(before);
  });

  it("refuses a non-200 answer and a body that is not JSON", async () => {
    expect((await failure("/missing")).reason).toMatch(/HTTP 404/);
    expect((await failure("/html")).reason).toMatch(/not return JSON/);
  });

  it("refuses bodies over the size limit, declared or streamed", async () => {
    expect((await failure("/huge-declared")).reason).toMatch(/more than|bytes/);
    expect((await failure("/huge-streamed")).reason).toMatch(/more than/);
  });

  it("gives up when the server does not answer in time", async () => {
    expect((await failure("/hang", 200)).reason).toMatch(/timed out/);
  });

  it("reports an unreachable host", async () => {
    const error: unknown = await fetchIdentityJson(fetch, "http://127.0.0.1:1/jwks", AbortSignal.timeout(2000)).catch(
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(SigningKeysUnavailable);
  });
});
