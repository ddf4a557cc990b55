import { isStorableText } from "../db/storable-text.ts";
import type { DeadGrantMatcher, TokenRequestSettings, TokenResponseSettings } from "./provider.ts";

/**
 * The two halves of a token request oauth4webapi cannot express alone, as data-driven steps its
 * `customFetch` runs: the request rewritten into the provider's dialect (JSON body, Accept, extra
 * headers), and the provider's answer rewritten into an RFC 6749 answer (nested token paths, form
 * bodies, `ok: false` or an error field with HTTP 200, other expiry kinds), so that oauth4webapi
 * then validates it as it validates any other.
 */

/** What the provider really answered, kept for connection_config, the account and dead-grant checks. */
export interface TokenAnswerCapture {
  status: number | null;
  body: Record<string, unknown> | null;
}

export function newCapture(): TokenAnswerCapture {
  return { status: null, body: null };
}

/** Rewrites an oauth4webapi token request (form parameters) into the provider's dialect. */
export function tokenRequestInit(
  settings: TokenRequestSettings,
  init: { body?: unknown; headers: Record<string, string> },
): { body: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { ...init.headers };
  deleteHeader(headers, "accept");
  headers.accept = settings.accept;
  for (const [name, value] of Object.entries(settings.extraHeaders)) {
    deleteHeader(headers, name);
    headers[name] = value;
  }
  const params = init.body instanceof URLSearchParams ? init.body : new URLSearchParams(String(init.body ?? ""));
  if (settings.encoding === "json") {
    deleteHeader(headers, "content-type");
    headers["content-type"] = "application/json";
    return { body: JSON.stringify(Object.fromEntries(params)), headers };
  }
  return { body: params.toString(), headers };
}

function deleteHeader(headers: Record<string, string>, name: string): void {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name.toLowerCase()) delete headers[key];
}

/** The value at a dot path (`authed_user.access_token`, `0.id`). */
export function valueAt(body: unknown, path: string): unknown {
  let value: unknown = body;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A short, storable string at a path (numbers written out), or null. */
export function textAt(body: unknown, path: string, maxLength = 2048): string | null {
  const value = valueAt(body, path);
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  return typeof text === "string" && text.length > 0 && text.length <= maxLength && isStorableText(text) ? text : null;
}

function parseBody(text: string, contentType: string, format: TokenResponseSettings["format"]) {
  const asJson = () => {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  };
  const asForm = () => Object.fromEntries(new URLSearchParams(text)) as Record<string, unknown>;
  try {
    if (format === "json") return asJson();
    if (format === "form") return asForm();
    if (/json/i.test(contentType)) return asJson();
    if (/x-www-form-urlencoded/i.test(contentType)) return asForm();
    return asJson();
  } catch {
    return null;
  }
}

/**
 * Rewrites the provider's token answer into RFC 6749 shape for oauth4webapi. An answer that
 * cannot be read is handed on unchanged, for oauth4webapi to refuse as it would.
 */
export async function normalizeTokenAnswer(
  response: Response,
  settings: TokenResponseSettings,
  now: Date,
  capture: TokenAnswerCapture,
  keepIdToken = true,
): Promise<Response> {
  const text = await response.text();
  const contentType = response.headers.get("content-type") ?? "";
  const body = parseBody(text, contentType, settings.format);
  if (body === null) return new Response(text, { status: response.status, headers: response.headers });
  capture.status = response.status;
  capture.body = body;
  const errorCode = textAt(body, settings.error_path, 200);
  const failed =
    response.status >= 400 ||
    (settings.ok_path !== undefined && valueAt(body, settings.ok_path) === false) ||
    (settings.errors_with_status_200 && errorCode !== null);
  if (failed) {
    const description = textAt(body, settings.error_description_path, 500);
    return Response.json(
      { error: errorCode ?? "invalid_request", ...(description !== null && { error_description: description }) },
      { status: Math.max(response.status, 400) },
    );
  }
  const tokenType = textAt(body, settings.token_type_path, 64)?.toLowerCase();
  const scope = valueAt(body, settings.scope_path);
  const separator = settings.scope_separator;
  const scopeText = Array.isArray(scope)
    ? scope.filter((item) => typeof item === "string").join(" ")
    : typeof scope === "string"
      ? separator === undefined
        ? scope
        : scope.split(separator).join(" ")
      : undefined;
  const normalized: Record<string, unknown> = {
    access_token: valueAt(body, settings.access_token_path),
    // The access token is sent as a Bearer token whatever the provider calls it (Slack "user").
    token_type: tokenType === "dpop" ? "dpop" : "bearer",
    ...(scopeText !== undefined && { scope: scopeText }),
  };
  const refreshToken = valueAt(body, settings.refresh_token_path);
  if (refreshToken !== undefined && refreshToken !== null) normalized.refresh_token = refreshToken;
  const expiresIn = expiresInOf(body, settings.expires, now);
  if (expiresIn !== undefined) normalized.expires_in = expiresIn;
  if (keepIdToken && body.id_token !== undefined) normalized.id_token = body.id_token;
  return Response.json(normalized, { status: 200, headers: { "cache-control": "no-store" } });
}

/** Seconds the token lives, from whichever kind of lifetime the provider gives. */
function expiresInOf(
  body: Record<string, unknown>,
  expires: TokenResponseSettings["expires"],
  now: Date,
): number | string | undefined {
  if (expires.kind === "none" || expires.path === undefined) return undefined;
  const value = valueAt(body, expires.path);
  if (value === undefined || value === null || value === "") return undefined;
  if (expires.kind === "expires_in") return typeof value === "number" || typeof value === "string" ? value : "invalid";
  const at =
    expires.kind === "expires_at" ? Number(value) * 1000 : typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(at)) return "invalid";
  return Math.max(0, Math.floor((at - now.getTime()) / 1000));
}

/** Whether a refresh answer means the grant is dead: only a new consent helps. */
export function isDeadGrant(capture: TokenAnswerCapture, matchers: readonly DeadGrantMatcher[]): boolean {
  if (capture.status === null || capture.body === null) return false;
  if (capture.status >= 500 || capture.status === 429) return false;
  return matchers.some((matcher) => {
    if (matcher.status !== undefined && matcher.status !== capture.status) return false;
    const value = textAt(capture.body, matcher.path, 200);
    return value !== null && matcher.values.includes(value);
  });
}
