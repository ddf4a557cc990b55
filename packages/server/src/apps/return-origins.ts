import { z } from "zod";

/**
 * An app's allowed return origins and the check the connect flow makes against them.
 *
 * Matching is exact: scheme, host and port of the parsed URL (WHATWG, the parser browsers use)
 * must equal one stored origin. No wildcards, no suffix or prefix matching, no userinfo.
 */

export const maxReturnOrigins = 50;
const maxUrlLength = 2048;

/** Raw-string features no legitimate origin or return URL needs, and parsers disagree about. */
const suspiciousCharacters = /[\u0000-\u0020\u007f\\]/;

/** Why `value` is not an exact http(s) origin, or null when it is one. */
export function originProblem(value: string): string | null {
  if (value.length > maxUrlLength) return `must be at most ${maxUrlLength} characters`;
  if (suspiciousCharacters.test(value)) return "must not contain whitespace, control characters or backslashes";
  const scheme = /^(https?):\/\//i.exec(value);
  if (!scheme) return "must start with http:// or https://";
  // After the scheme only a host[:port] and at most one trailing "/" may follow.
  const authority = value.slice(scheme[0].length);
  if (!/^[^/?#@*]+\/?$/.test(authority)) {
    return "must be an origin (scheme, host, optional port) with no path, query, fragment, userinfo or wildcard";
  }
  const url = parseUrl(value);
  if (!url || url.hostname === "") return "is not a valid URL";
  return null;
}

/** The stored form of an origin: URL.origin (lowercase host, default port dropped). */
export function normalizeOrigin(value: string): string {
  const url = parseUrl(value);
  if (!url || originProblem(value) !== null) throw new Error("normalizeOrigin called with an invalid origin");
  return url.origin;
}

/** Normalizes each origin and removes duplicates, keeping the first occurrence's position. */
export function normalizeOrigins(values: readonly string[]): string[] {
  return [...new Set(values.map(normalizeOrigin))];
}

export const ReturnOriginSchema = z
  .string()
  .max(maxUrlLength)
  .superRefine((value, ctx) => {
    const problem = originProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `Origin ${problem}` });
  });

export const AllowedReturnOriginsSchema = z.array(ReturnOriginSchema).min(1).max(maxReturnOrigins);

/**
 * The return URL as Latchkey should redirect to it (normalized href), when its origin is one of
 * `origins`; otherwise null. Only absolute http(s) URLs without userinfo qualify.
 */
export function allowedReturnToUrl(origins: readonly string[], returnTo: string): URL | null {
  if (returnTo.length > maxUrlLength || suspiciousCharacters.test(returnTo)) return null;
  if (!/^https?:\/\//i.test(returnTo)) return null;
  if (hasUserinfo(returnTo)) return null;
  const url = parseUrl(returnTo);
  if (url?.username !== "" || url.password !== "") return null;
  return origins.includes(url.origin) ? url : null;
}

/** Exact scheme + host + port comparison of `returnTo` against the app's stored origins. */
export function isAllowedReturnTo(origins: readonly string[], returnTo: string): boolean {
  return allowedReturnToUrl(origins, returnTo) !== null;
}

/** "https://@host" parses with an empty username; any "@" before the path still means userinfo. */
function hasUserinfo(absoluteUrl: string): boolean {
  const afterScheme = absoluteUrl.slice(absoluteUrl.indexOf("//") + 2);
  const authorityEnd = afterScheme.search(/[/?#]/);
  const authority = authorityEnd === -1 ? afterScheme : afterScheme.slice(0, authorityEnd);
  return authority.includes("@");
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}
