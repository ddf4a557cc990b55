import { isIP } from "node:net";
import { z } from "zod";
import { isNonPublicAddress } from "../http/outbound-fetch.ts";

export const maxProviderUrlLength = 2048;

export interface ProviderUrlPolicy {
  /** LATCHKEY_DENY_PRIVATE_NETWORK: refuse URLs that name a loopback or private address outright. */
  denyPrivateNetwork: boolean;
}

/** Raw-string features no provider URL needs; the URL parser would silently drop or rewrite them. */
const suspiciousCharacters = /[\u0000-\u0020\u007f\\]/;

/**
 * Why `value` cannot be a provider endpoint (or, with `issuer`, an issuer identifier), or null.
 * https only, except plain http to a loopback host so a provider on the same machine works for
 * development and self-hosting.
 */
export function providerUrlProblem(
  value: string,
  policy: ProviderUrlPolicy,
  kind: "endpoint" | "issuer",
): string | null {
  if (suspiciousCharacters.test(value)) return "must not contain whitespace, control characters or backslashes";
  const url = parseUrl(value);
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || url.hostname === "") {
    return "must be an absolute https URL";
  }
  if (url.username !== "" || url.password !== "") return "must not contain credentials";
  if (url.hash !== "" || value.includes("#")) return "must not contain a fragment";
  if (kind === "issuer" && (url.search !== "" || value.includes("?"))) return "an issuer must not contain a query";
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === "http:" && !loopback)
    return "must use https (plain http is allowed only for localhost and loopback addresses)";
  if (policy.denyPrivateNetwork && (loopback || isNonPublicLiteral(url.hostname))) {
    return "must not point to a loopback or private address while LATCHKEY_DENY_PRIVATE_NETWORK is on";
  }
  return null;
}

/** `localhost`, `*.localhost` (RFC 6761), 127.0.0.0/8 and ::1, as the WHATWG parser writes them. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host === "[::1]") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

function isNonPublicLiteral(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1");
  return isIP(host) !== 0 && isNonPublicAddress(host);
}

export function providerUrlSchema(policy: ProviderUrlPolicy, kind: "endpoint" | "issuer" = "endpoint") {
  return z
    .string()
    .max(maxProviderUrlLength)
    .superRefine((value, ctx) => {
      const problem = providerUrlProblem(value, policy, kind);
      if (problem) ctx.addIssue({ code: "custom", message: `URL ${problem}` });
    });
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}
