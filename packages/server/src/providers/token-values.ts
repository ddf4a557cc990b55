import { isStorableText } from "../db/storable-text.ts";

/**
 * The longest token lifetime believed. A provider's `expires_in` beyond it (`1e300`,
 * `"10000000000000"`: past the largest Date, so no timestamp at all) is clamped to it: refreshing
 * after a year is harmless, an unwritable expiry fails the whole connect or refresh.
 */
export const maxTokenLifetimeSeconds = 365 * 24 * 3600;

/** When a token with `expires_in` seconds left expires (clamped to 0…maxTokenLifetimeSeconds); null when the provider gave no lifetime. */
export function expiryFrom(now: Date, expiresIn: number | undefined): Date | null {
  if (expiresIn === undefined || Number.isNaN(expiresIn)) return null;
  const seconds = Math.min(Math.max(expiresIn, 0), maxTokenLifetimeSeconds);
  return new Date(now.getTime() + Math.round(seconds * 1000));
}

/**
 * Providers separate granted scopes with spaces (RFC 6749) or, a few, commas. A "scope" the
 * database cannot store (a NUL, an unpaired surrogate) is no scope any API knows: it is dropped.
 */
export function splitScopes(scope: string): string[] {
  return scope.split(/[\s,]+/).filter((token) => token !== "" && isStorableText(token));
}
