import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOutboundFetch,
  interfaceAddresses,
  isNonPublicAddress,
  OutboundError,
  providerErrorFromOutbound,
  type LookupAll,
} from "./outbound-fetch.ts";

const realFetch = globalThis.fetch.bind(globalThis);
let server: Server;
let base: string;
let port: number;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    switch (req.url) {
      case "/ok":
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
        return;
      case "/slow-headers":
        setTimeout(() => res.writeHead(200).end("late"), 2_000);
        return;
      case "/slow-body":
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first part;");
        setTimeout(() => res.end("second part"), 2_000);
        return;
      case "/big-declared":
        res.writeHead(200, { "content-length": String(2048) }).end("x".repeat(2048));
        return;
      case "/big-streamed": {
        // No content-length: the limit must hold while streaming.
        res.writeHead(200, { "content-type": "application/json" });
        let sent = 0;
        const more = () => {
          if (sent >= 64 * 1024) return res.end();
          sent += 1024;
          res.write("y".repeat(1024), more);
        };
        more();
        return;
      }
      case "/redirect":
        res.writeHead(302, { location: `${base}/ok` }).end();
        return;
      case "/no-content":
        res.writeHead(204).end();
        return;
      default:
        res.writeHead(404).end();
    }
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

describe("createOutboundFetch", () => {
  const open = createOutboundFetch({
    denyPrivateNetwork: false,
    timeoutMs: 500,
    maxResponseBytes: 1024,
  });

  it("passes an ordinary response through unchanged", async () => {
    const response = await open(`${base}/ok`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.url).toBe(`${base}/ok`);
    expect(await response.json()).toEqual({ ok: true });
  });

  it("passes a response without a body through", async () => {
    const response = await open(`${base}/no-content`);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
  });

  it("times out when the server does not answer in time", async () => {
    const started = Date.now();
    const error = await outboundErrorOf(open(`${base}/slow-headers`));
    expect(error.reason).toBe("timeout");
    expect(error.message).toBe(`Request to ${base} timed out after 500 ms`);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("times out while the body is still arriving", async () => {
    const response = await open(`${base}/slow-body`);
    expect(response.status).toBe(200);
    const error = await outboundErrorOf(response.text());
    expect(error.reason).toBe("timeout");
  });

  it("lets the caller's own abort through as the caller's, not as a provider failure", async () => {
    const controller = new AbortController();
    const pending = open(`${base}/slow-headers`, { signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await expect(pending).rejects.toThrow("caller gave up");
  });

  it("refuses a response whose declared length is over the limit", async () => {
    const error = await outboundErrorOf(open(`${base}/big-declared`));
    expect(error.reason).toBe("too_large");
    expect(error.message).toBe(`Response from ${base} is larger than 1024 bytes`);
  });

  it("stops reading a streamed response once it passes the limit", async () => {
    const response = await open(`${base}/big-streamed`);
    const error = await outboundErrorOf(response.json());
    expect(error.reason).toBe("too_large");
  });

  it("returns a redirect instead of following it", async () => {
    requests.length = 0;
    const response = await open(`${base}/redirect`);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(`${base}/ok`);
    expect(requests).toEqual(["/redirect"]);
  });

  it("does not follow a redirect even when the caller asks to", async () => {
    const response = await open(`${base}/redirect`, { redirect: "follow" });
    expect(response.status).toBe(302);
  });

  it("reports a refused connection as a network failure", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await outboundErrorOf(open(`http://127.0.0.1:${closedPort}/`));
    expect(error.reason).toBe("network");
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it("refuses schemes other than http and https", async () => {
    const error = await outboundErrorOf(open("file:///etc/passwd"));
    expect(error.reason).toBe("blocked");
  });
});

describe("createOutboundFetch with denyPrivateNetwork over a given fetch (names checked before the call)", () => {
  const lookups: string[] = [];
  const fakeDns: Record<string, string[]> = {
    "idp.internal.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["8.8.8.8", "192.168.1.1"],
    "v6-local.example": ["fd12::1"],
  };
  const lookup: LookupAll = (hostname) => {
    lookups.push(hostname);
    const addresses = fakeDns[hostname];
    if (!addresses)
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }));
    return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })));
  };
  let fetchCalls = 0;
  const countingFetch: typeof fetch = (input, init) => {
    fetchCalls += 1;
    return realFetch(input, init);
  };
  const denied = createOutboundFetch({ fetch: countingFetch, denyPrivateNetwork: true, timeoutMs: 500, lookup });

  it("refuses the loopback server, and never connects to it", async () => {
    fetchCalls = 0;
    requests.length = 0;
    const error = await outboundErrorOf(denied(`${base}/ok`));
    expect(error.reason).toBe("blocked");
    expect(error.message).toMatch(/non-public address/);
    expect(fetchCalls).toBe(0);
    expect(requests).toEqual([]);
  });

  it("refuses localhost after resolving it with the real resolver", async () => {
    const withRealDns = createOutboundFetch({ fetch: countingFetch, denyPrivateNetwork: true });
    const error = await outboundErrorOf(withRealDns(`http://localhost:${port}/ok`));
    expect(error.reason).toBe("blocked");
  });

  it.each(["idp.internal.example", "metadata.example", "v6-local.example"])(
    "refuses %s, whose name resolves to a non-public address",
    async (host) => {
      fetchCalls = 0;
      const error = await outboundErrorOf(denied(`https://${host}/token`));
      expect(error.reason).toBe("blocked");
      expect(fetchCalls).toBe(0);
    },
  );

  it("refuses a host when any one of its addresses is private", async () => {
    const error = await outboundErrorOf(denied("https://mixed.example/token"));
    expect(error.reason).toBe("blocked");
  });

  it.each([
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a00:1]/",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://2130706433/",
  ])("refuses the literal address in %s without a DNS lookup", async (url) => {
    lookups.length = 0;
    fetchCalls = 0;
    const error = await outboundErrorOf(denied(url));
    expect(error.reason).toBe("blocked");
    expect(lookups).toEqual([]);
    expect(fetchCalls).toBe(0);
  });

  it("reports a name that does not resolve as a network failure", async () => {
    const error = await outboundErrorOf(denied("https://nowhere.example/"));
    expect(error.reason).toBe("network");
    expect(error.message).toMatch(/ENOTFOUND/);
  });

  it("allows the loopback server when the private network is not denied", async () => {
    const allowed = createOutboundFetch({ fetch: realFetch, denyPrivateNetwork: false, lookup });
    expect((await allowed(`${base}/ok`)).status).toBe(200);
  });
});

describe("createOutboundFetch's own dispatcher with denyPrivateNetwork (DNS rebinding)", () => {
  const at = (...addresses: string[]) =>
    addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

  it("refuses to connect when the name resolves to a private address by the time it connects", async () => {
    // No check before the call could see what the connection will: the name is resolved once, by
    // the connection, and that answer (loopback, as a rebinding DNS server would give) is refused.
    const lookups: string[] = [];
    const outbound = createOutboundFetch({
      denyPrivateNetwork: true,
      timeoutMs: 2_000,
      lookup: (hostname) => {
        lookups.push(hostname);
        return Promise.resolve(at("127.0.0.1"));
      },
    });
    requests.length = 0;
    const error = await outboundErrorOf(outbound(`http://rebind.example:${port}/ok`));
    expect(error.reason).toBe("blocked");
    expect(error.target).toBe(`http://rebind.example:${port}`);
    expect(error.message).toMatch(/resolved to a non-public address/);
    expect(lookups).toEqual(["rebind.example"]);
    expect(requests).toEqual([]);
  });

  it("still refuses a private literal address before connecting, without any lookup", async () => {
    const lookups: string[] = [];
    const outbound = createOutboundFetch({
      denyPrivateNetwork: true,
      timeoutMs: 2_000,
      lookup: (hostname) => {
        lookups.push(hostname);
        return Promise.resolve(at("8.8.8.8"));
      },
    });
    requests.length = 0;
    const error = await outboundErrorOf(outbound(`${base}/ok`));
    expect(error.reason).toBe("blocked");
    expect(lookups).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("refuses when any one of the addresses it would connect to is private", async () => {
    const outbound = createOutboundFetch({
      denyPrivateNetwork: true,
      timeoutMs: 2_000,
      lookup: () => Promise.resolve(at("8.8.8.8", "10.0.0.5")),
    });
    const error = await outboundErrorOf(outbound(`http://mixed.example:${port}/ok`));
    expect(error.reason).toBe("blocked");
  });

  it("connects to the address its lookup returned when that address is public", async () => {
    // No public server answers the tests: resolve to a global unicast address on a port nothing
    // listens on and expect a connection attempt that fails or times out, not a refusal.
    const outbound = createOutboundFetch({
      denyPrivateNetwork: true,
      timeoutMs: 300,
      lookup: () => Promise.resolve(at("8.8.8.8")),
    });
    const error = await outboundErrorOf(outbound("http://docs.example:9/ok"));
    expect(error.reason).not.toBe("blocked");
    expect(["timeout", "network"]).toContain(error.reason);
  });
});

describe("each outbound fetch's connections", () => {
  it("are kept alive and reused by that fetch, and not shared with another one", async () => {
    const sockets: unknown[] = [];
    const onConnection = (socket: unknown) => sockets.push(socket);
    server.on("connection", onConnection);
    try {
      const first = createOutboundFetch({ denyPrivateNetwork: false });
      const second = createOutboundFetch({ denyPrivateNetwork: false });
      for (let call = 0; call < 10; call++) expect(await (await first(`${base}/ok`)).json()).toEqual({ ok: true });
      // undici may open a second connection while the first is being handed back after its
      // first answer (Node's own fetch does the same); from then on they are reused.
      expect(sockets.length).toBeLessThanOrEqual(2);
      const ownBefore = sockets.length;
      expect(await (await second(`${base}/ok`)).json()).toEqual({ ok: true });
      expect(sockets).toHaveLength(ownBefore + 1);
    } finally {
      server.off("connection", onConnection);
    }
  });
});

describe("isNonPublicAddress", () => {
  it.each([
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.1.1",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "::",
    "::1",
    "fe80::1",
    "febf::1",
    "fc00::1",
    "fdff:ffff::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a00:1",
    "fe80::1%eth0",
    "not an address",
  ])("treats %s as non-public", (address) => {
    expect(isNonPublicAddress(address)).toBe(true);
  });

  it.each([
    ["TEST-NET-1", "192.0.2.1"],
    ["TEST-NET-2", "198.51.100.7"],
    ["TEST-NET-3", "203.0.113.10"],
    ["benchmarking", "198.18.0.1"],
    ["6to4 relay anycast", "192.88.99.1"],
    ["IETF protocol assignments", "192.0.0.8"],
    ["reserved class E", "240.0.0.1"],
    ["IPv4-compatible loopback", "::7f00:1"],
    ["IPv4-compatible loopback, dotted", "::127.0.0.1"],
    ["IPv4-compatible private", "::a00:1"],
    ["IPv4-mapped TEST-NET", "::ffff:192.0.2.1"],
    ["6to4 of loopback", "2002:7f00:1::"],
    ["6to4 of a private address", "2002:a00:1::1"],
    ["6to4 of a public address (tunnels to any IPv4)", "2002:808:808::1"],
    ["Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    ["NAT64 of loopback", "64:ff9b::7f00:1"],
    ["NAT64 local-use prefix", "64:ff9b:1::808:808"],
    ["IPv6 documentation", "2001:db8::1"],
    ["IPv6 documentation (RFC 9637)", "3fff::1"],
    ["IPv6 discard-only", "100::1"],
    ["IPv6 benchmarking", "2001:2::1"],
    ["IPv6 outside 2000::/3", "4000::1"],
  ])("treats %s (%s) as non-public", (_name, address) => {
    expect(isNonPublicAddress(address)).toBe(true);
  });

  it("treats every address of this machine's own interfaces as non-public", () => {
    const own = interfaceAddresses();
    expect(own.length).toBeGreaterThan(0);
    for (const address of own) expect(isNonPublicAddress(address), address).toBe(true);
  });

  it("treats a global unicast address as non-public when it is one of this machine's own", () => {
    expect(isNonPublicAddress("8.8.8.8", [])).toBe(false);
    expect(isNonPublicAddress("8.8.8.8", ["127.0.0.1", "8.8.8.8"])).toBe(true);
    expect(isNonPublicAddress("2001:4860:4860::8888", ["2001:4860:4860:0::8888"])).toBe(true);
    expect(isNonPublicAddress("::ffff:8.8.8.8", ["8.8.8.8"])).toBe(true);
  });

  it.each([
    "8.8.8.8",
    "172.32.0.1",
    "172.15.255.255",
    "100.128.0.1",
    "192.169.0.1",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
  ])("treats %s as public", (address) => {
    expect(isNonPublicAddress(address)).toBe(false);
  });
});

describe("providerErrorFromOutbound", () => {
  it("maps a slow or unreachable provider to PROVIDER_UNAVAILABLE with Retry-After", () => {
    for (const reason of ["timeout", "network"] as const) {
      const error = providerErrorFromOutbound(new OutboundError(reason, "https://idp.example", "x"), "Discovery");
      expect(error.code).toBe("PROVIDER_UNAVAILABLE");
      expect(error.headers).toEqual({ "Retry-After": "30" });
      expect(error.message).toBe("The provider could not be reached; retry later");
      expect(error.logDetail).toBe("Discovery: x");
    }
  });

  it("maps a refused target or an oversized answer to PROVIDER_ERROR", () => {
    for (const reason of ["blocked", "too_large"] as const) {
      const error = providerErrorFromOutbound(new OutboundError(reason, "https://idp.example", "boom"), "Discovery");
      expect(error.code).toBe("PROVIDER_ERROR");
      expect(error.message).not.toContain("boom");
      expect(error.logDetail).toBe("Discovery: boom");
    }
  });
});
