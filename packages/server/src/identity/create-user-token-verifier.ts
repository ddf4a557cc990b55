import { AppError } from "../errors/app-error.ts";
import type { AppDeps } from "../http/app.ts";
import type { UserTokenVerifier } from "./user-token-verifier.ts";

/** Placeholder until identity verification lands: rejects every token. */
export function createUserTokenVerifier(_deps: AppDeps): UserTokenVerifier {
  return {
    verify: () => Promise.reject(new AppError("INVALID_USER_TOKEN", "User token verification is not available")),
  };
}
