import * as oauth from "oauth4webapi";
import { AppError } from "../errors/app-error.ts";
import { OutboundError } from "../http/outbound-fetch.ts";

/**
 * What went wrong talking to a provider, reduced to what decides our reaction. Built from
 * oauth4webapi's errors, which carry the provider's raw response (and our request parameters):
 * those never leave this function, so a failure can be logged and returned safely.
 */
export type ProviderFailure =
  /** The provider answered with an OAuth error (`invalid_grant`, `invalid_client`, …). */
  | { kind: "rejected"; error: string; status: number }
  /** 5xx, 429, timeout, network: worth retrying later, never the user's fault. */
  | { kind: "unavailable"; reason: "timeout" | "network" | "server_error" | "rate_limited"; status: number | null }
  /** The provider answered something that is not a valid OAuth response. */
  | { kind: "invalid_response"; reason: string; status: number | null };

const retryableOAuthErrors = new Set(["server_error", "temporarily_unavailable"]);

export function classifyProviderFailure(error: unknown): ProviderFailure {
  if (error instanceof oauth.ResponseBodyError) {
    if (error.status >= 500 || retryableOAuthErrors.has(error.error)) {
      return { kind: "unavailable", reason: "server_error", status: error.status };
    }
    if (error.status === 429) return { kind: "unavailable", reason: "rate_limited", status: 429 };
    return { kind: "rejected", error: safeErrorCode(error.error), status: error.status };
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return { kind: "rejected", error: "invalid_client", status: error.status };
  }
  if (error instanceof oauth.AuthorizationResponseError) {
    return { kind: "rejected", error: safeErrorCode(error.error), status: 400 };
  }
  if (error instanceof OutboundError) {
    if (error.reason === "timeout" || error.reason === "network") {
      return { kind: "unavailable", reason: error.reason, status: null };
    }
    return { kind: "invalid_response", reason: error.reason, status: null };
  }
  if (isTimeout(error)) return { kind: "unavailable", reason: "timeout", status: null };
  if (error instanceof AppError) {
    return error.code === "PROVIDER_UNAVAILABLE"
      ? { kind: "unavailable", reason: "network", status: null }
      : { kind: "invalid_response", reason: error.code.toLowerCase(), status: null };
  }
  if (error instanceof oauth.OperationProcessingError) {
    const status = error.cause instanceof Response ? error.cause.status : null;
    if (status !== null && status >= 500) return { kind: "unavailable", reason: "server_error", status };
    if (status === 429) return { kind: "unavailable", reason: "rate_limited", status };
    return { kind: "invalid_response", reason: safeErrorCode(error.code ?? "invalid_response"), status };
  }
  // fetch() rejects with a TypeError when the connection fails.
  if (error instanceof TypeError) return { kind: "unavailable", reason: "network", status: null };
  return { kind: "invalid_response", reason: "unexpected_error", status: null };
}

/** `invalid_grant` at refresh means the user's grant is gone: only a new consent helps. */
export function isGrantRevoked(failure: ProviderFailure): boolean {
  return failure.kind === "rejected" && failure.error === "invalid_grant";
}

/** Log fields for a failure: codes and statuses only, never bodies or parameters. */
export function failureLogFields(failure: ProviderFailure): Record<string, string | number | null> {
  return failure.kind === "rejected"
    ? { failure: failure.kind, provider_error: failure.error, provider_status: failure.status }
    : { failure: failure.kind, reason: failure.reason, provider_status: failure.status };
}

/** OAuth error codes are ASCII words; anything else (or anything long) is replaced, never echoed. */
export function safeErrorCode(value: unknown): string {
  return typeof value === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value.toLowerCase() : "provider_error";
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}
