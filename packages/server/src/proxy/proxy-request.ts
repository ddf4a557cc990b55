import { forbiddenHeaders, HeaderName } from "@latchkey/catalog";
import { z } from "zod";
import { AppError } from "../errors/app-error.ts";
import type { ApiHost } from "../providers/provider.ts";

/**
 * The proxy route's body, as `@base44/sdk` 0.8.50's `callApi` sends it (`ConnectorApiRequest`):
 * `{method, host?, path, query, headers, body}`; the SDK writes `{}` and `null` for what is unset.
 */
export const proxyMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;
export type ProxyMethod = (typeof proxyMethods)[number];

export const maxPathLength = 4096;
const maxQueryParams = 100;
const maxHeaders = 50;

/** Why a path cannot be sent to a host's root, or null. Never echoes the path. */
export function pathProblem(path: string): string | null {
  if (!path.startsWith("/")) return "must start with / (a path relative to the API root, never an absolute URL)";
  if (path.startsWith("//")) return "must not start with // (that names another host)";
  if (/[\u0000-\u0020\u007f\\#]/.test(path)) return "must not contain whitespace, control characters, \\ or #";
  const queryAt = path.indexOf("?");
  const pathPart = queryAt === -1 ? path : path.slice(0, queryAt);
  for (const segment of pathPart.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return "has a malformed percent-escape";
    }
    // `%2e%2e` is `..` to a URL parser; an encoded slash could make one at the provider.
    if (decoded.split(/[/\\]/).some((part) => part === "." || part === "..")) {
      return "must not contain . or .. segments";
    }
  }
  return null;
}

const ProxyPath = z
  .string()
  .min(1)
  .max(maxPathLength)
  .superRefine((path, ctx) => {
    const problem = pathProblem(path);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const QueryScalar = z.union([z.string().max(maxPathLength), z.number().finite(), z.boolean()]);

const ProxyQuery = z
  .record(z.string().min(1).max(256), z.union([QueryScalar, z.array(QueryScalar).max(maxQueryParams)]))
  .refine((query) => Object.keys(query).length <= maxQueryParams, `at most ${maxQueryParams} query parameters`);

/** A header value Fetch can send: no CR, LF or NUL (no header injection). */
const HeaderValue = z
  .string()
  .max(8192)
  .regex(/^[\t\u0020-\u007e\u0080-\u00ff]*$/, "a header value is printable text on one line");

const ProxyHeaders = z
  .record(HeaderName, HeaderValue)
  .refine((headers) => Object.keys(headers).length <= maxHeaders, `at most ${maxHeaders} headers`);

export const ProxyCallBody = z.strictObject({
  method: z.enum(proxyMethods).default("GET").describe("Defaults to GET"),
  host: z
    .string()
    .min(1)
    .max(100)
    .nullish()
    .describe("The name of one of the provider's API hosts; absent: the first one"),
  path: ProxyPath.describe("Relative to the host's root, starting with /; may carry a query"),
  query: ProxyQuery.nullish().describe("Merged into the URL after any query the path carries"),
  headers: ProxyHeaders.nullish().describe(
    "Forwarded only when the provider allows that header; Authorization, Cookie and Host never",
  ),
  body: z.unknown().optional().describe("JSON, sent as application/json; ignored for GET and HEAD"),
});
export type ProxyCallBody = z.output<typeof ProxyCallBody>;

/** The host a call goes to: by name, or the provider's first. Unknown → 400, never contacted. */
export function pickHost<Host extends Pick<ApiHost, "name">>(
  hosts: readonly Host[],
  name: string | null | undefined,
  providerId: string,
): Host {
  if (hosts.length === 0) {
    throw new AppError(
      "INVALID_REQUEST",
      `Provider "${providerId}" declares no API host the proxy may call; an admin can set the connector's endpoints.api_base_url`,
    );
  }
  const host = name == null ? hosts[0] : hosts.find((candidate) => candidate.name === name);
  if (!host) {
    throw new AppError("INVALID_REQUEST", `Provider "${providerId}" has no API host named "${name}"`, {
      hosts: hosts.map((candidate) => candidate.name),
    });
  }
  return host;
}

/**
 * The URL of one call: the host's base URL, the path under it, the query after the path's own.
 * Throws INVALID_REQUEST when the result would leave the host's origin or its base path (a check
 * beside pathProblem's, on what the URL parser actually makes of it).
 */
export function buildTargetUrl(baseUrl: string, path: string, query: ProxyCallBody["query"]): URL {
  const base = new URL(baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const root = `${base.origin}${basePath}`;
  const url = new URL(`${root}${path}`);
  if (url.origin !== base.origin || !(url.pathname === basePath || url.pathname.startsWith(`${basePath}/`))) {
    throw new AppError("INVALID_REQUEST", "Invalid body: path: must stay under the API host's root");
  }
  const extra: string[] = [];
  for (const [name, value] of Object.entries(query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      extra.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(item))}`);
    }
  }
  if (extra.length > 0) url.search = `${url.search === "" ? "?" : `${url.search}&`}${extra.join("&")}`;
  return url;
}

const neverForwarded: ReadonlySet<string> = new Set(forbiddenHeaders);

/** The caller's headers the host allows (case-insensitive); credentials and routing headers never. */
export function allowedCallerHeaders(
  host: Pick<ApiHost, "allowedRequestHeaders">,
  headers: ProxyCallBody["headers"],
): Record<string, string> {
  const allowed = new Set(host.allowedRequestHeaders.map((name) => name.toLowerCase()));
  const forwarded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const lower = name.toLowerCase();
    if (allowed.has(lower) && !neverForwarded.has(lower)) forwarded[lower] = value;
  }
  return forwarded;
}
