import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { addressKey, clientIp, unknownClient } from "./client-ip.ts";

function ipApp(trustProxyHops: number) {
  const app = new Hono();
  app.get("/ip", (c) => c.text(clientIp(c, trustProxyHops)));
  return app;
}

async function ipOf(trustProxyHops: number, forwardedFor?: string): Promise<string> {
  const headers: Record<string, string> = forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor };
  return (await ipApp(trustProxyHops).request("/ip", { headers })).text();
}

describe("clientIp", () => {
  it("is the fixed unknown client when there is no socket (app.request in tests)", async () => {
    expect(await ipOf(0)).toBe(unknownClient);
  });

  it("ignores X-Forwarded-For unless a proxy is trusted: a client could write anything there", async () => {
    expect(await ipOf(0, "203.0.113.7")).toBe(unknownClient);
  });

  it("with one trusted proxy, takes the address that proxy appended (the right-most)", async () => {
    expect(await ipOf(1, "203.0.113.7")).toBe("203.0.113.7");
    // The left entries came from the client and are ignored, so they cannot dodge a limit or frame someone.
    expect(await ipOf(1, "198.51.100.66, 10.9.9.9, 203.0.113.7")).toBe("203.0.113.7");
  });

  it("with two trusted proxies, takes the second address from the right", async () => {
    expect(await ipOf(2, "198.51.100.66, 203.0.113.7, 10.0.0.2")).toBe("203.0.113.7");
  });

  it("takes the left-most address when there are fewer entries than trusted proxies", async () => {
    expect(await ipOf(3, "203.0.113.7, 10.0.0.2")).toBe("203.0.113.7");
  });

  it("falls back to the socket peer when the trusted entry is not an IP address", async () => {
    expect(await ipOf(1, "203.0.113.7, not-an-ip")).toBe(unknownClient);
    expect(await ipOf(1, "")).toBe(unknownClient);
  });

  it("keys an IPv6 client by its /64", async () => {
    expect(await ipOf(1, "2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
  });

  it("reads the peer address from the socket when served by @hono/node-server", async () => {
    const server = serve({ fetch: ipApp(0).fetch, port: 0, hostname: "127.0.0.1" });
    try {
      await new Promise<void>((resolve) => server.once("listening", () => resolve()));
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/ip`, { headers: { "x-forwarded-for": "203.0.113.7" } });
      expect(await response.text()).toBe("127.0.0.1");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("addressKey", () => {
  it("keeps IPv4 addresses as they are", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
  });

  it("turns IPv4-mapped IPv6 into plain IPv4, so a dual-stack socket counts one client once", () => {
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::FFFF:203.0.113.7")).toBe("203.0.113.7");
  });

  it("puts every address of one /64 under one key, however it is written", () => {
    const key = "2001:db8:0:1::/64";
    expect(addressKey("2001:db8:0:1::1")).toBe(key);
    expect(addressKey("2001:0DB8:0000:0001:ffff:ffff:ffff:ffff")).toBe(key);
    expect(addressKey("2001:db8::1:0:0:0:2")).toBe(key);
    expect(addressKey("2001:db8:0:1::1%eth0")).toBe(key);
  });

  it("keeps different /64 networks apart", () => {
    expect(addressKey("2001:db8:0:1::1")).not.toBe(addressKey("2001:db8:0:2::1"));
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
  });

  it("counts an embedded IPv4 tail as two groups", () => {
    expect(addressKey("64:ff9b::203.0.113.7")).toBe("64:ff9b:0:0::/64");
    expect(addressKey("2001:db8:1:2:3:4:203.0.113.7")).toBe("2001:db8:1:2::/64");
  });
});
