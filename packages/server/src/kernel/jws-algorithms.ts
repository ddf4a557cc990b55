/**
 * The asymmetric JWS algorithms Latchkey accepts on tokens it did not sign: app user tokens checked
 * against a JWKS, and providers' ID tokens. Asymmetric only, so an HS* token can never be checked
 * against a public key taken for a shared secret.
 */
export const asymmetricJwsAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];
