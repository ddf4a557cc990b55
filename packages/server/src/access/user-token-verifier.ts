import type { AppRow } from "../db/schema.ts";

/**
 * Verifies an app user's bearer token per the app's identity config (jwks / hs256 / latchkey).
 * Throws AppError INVALID_USER_TOKEN (401) for anything not provably valid.
 */
export interface UserTokenVerifier {
  /** A token verified in the last minute is answered at once, without a promise. */
  verify(app: AppRow, token: string): { userId: string } | Promise<{ userId: string }>;
}
