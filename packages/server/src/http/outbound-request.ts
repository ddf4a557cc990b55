import type { IncomingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import {
  assertPublicHost,
  createOutboundFetch,
  defaultMaxResponseBytes,
  defaultOutboundTimeoutMs,
  OutboundError,
  type OutboundPolicy,
  outboundDispatcher,
  toOutboundError,
} from "./outbound-fetch.ts";

export interface OutboundRequestInit {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** An upstream answer whose body is still to be read. */
export interface OutboundAnswer {
  status: number;
  /** Lower-case names; a repeated header as an array. */
  headers: IncomingHttpHeaders;
  /**
   * The whole body. Rejects with OutboundError: `too_large` as soon as it passes the size limit,
   * `timeout` when the call's time runs out while it arrives, `network` when it breaks off.
   */
  body(): Promise<Uint8Array>;
}

export type OutboundRequest = (url: URL, init: OutboundRequestInit) => Promise<OutboundAnswer>;

export interface OutboundRequestOptions extends OutboundPolicy {
  /**
   * Tests only: sends through this fetch instead (routing a catalog host to an emulator), guarded
   * as createOutboundFetch guards a given fetch. Production calls never take this path.
   */
  fetch?: typeof fetch;
}

/**
 * The API proxy's outbound call: what createOutboundFetch guarantees (redirects returned, never
 * followed; one time limit for the whole call, body included; a size limit; with
 * denyPrivateNetwork, literal non-public addresses refused here and every address connected to
 * checked by the dispatcher), sent with undici's `request` over one keep-alive dispatcher built
 * once. The proxy calls the provider once per call it serves; WHATWG fetch's Request, Headers
 * and web-stream bodies cost several times the CPU of the request itself there.
 */
export function createOutboundRequest(policy: OutboundRequestOptions): OutboundRequest {
  if (policy.fetch !== undefined) return overFetch(createOutboundFetch({ ...policy, fetch: policy.fetch }));
  const timeoutMs = policy.timeoutMs ?? defaultOutboundTimeoutMs;
  const maxResponseBytes = policy.maxResponseBytes ?? defaultMaxResponseBytes;
  const { denyPrivateNetwork } = policy;
  const lookup = policy.lookup;
  const dispatcher = outboundDispatcher({ denyPrivateNetwork, ...(lookup !== undefined && { lookup }) });

  return async (url, init) => {
    const target = url.origin;
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new OutboundError("blocked", target, `Only http and https requests are allowed (got ${url.protocol})`);
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const failure = (error: unknown) => toOutboundError(error, { target, timeout, timeoutMs, callerSignal: undefined });
    let response: Dispatcher.ResponseData;
    try {
      // Host names are checked by the dispatcher's own lookup, on the addresses it connects to.
      if (denyPrivateNetwork) await assertPublicHost(url, null);
      response = await (await dispatcher()).request({
        origin: target,
        path: `${url.pathname}${url.search}`,
        method: init.method as Dispatcher.HttpMethod,
        headers: init.headers,
        body: init.body ?? null,
        signal: timeout,
      });
    } catch (error) {
      throw failure(error);
    }
    // A body left unread fails when the time limit aborts it; that must not be an unhandled 'error'.
    response.body.on("error", () => {});
    return {
      status: response.statusCode,
      headers: response.headers,
      body: () => readCapped(response, { target, maxResponseBytes, failure }),
    };
  };
}

interface BodyLimit {
  target: string;
  maxResponseBytes: number;
  failure: (error: unknown) => unknown;
}

async function readCapped(response: Dispatcher.ResponseData, limit: BodyLimit): Promise<Uint8Array> {
  const tooLarge = () =>
    new OutboundError(
      "too_large",
      limit.target,
      `Response from ${limit.target} is larger than ${limit.maxResponseBytes} bytes`,
    );
  const declared = Number(response.headers["content-length"] ?? "NaN");
  if (declared > limit.maxResponseBytes) {
    response.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      // Leaving the loop destroys the body: the rest is never read.
      if (total > limit.maxResponseBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    throw error instanceof OutboundError ? error : limit.failure(error);
  }
  const [only] = chunks;
  return chunks.length === 1 && only ? only : Buffer.concat(chunks, total);
}

/** An outbound fetch as an OutboundRequest (tests' transports). */
function overFetch(outbound: typeof fetch): OutboundRequest {
  return async (url, init) => {
    const response = await outbound(url, {
      method: init.method,
      headers: init.headers,
      ...(init.body !== undefined && { body: init.body }),
    });
    const headers: IncomingHttpHeaders = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) headers["set-cookie"] = cookies;
    return { status: response.status, headers, body: async () => new Uint8Array(await response.arrayBuffer()) };
  };
}
