import { LatchkeyError, clientError } from "./errors.ts";
import { isObject } from "./transport.ts";
import type {
  ConnectorApiMethod,
  ConnectorApiRequest,
  ConnectorApiResponse,
  ConnectorApiResponsePhase,
} from "./types.ts";

const methods: ReadonlySet<string> = new Set<ConnectorApiMethod>(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]);

/**
 * The proxy route's body, built as Base44's `callApi` builds it: `method` defaults to GET, `host` is left out
 * when unset (so the server picks the provider's first host), `query`/`headers` default to `{}`, `body` to null.
 * The server checks everything else (path shape, host names, header allow-list).
 */
export function toProxyBody(request: ConnectorApiRequest): Record<string, unknown> {
  if (!isObject(request)) throw clientError("INVALID_ARGUMENT", "request is required and must be an object");
  if (typeof request.path !== "string" || request.path === "") {
    throw clientError("INVALID_ARGUMENT", "request.path is required and must be a non-empty string");
  }
  const method: unknown = request.method ?? "GET";
  if (typeof method !== "string" || !methods.has(method)) {
    throw clientError("INVALID_ARGUMENT", "request.method must be one of GET, POST, PUT, PATCH, DELETE or HEAD");
  }
  // Untyped callers write null as often as undefined for "unset"; both leave the field out.
  const host: unknown = request.host;
  if (host != null && (typeof host !== "string" || host === "")) {
    throw clientError("INVALID_ARGUMENT", "request.host must be the name of one of the provider's API hosts");
  }
  return {
    method,
    ...(host != null && { host }),
    path: request.path,
    query: request.query ?? {},
    headers: request.headers ?? {},
    body: request.body ?? null,
  };
}

/**
 * The proxy's snake_case answer → Base44's camelCase `ConnectorApiResponse`, with Base44's defaults. The
 * phase is passed on as sent: rejecting one a newer server adds would lose an answer the provider gave.
 */
export function toConnectorApiResponse<T>(body: unknown, status: number): ConnectorApiResponse<T> {
  if (!isObject(body) || typeof body.success !== "boolean" || typeof body.phase !== "string") {
    throw new LatchkeyError({
      status,
      code: "INVALID_RESPONSE",
      message: "Latchkey sent a proxy answer without success and phase",
      data: body,
    });
  }
  return {
    success: body.success,
    phase: body.phase as ConnectorApiResponsePhase,
    status: typeof body.status_code === "number" ? body.status_code : null,
    data: (body.data ?? null) as T | null,
    dataBase64: typeof body.data_base64 === "string" ? body.data_base64 : null,
    contentType: typeof body.content_type === "string" ? body.content_type : null,
    headers: isObject(body.headers) ? (body.headers as Record<string, string>) : {},
    creditsCharged: typeof body.credits_charged === "number" ? body.credits_charged : 0,
  };
}
