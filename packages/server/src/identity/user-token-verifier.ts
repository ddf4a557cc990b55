import type { AppRow } from "../db/schema.ts";

/**
 * Verifies an app user's bearer token per the app's identity config (jwks / hs256 / latchkey).
 * Throws AppError INVALID_USER_TOKEN (401) for anything not provably valid.
 */
export interface UserTokenVerifier {
  verify(app: AppRow, token: string): Promise<{ userId: string }>;
}
