import { LatchkeyError, clientError } from "./errors.ts";
import type { FetchLike } from "./types.ts";

export interface TransportConfig {
  serverUrl: string;
  appId: string;
  fetch: FetchLike | undefined;
}

export interface Call {
  method: "GET" | "POST" | "DELETE";
  /** Path below `/api`, one raw segment each; every segment is percent-encoded here. */
  segments: readonly string[];
  authorization: string;
  onBehalfOf?: string;
  body?: Record<string, unknown>;
}

export interface Answer {
  status: number;
  /** Parsed JSON, or undefined for an empty body (204). */
  body: unknown;
}

export type Send = (call: Call) => Promise<Answer>;

/** One place that turns a call into a fetch and an answer into a value or a LatchkeyError. */
export function createTransport(config: TransportConfig): Send {
  const apiBase = `${apiRoot(config.serverUrl)}/api/`;
  // Resolved per call, and never called as a method of an object: browsers reject an unbound fetch.
  const doFetch: FetchLike = config.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return async (call) => {
    const url = apiBase + call.segments.map(encodeSegment).join("/");
    const response = await fetchOrThrow(doFetch, url, requestInit(config.appId, call));
    const text = await readTextOrThrow(response);
    if (!response.ok) throw errorFromResponse(response, text);
    return { status: response.status, body: parseSuccess(response, text) };
  };
}

/** URL parsers collapse `.` and `..` (even percent-encoded), which would aim the call at another route. */
function encodeSegment(segment: string): string {
  if (segment === "." || segment === "..") {
    throw clientError("INVALID_ARGUMENT", `"${segment}" cannot be used as an id`);
  }
  return encodeURIComponent(segment);
}

function apiRoot(serverUrl: string): string {
  if (typeof serverUrl !== "string" || serverUrl.trim() === "") {
    throw clientError("INVALID_CONFIG", "serverUrl is required (the address of your Latchkey server)");
  }
  const trimmed = serverUrl.trim().replace(/\/+$/, "");
  if (!isUsableUrl(trimmed)) {
    throw clientError("INVALID_CONFIG", `serverUrl is not a valid http(s) URL: ${serverUrl}`);
  }
  return trimmed;
}

/** Absolute http(s) URLs everywhere; a relative one only where a page gives it a base (same-origin frontends). */
function isUsableUrl(value: string): boolean {
  const base = (globalThis as { location?: { href?: unknown } }).location?.href;
  try {
    const url = typeof base === "string" ? new URL(value || "/", base) : new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function requestInit(appId: string, call: Call): RequestInit {
  const headers = new Headers({ Accept: "application/json", "X-App-Id": appId, Authorization: call.authorization });
  if (call.onBehalfOf !== undefined) headers.set("on-behalf-of", call.onBehalfOf);
  const init: RequestInit = { method: call.method, headers };
  if (call.body !== undefined) {
    headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(call.body);
  }
  return init;
}

async function fetchOrThrow(doFetch: FetchLike, url: string, init: RequestInit): Promise<Response> {
  try {
    return await doFetch(url, init);
  } catch (cause) {
    throw clientError("NETWORK_ERROR", `Could not reach Latchkey at ${url}: ${describe(cause)}`, cause);
  }
}

async function readTextOrThrow(response: Response): Promise<string> {
  try {
    return await response.text();
  } catch (cause) {
    throw clientError("NETWORK_ERROR", `The answer from Latchkey broke off: ${describe(cause)}`, cause);
  }
}

function parseSuccess(response: Response, text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new LatchkeyError({
      status: response.status,
      code: "INVALID_RESPONSE",
      message: `Latchkey answered ${response.status} with a body that is not JSON`,
      data: text,
      requestId: response.headers.get("x-request-id") ?? undefined,
      cause,
    });
  }
}

interface ErrorEnvelope {
  code: string;
  message: string;
  details?: unknown;
  request_id?: string;
}

function errorFromResponse(response: Response, text: string): LatchkeyError {
  const data = parseLenient(text);
  const envelope = readEnvelope(data);
  const headerRequestId = response.headers.get("x-request-id") ?? undefined;
  if (envelope) {
    return new LatchkeyError({
      status: response.status,
      code: envelope.code as LatchkeyError["code"],
      message: envelope.message,
      data,
      details: envelope.details,
      requestId: envelope.request_id ?? headerRequestId,
    });
  }
  const statusText = response.statusText ? ` ${response.statusText}` : "";
  return new LatchkeyError({
    status: response.status,
    code: `HTTP_${response.status}`,
    message: `Latchkey request failed with HTTP ${response.status}${statusText}`,
    data: text === "" ? undefined : data,
    requestId: headerRequestId,
  });
}

function parseLenient(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function readEnvelope(data: unknown): ErrorEnvelope | undefined {
  if (!isObject(data) || !isObject(data.error)) return undefined;
  const { code, message, details, request_id: requestId } = data.error;
  if (typeof code !== "string" || code === "") return undefined;
  return {
    code,
    message: typeof message === "string" && message !== "" ? message : code,
    ...(details !== undefined && { details }),
    ...(typeof requestId === "string" && { request_id: requestId }),
  };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(cause: unknown): string {
  if (isObject(cause) && typeof cause.message === "string" && cause.message !== "") return cause.message;
  return String(cause);
}
