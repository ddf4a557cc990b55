import { isIP } from "node:net";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";

/** The key of every request whose peer address is not known (app.request() in tests has no socket). */
export const unknownClient = "unknown";

/**
 * The client address a rate limit is keyed by. The socket's peer, unless `trustProxyHops` reverse
 * proxies sit in front of Latchkey: each appends the address it saw to X-Forwarded-For, so the
 * client is that many entries from the right. Entries further left are whatever the client sent
 * and could be forged to dodge a limit or to lock someone else out, so they are never used.
 */
export function clientIp(c: Context, trustProxyHops: number): string {
  if (trustProxyHops > 0) {
    const forwarded = forwardedClient(c.req.header("x-forwarded-for"), trustProxyHops);
    if (forwarded !== undefined) return addressKey(forwarded);
  }
  const peer = socketAddress(c);
  return peer === undefined ? unknownClient : addressKey(peer);
}

function forwardedClient(header: string | undefined, trustProxyHops: number): string | undefined {
  if (!header) return undefined;
  const entries = header.split(",");
  const entry = entries[Math.max(0, entries.length - trustProxyHops)]?.trim();
  return entry && isIP(entry) !== 0 ? entry : undefined;
}

/** The peer address from @hono/node-server; undefined when the request did not come through a socket. */
function socketAddress(c: Context): string | undefined {
  const env: unknown = c.env;
  if (typeof env !== "object" || env === null || !("incoming" in env || "server" in env)) return undefined;
  const address = getConnInfo(c).remote.address;
  return address && isIP(address) !== 0 ? address : undefined;
}

const ipv4Mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * IPv4 as is; IPv6 by its /64 network, since one subscriber usually gets a whole /64 and could
 * otherwise step around a limit by changing the low bits.
 */
export function addressKey(address: string): string {
  const mapped = ipv4Mapped.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (isIP(address) !== 6) return address;
  return `${ipv6Groups(address).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, in lowercase without leading zeros. */
function ipv6Groups(address: string): string[] {
  const withoutZone = address.split("%")[0] ?? address;
  const [head = "", tail] = withoutZone.split("::");
  const groupsOf = (part: string) => (part === "" ? [] : part.split(":").flatMap(expandEmbeddedIpv4));
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}

/** A trailing dotted IPv4 part (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) stands for two groups. */
function expandEmbeddedIpv4(group: string): string[] {
  if (!group.includes(".")) return [group];
  const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
