import { clientError } from "./errors.ts";
import { createClient } from "./client.ts";
import { readEnv, type EnvSource } from "./env.ts";
import type { FetchLike, LatchkeyClient, TokenSource } from "./types.ts";

/** A Fetch API `Request` (Deno, Bun, Workers, Next.js route handlers, Hono's `c.req.raw`). */
export interface FetchRequestLike {
  headers: { get(name: string): string | null };
}

/** A Node `IncomingMessage` (node:http, Express, Fastify's `request.raw`): lowercase header keys. */
export interface NodeRequestLike {
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

export type RequestLike = FetchRequestLike | NodeRequestLike;

export interface FromRequestOptions {
  serverUrl?: string | undefined;
  appId?: string | undefined;
  /** Overrides the user token found in the request. */
  token?: TokenSource | null | undefined;
  serviceToken?: string | undefined;
  fetch?: FetchLike | undefined;
  /** Where LATCHKEY_* variables are read (e.g. a Cloudflare Worker's `env`); default: the process environment. */
  env?: EnvSource | undefined;
}

/**
 * A client for a backend handling one app-user request: the user token from `Authorization: Bearer`,
 * the app id from `X-App-Id` (else LATCHKEY_APP_ID), the server from LATCHKEY_URL and the service key
 * from LATCHKEY_SERVICE_KEY. The service key is never taken from the request. Explicit options win.
 */
export function createClientFromRequest(request: RequestLike, options: FromRequestOptions = {}): LatchkeyClient {
  if (
    typeof request !== "object" ||
    request === null ||
    typeof request.headers !== "object" ||
    request.headers === null
  ) {
    throw clientError("INVALID_ARGUMENT", "createClientFromRequest needs a Fetch Request or a Node IncomingMessage");
  }
  const header = (name: string) => readHeader(request, name);
  const serverUrl = options.serverUrl ?? readEnv("LATCHKEY_URL", options.env);
  const appId = options.appId ?? nonEmpty(header("x-app-id")) ?? readEnv("LATCHKEY_APP_ID", options.env);
  if (serverUrl === undefined) {
    throw clientError("INVALID_CONFIG", "Set LATCHKEY_URL (or pass serverUrl) to the address of your Latchkey server");
  }
  if (appId === undefined) {
    throw clientError("INVALID_CONFIG", "The request has no X-App-Id header: set LATCHKEY_APP_ID or pass appId");
  }
  return createClient({
    serverUrl,
    appId,
    token: options.token !== undefined ? options.token : bearerToken(header("authorization")),
    serviceToken: options.serviceToken ?? readEnv("LATCHKEY_SERVICE_KEY", options.env),
    fetch: options.fetch,
  });
}

function readHeader(request: RequestLike, name: string): string | undefined {
  const { headers } = request;
  if (isFetchHeaders(headers)) return headers.get(name) ?? undefined;
  const value = headers[name];
  // Node joins repeated headers except a few; an array is taken by its first value.
  return typeof value === "string" ? value : value?.[0];
}

function isFetchHeaders(headers: RequestLike["headers"]): headers is FetchRequestLike["headers"] {
  return typeof (headers as { get?: unknown }).get === "function";
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
}
