import { OutboundError } from "../http/outbound-fetch.ts";
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

export interface CallLimits {
  maxResponseBytes: number;
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
 * Sends one request through `outbound` (the guarded fetch: no redirect followed, time limit,
 * private-network guard) and turns whatever happens into an answer. Only errors that are not about
 * the provider (bugs) are thrown.
 */
export async function callProvider(
  outbound: typeof fetch,
  host: ApiHost,
  request: UpstreamRequest,
  limits: CallLimits,
): Promise<ProxyAnswer> {
  let response: Response;
  try {
    response = await outbound(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined && { body: request.body }),
      redirect: "manual",
    });
  } catch (error) {
    return failureAnswer(error, null);
  }
  const headers = exposedHeaders(host, response.headers);
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(response, limits.maxResponseBytes);
  } catch (error) {
    return { ...failureAnswer(error, response.status), headers };
  }
  return {
    success: response.status >= 200 && response.status < 300,
    phase: "responded",
    status_code: response.status,
    ...decodeBody(host, response.headers.get("content-type"), bytes),
    headers,
    credits_charged: 0,
  };
}

class ResponseTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The provider's answer is larger than ${limit} bytes (LATCHKEY_PROXY_MAX_RESPONSE_BYTES)`);
  }
}

/** The whole body, or ResponseTooLarge as soon as it is known to exceed the limit. */
async function readCapped(response: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw new ResponseTooLarge(limit);
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new ResponseTooLarge(limit);
    }
    chunks.push(chunk.value);
  }
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  return Buffer.concat(chunks, total);
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
  if (error instanceof ResponseTooLarge) return ["responded", "RESPONSE_TOO_LARGE", error.message];
  if (!(error instanceof OutboundError)) throw error;
  switch (error.reason) {
    case "blocked":
      return ["not_sent", "BLOCKED", error.message];
    case "timeout":
      return ["timed_out", "TIMEOUT", `${error.message} (LATCHKEY_PROXY_TIMEOUT_SECONDS)`];
    case "too_large":
      return ["responded", "RESPONSE_TOO_LARGE", error.message];
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
function exposedHeaders(host: ApiHost, headers: Headers): Record<string, string> {
  const exposed: Record<string, string> = {};
  for (const name of host.exposedResponseHeaders) {
    const value = headers.get(name);
    if (value !== null) exposed[name.toLowerCase()] = value;
  }
  return exposed;
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
