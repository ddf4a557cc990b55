/**
 * The `latchkey_error` values the OAuth callback sends the browser back to the app's return_to with
 * (alongside `latchkey_status=error`). Closed: an app can branch on every value.
 */

/**
 * The provider's own answer, passed through: the authorization error codes of RFC 6749 §4.1.2.1
 * and OpenID Connect Core §3.1.2.6. A provider code outside this list arrives as `provider_error`.
 */
export const providerCallbackErrors = [
  "invalid_request",
  "unauthorized_client",
  "access_denied",
  "unsupported_response_type",
  "invalid_scope",
  "server_error",
  "temporarily_unavailable",
  "interaction_required",
  "login_required",
  "account_selection_required",
  "consent_required",
  "invalid_request_uri",
  "invalid_request_object",
  "request_not_supported",
  "request_uri_not_supported",
  "registration_not_supported",
] as const;
export type ProviderCallbackError = (typeof providerCallbackErrors)[number];

/** Latchkey's own verdicts on the callback. */
export const latchkeyCallbackErrors = [
  "invalid_state",
  "invalid_response",
  "token_exchange_failed",
  "provider_unavailable",
  "connector_unavailable",
  "provider_error",
] as const;
export type LatchkeyCallbackError = (typeof latchkeyCallbackErrors)[number];

export const callbackErrors = [...providerCallbackErrors, ...latchkeyCallbackErrors] as const;
export type CallbackError = (typeof callbackErrors)[number];

export function isProviderCallbackError(value: string): value is ProviderCallbackError {
  return (providerCallbackErrors as readonly string[]).includes(value);
}

export function isCallbackError(value: string): value is CallbackError {
  return (callbackErrors as readonly string[]).includes(value);
}
