import { isStorableText } from "../db/storable-text.ts";

/** When a token with `expires_in` seconds left expires; null when the provider gave no lifetime. */
export function expiryFrom(now: Date, expiresIn: number | undefined): Date | null {
  return expiresIn === undefined || !Number.isFinite(expiresIn) ? null : new Date(now.getTime() + expiresIn * 1000);
}

/**
 * Providers separate granted scopes with spaces (RFC 6749) or, a few, commas. A "scope" the
 * database cannot store (a NUL, an unpaired surrogate) is no scope any API knows: it is dropped.
 */
export function splitScopes(scope: string): string[] {
  return scope.split(/[\s,]+/).filter((token) => token !== "" && isStorableText(token));
}
