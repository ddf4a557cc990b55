import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import ipaddr from "ipaddr.js";
import type { Dispatcher } from "undici";
import { AppError } from "../errors/app-error.ts";

export type OutboundFailure = "timeout" | "too_large" | "blocked" | "network";

/** Why a server-to-provider call failed, typed so callers can map it to PROVIDER_UNAVAILABLE or PROVIDER_ERROR. */
export class OutboundError extends Error {
  override name = "OutboundError";
  constructor(
    readonly reason: OutboundFailure,
    /** Origin of the request (never its path or query, which may carry codes). */
    readonly target: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

/** Who an outbound use may reach, and how long and how much it may take. */
export interface OutboundPolicy {
  /** Refuse loopback, private, link-local and other non-public targets (LATCHKEY_DENY_PRIVATE_NETWORK). */
  denyPrivateNetwork: boolean;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Resolves every address of a host name; tests swap it. */
  lookup?: LookupAll;
}

export interface OutboundFetchOptions extends OutboundPolicy {
  /**
   * Sends through this instead of the fetch's own dispatcher (tests route provider hosts to
   * emulators). Its connections are not this module's, so host names are then resolved and
   * checked before the call rather than at connect.
   */
  fetch?: typeof fetch;
}

export const defaultOutboundTimeoutMs = 10_000;
export const defaultMaxResponseBytes = 1024 * 1024;

const lookupAllAddresses: LookupAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * One outbound use's fetch (provider token calls, identity documents, webhook deliveries): redirects
 * are returned, never followed; every call has a timeout (also while its body is read) and a
 * response size limit; with denyPrivateNetwork, non-public targets are refused.
 *
 * Built once per use: it owns one keep-alive dispatcher (outboundDispatcher), so calls to the same
 * host reuse connections. With denyPrivateNetwork that dispatcher checks the addresses it actually
 * connects to, which DNS rebinding (public at a check, private a moment later) cannot get past;
 * literal addresses are refused here before connecting. Over a given `fetch` (tests), host names
 * are resolved and checked here instead.
 */
export function createOutboundFetch(options: OutboundFetchOptions): typeof fetch {
  const timeoutMs = options.timeoutMs ?? defaultOutboundTimeoutMs;
  const maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
  const lookup = options.lookup ?? lookupAllAddresses;
  const { denyPrivateNetwork } = options;
  const resolveNames = options.fetch !== undefined;
  const send = options.fetch ?? dispatchingFetch(outboundDispatcher({ denyPrivateNetwork, lookup }));

  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const target = url.origin;
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new OutboundError("blocked", target, `Only http and https requests are allowed (got ${url.protocol})`);
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const callerSignal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    const failure = (error: unknown) => toOutboundError(error, { target, timeout, timeoutMs, callerSignal });
    try {
      if (denyPrivateNetwork) await abortable(assertPublicHost(url, resolveNames ? lookup : null), signal);
      const response = await send(input, { ...init, redirect: "manual", signal });
      return limitResponseBody(response, { target, maxResponseBytes, failure });
    } catch (error) {
      throw failure(error);
    }
  };
}

/**
 * A keep-alive connection pool of its own for one outbound use. With denyPrivateNetwork its
 * connections resolve host names through `lookup` and refuse to connect when any address is
 * non-public. undici is loaded on the first call rather than at start, where it would add to
 * every cold start.
 */
export function outboundDispatcher(options: {
  denyPrivateNetwork: boolean;
  lookup?: LookupAll;
}): () => Promise<Dispatcher> {
  let dispatcher: Promise<Dispatcher> | undefined;
  const lookup = options.lookup ?? lookupAllAddresses;
  return () => {
    dispatcher ??= loadUndiciAgent().then(
      (Agent) => new Agent(options.denyPrivateNetwork ? { connect: { lookup: publicOnlyLookup(lookup) } } : {}),
    );
    return dispatcher;
  };
}

/** Node's own fetch over the given dispatcher. */
function dispatchingFetch(dispatcher: () => Promise<Dispatcher>): typeof fetch {
  // Node's fetch takes undici's `dispatcher`; the DOM RequestInit type does not declare it.
  return async (input, init) => fetch(input, { ...init, dispatcher: await dispatcher() } as RequestInit);
}

export interface FailureContext {
  target: string;
  timeout: AbortSignal;
  timeoutMs: number;
  callerSignal: AbortSignal | null | undefined;
}

/** What went wrong with one call, as an OutboundError unless the caller aborted it. */
export function toOutboundError(error: unknown, context: FailureContext): unknown {
  if (error instanceof OutboundError) {
    // Refused at connect time by the dispatcher's lookup, which knows the host name only.
    if (error.target === context.target) return error;
    return new OutboundError(error.reason, context.target, error.message, { cause: error });
  }
  // Refused at connect time through fetch, which wraps it in "fetch failed".
  if (error instanceof Error && error.cause instanceof OutboundError) {
    return new OutboundError(error.cause.reason, context.target, error.cause.message, { cause: error });
  }
  // The caller's own abort is theirs to handle; it is not a provider failure.
  if (context.callerSignal?.aborted && !context.timeout.aborted) return error;
  if (context.timeout.aborted) {
    return new OutboundError(
      "timeout",
      context.target,
      `Request to ${context.target} timed out after ${context.timeoutMs} ms`,
      {
        cause: error,
      },
    );
  }
  const detail = error instanceof Error ? describeNetworkError(error) : String(error);
  return new OutboundError("network", context.target, `Request to ${context.target} failed: ${detail}`, {
    cause: error,
  });
}

function describeNetworkError(error: Error): string {
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ? `${code} ${cause.message}` : cause.message;
  }
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
}

/** Rejects with the signal's reason when it aborts first (dns.lookup itself cannot be aborted). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

type LookupCallback = (error: Error | null, address: string | LookupAddress[], family?: number) => void;

/** A `net.connect` lookup that answers only with public addresses, else fails with OutboundError "blocked". */
export function publicOnlyLookup(lookup: LookupAll) {
  return (hostname: string, options: { all?: boolean | undefined }, callback: LookupCallback): void => {
    lookup(hostname).then(
      (addresses) => {
        const first = addresses[0];
        if (!first)
          return callback(
            Object.assign(new Error(`${hostname} did not resolve to any address`), { code: "ENOTFOUND" }),
            [],
          );
        if (addresses.some((entry) => isNonPublicAddress(entry.address))) {
          const message = `Connection to ${hostname} refused: it resolved to a non-public address (loopback, private, link-local, reserved or this machine's own; LATCHKEY_DENY_PRIVATE_NETWORK=true)`;
          return callback(new OutboundError("blocked", hostname, message), []);
        }
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), []),
    );
  };
}

/** Refuses a non-public literal address, and a host name resolving to one when given `lookup` (else the connection checks it). */
export async function assertPublicHost(url: URL, lookup: LookupAll | null): Promise<void> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else if (lookup === null) return;
  else addresses = (await lookup(host)).map((entry) => entry.address);
  if (addresses.length === 0) throw new Error(`${host} did not resolve to any address`);
  if (addresses.some((address) => isNonPublicAddress(address))) {
    throw new OutboundError(
      "blocked",
      url.origin,
      `Requests to ${url.hostname} are refused: it is or resolves to a non-public address (loopback, private, link-local, reserved or this machine's own; LATCHKEY_DENY_PRIVATE_NETWORK=true)`,
    );
  }
}

/**
 * True for every address a server should not be made to call when the private network is denied:
 * everything but global unicast, as ipaddr.js classifies the IANA special-purpose registries
 * (loopback, private, link-local, shared, reserved, documentation/TEST-NET, benchmarking,
 * multicast, …), and this machine's own interface addresses. IPv6 must also be in 2000::/3, which
 * leaves out the deprecated IPv4-compatible form (`::7f00:1`); IPv4-mapped and NAT64 addresses
 * are judged by the IPv4 address inside; 6to4 and Teredo tunnel to whatever IPv4 address they
 * embed, so they are refused outright. An unparseable address is non-public.
 */
export function isNonPublicAddress(address: string, ownAddresses: readonly string[] = interfaceAddresses()): boolean {
  const parsed = parseAddress(address);
  if (parsed === null) return true;
  const judged = publicCandidate(parsed);
  return judged === null || isOwnAddress(judged, ownAddresses);
}

/** The address to judge (an embedded IPv4 one where the form just carries it), or null when non-public. */
function publicCandidate(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (address.kind() === "ipv4") return address.range() === "unicast" ? address : null;
  const v6 = address as ipaddr.IPv6;
  const range = v6.range();
  if (range === "ipv4Mapped") return publicCandidate(v6.toIPv4Address());
  if (range === "rfc6052" && v6.match(nat64WellKnownPrefix)) return publicCandidate(embeddedIPv4(v6));
  return range === "unicast" && v6.match(globalUnicastPrefix) ? v6 : null;
}

const globalUnicastPrefix = ipaddr.parseCIDR("2000::/3") as [ipaddr.IPv6, number];
const nat64WellKnownPrefix = ipaddr.parseCIDR("64:ff9b::/96") as [ipaddr.IPv6, number];

function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 {
  const bytes = address.toByteArray().slice(12);
  return ipaddr.fromByteArray(bytes) as ipaddr.IPv4;
}

function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const version = isIP(address.replace(/%.*$/, ""));
  if (version === 0) return null;
  try {
    return ipaddr.parse(address);
  } catch {
    return null;
  }
}

/** This machine's interface addresses (read each time: they change): a public one still reaches this server. */
export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
}

function isOwnAddress(address: ipaddr.IPv4 | ipaddr.IPv6, ownAddresses: readonly string[]): boolean {
  const normalized = address.toNormalizedString();
  return ownAddresses.some((candidate) => {
    const own = parseAddress(candidate);
    return own !== null && own.kind() === address.kind() && own.toNormalizedString() === normalized;
  });
}

interface BodyLimit {
  target: string;
  maxResponseBytes: number;
  failure: (error: unknown) => unknown;
}

const nullBodyStatuses = new Set([101, 204, 205, 304]);

function limitResponseBody(response: Response, limit: BodyLimit): Response {
  const tooLarge = () =>
    new OutboundError(
      "too_large",
      limit.target,
      `Response from ${limit.target} is larger than ${limit.maxResponseBytes} bytes`,
    );
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > limit.maxResponseBytes) {
    void response.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!response.body || nullBodyStatuses.has(response.status)) return response;

  const reader = response.body.getReader();
  let received = 0;
  const limited = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) return controller.close();
        received += chunk.value.byteLength;
        if (received > limit.maxResponseBytes) {
          const error = tooLarge();
          void reader.cancel(error).catch(() => {});
          return controller.error(error);
        }
        controller.enqueue(chunk.value);
      } catch (error) {
        controller.error(limit.failure(error));
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const wrapped = new Response(limited, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  Object.defineProperty(wrapped, "url", { value: response.url });
  return wrapped;
}

/**
 * The API error for a failed provider call: the provider being slow or unreachable is
 * PROVIDER_UNAVAILABLE (503, retry later); a refused target or an oversized answer is PROVIDER_ERROR.
 * The client gets a plain message; the target, addresses and socket errors go to the log only
 * (the detail), or a user token would turn the server into a port scanner of its network.
 */
export function providerErrorFromOutbound(error: OutboundError, what: string): AppError {
  const detail = `${what}: ${error.message}`;
  switch (error.reason) {
    case "timeout":
    case "network":
      return new AppError(
        "PROVIDER_UNAVAILABLE",
        "The provider could not be reached; retry later",
        undefined,
        { "Retry-After": "30" },
        detail,
      );
    case "blocked":
      return new AppError(
        "PROVIDER_ERROR",
        "The provider's address is not allowed on this server",
        undefined,
        undefined,
        detail,
      );
    case "too_large":
      return new AppError("PROVIDER_ERROR", "The provider's answer was too large", undefined, undefined, detail);
  }
}

/**
 * undici's Agent class. undici is CommonJS: run from the sources, Node gives its exports as named
 * exports; from the server's esbuild bundle, a dynamic import of it gives them under `default`
 * only, so both shapes are read here.
 */
export async function loadUndiciAgent(): Promise<typeof import("undici").Agent> {
  const undici: { Agent?: typeof import("undici").Agent; default?: { Agent?: typeof import("undici").Agent } } =
    await import("undici");
  const Agent = undici.Agent ?? undici.default?.Agent;
  if (typeof Agent !== "function") throw new Error("undici did not load: no Agent export");
  return Agent;
}
