import { errors } from "jose";
import { AppError } from "../errors/app-error.ts";

/**
 * The app's signing keys could not be obtained: JWKS or discovery unreachable, not 200, not
 * JSON, too large, or at a URL Latchkey refuses to fetch. `reason` is for the server log only.
 */
export class SigningKeysUnavailable extends Error {
  override name = "SigningKeysUnavailable";
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

export function invalidUserToken(message: string): AppError {
  return new AppError("INVALID_USER_TOKEN", message);
}

/** A client-facing reason a token was refused: says what failed, never echoes the token or expected values. */
export function describeTokenFailure(error: unknown): string {
  if (error instanceof SigningKeysUnavailable) {
    return "The app's signing keys are unavailable right now, so the user token cannot be verified";
  }
  if (error instanceof errors.JWTExpired) return "The user token has expired";
  if (error instanceof errors.JWTClaimValidationFailed) return describeClaimFailure(error.claim, error.reason);
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return "The user token's signing algorithm is not accepted for this app";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "The user token's signature is invalid";
  if (error instanceof errors.JWKSNoMatchingKey)
    return "The user token was signed with a key this app does not publish";
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return "The user token does not say which of the app's keys signed it (kid)";
  }
  return "The user token is malformed";
}

const claimNames: Record<string, string> = {
  iss: "issuer (iss)",
  aud: "audience (aud)",
  sub: "subject (sub)",
  exp: "expiry (exp)",
  nbf: "not-before time (nbf)",
  iat: "issue time (iat)",
  typ: "type header (typ)",
};

function describeClaimFailure(claim: string, reason: string): string {
  const name = claimNames[claim] ?? "claims";
  if (claim === "nbf" && reason === "check_failed") return "The user token is not valid yet (nbf)";
  if (reason === "missing") return `The user token has no ${name}`;
  if (reason === "check_failed") return `The user token's ${name} is not accepted for this app`;
  return `The user token's ${name} is invalid`;
}
