import type { IncomingHttpHeaders } from "node:http";
import { OutboundError } from "../http/outbound-fetch.ts";
import type { OutboundAnswer, OutboundRequest } from "../http/outbound-request.ts";
import type { ApiHost } from "../providers/provider.ts";

/** How far a call got (Base44's `ConnectorApiResponsePhase`); only `not_sent` proves the provider did not run it. */
export type ProxyPhase = "not_sent" | "responded" | "timed_out" | "sent_unconfirmed";

/** The proxy's answer, Base44's `ConnectorProxyRawResponse`. */
export interface ProxyAnswer {
  success: boolean;
  phase: ProxyPhase;
  status_code: number | null;
  data: unknown;
  data_base64: string | null;
  content_type: string | null;
  headers: Record<string, string>;
  credits_charged: number;
}

/** Why a call got no usable answer, in `data.error` of a `success: false` answer. */
export type ProxyFailureCode = "BLOCKED" | "CONNECT_FAILED" | "TIMEOUT" | "CONNECTION_LOST" | "RESPONSE_TOO_LARGE";

export interface UpstreamRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Errors whose request never left this machine: the provider cannot have run it. */
const notSentCodes = new Set([
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
]);

/**
 * Sends one request through `outbound` (no redirect followed, time and size limits,
 * private-network guard) and turns whatever happens into an answer. Only errors that are not about
 * the provider (bugs) are thrown.
 */
export async function callProvider(
  outbound: OutboundRequest,
  host: ApiHost,
  request: UpstreamRequest,
): Promise<ProxyAnswer> {
  let response: OutboundAnswer;
  try {
    response = await outbound(request.url, { method: request.method, headers: request.headers, body: request.body });
  } catch (error) {
    return failureAnswer(error, null);
  }
  const headers = exposedHeaders(host, response.headers);
  let bytes: Uint8Array;
  try {
    bytes = await response.body();
  } catch (error) {
    return { ...failureAnswer(error, response.status), headers };
  }
  return {
    success: response.status >= 200 && response.status < 300,
    phase: "responded",
    status_code: response.status,
    ...decodeBody(host, headerValue(response.headers, "content-type"), bytes),
    headers,
    credits_charged: 0,
  };
}

function failureAnswer(error: unknown, status: number | null): ProxyAnswer {
  const [phase, code, message] = classify(error, status);
  return {
    success: false,
    phase,
    status_code: status,
    data: { error: { code, message } },
    data_base64: null,
    content_type: null,
    headers: {},
    credits_charged: 0,
  };
}

function classify(error: unknown, status: number | null): [ProxyPhase, ProxyFailureCode, string] {
  if (!(error instanceof OutboundError)) throw error;
  switch (error.reason) {
    case "blocked":
      return ["not_sent", "BLOCKED", error.message];
    case "timeout":
      return ["timed_out", "TIMEOUT", `${error.message} (LATCHKEY_PROXY_TIMEOUT_SECONDS)`];
    case "too_large":
      return ["responded", "RESPONSE_TOO_LARGE", `${error.message} (LATCHKEY_PROXY_MAX_RESPONSE_BYTES)`];
    case "network": {
      // Once the provider has answered, a broken body is a lost answer, not an unsent request.
      const code = errorCode(error);
      if (status === null && code !== undefined && notSentCodes.has(code)) {
        return ["not_sent", "CONNECT_FAILED", error.message];
      }
      return ["sent_unconfirmed", "CONNECTION_LOST", error.message];
    }
  }
}

/** The first `code` along the error's cause chain (undici puts the socket's there). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

/** The response headers the host exposes, by lower-case name. */
function exposedHeaders(host: ApiHost, headers: IncomingHttpHeaders): Record<string, string> {
  const exposed: Record<string, string> = {};
  for (const name of host.exposedResponseHeaders) {
    const lower = name.toLowerCase();
    const value = headerValue(headers, lower);
    if (value !== null) exposed[lower] = value;
  }
  return exposed;
}

/** One header's value as Fetch's `Headers.get` gives it: a repeated header joined with ", ". */
function headerValue(headers: IncomingHttpHeaders, lowerCaseName: string): string | null {
  const value = headers[lowerCaseName];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}

type DecodedBody = Pick<ProxyAnswer, "data" | "data_base64" | "content_type">;

const textTypes = new Set([
  "application/xml",
  "application/x-www-form-urlencoded",
  "application/javascript",
  "application/ecmascript",
  "application/graphql",
  "application/yaml",
  "application/x-yaml",
  "application/x-ndjson",
  "application/csv",
]);

/** `data` as JSON or text, or `data_base64` + `content_type` for the host's binary types and anything neither JSON nor text. */
export function decodeBody(
  host: Pick<ApiHost, "binaryMediaTypes">,
  contentType: string | null,
  bytes: Uint8Array,
): DecodedBody {
  if (bytes.byteLength === 0) return { data: null, data_base64: null, content_type: null };
  const mediaType = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const binary = (): DecodedBody => ({
    data: null,
    data_base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
    content_type: contentType ?? "application/octet-stream",
  });
  if (declaredBinary(host.binaryMediaTypes, mediaType)) return binary();
  const isJson = mediaType === "application/json" || mediaType.endsWith("+json");
  const isText =
    mediaType.startsWith("text/") || textTypes.has(mediaType) || mediaType.endsWith("+xml") || mediaType === "";
  if (!isJson && !isText) return binary();
  let text: string;
  try {
    text = new TextDecoder(charsetOf(contentType), { fatal: mediaType === "" }).decode(bytes);
  } catch {
    // No declared type and not text: bytes.
    return binary();
  }
  if (isJson || mediaType === "") {
    try {
      return { data: JSON.parse(text), data_base64: null, content_type: null };
    } catch {
      // Not JSON after all: hand back the text.
    }
  }
  return { data: text, data_base64: null, content_type: null };
}

function declaredBinary(types: readonly string[], mediaType: string): boolean {
  return types.some((type) => {
    const declared = type.toLowerCase();
    return declared.endsWith("/*") ? mediaType.startsWith(declared.slice(0, -1)) : declared === mediaType;
  });
}

function charsetOf(contentType: string | null): string {
  const charset = /;\s*charset="?([^";\s]+)"?/i.exec(contentType ?? "")?.[1]?.toLowerCase() ?? "utf-8";
  try {
    new TextDecoder(charset);
    return charset;
  } catch {
    return "utf-8";
  }
}
