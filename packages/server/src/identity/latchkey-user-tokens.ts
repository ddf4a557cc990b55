import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import type { AppRow } from "../db/schema.ts";
import type { Config } from "../config/config.ts";
import type { Clock } from "../kernel/clock.ts";

/** What minting and checking Latchkey user tokens needs. */
export interface LatchkeyTokenDeps {
  config: Config;
  clock: Clock;
}

export const latchkeyTokenAlgorithm = "HS256";
export const defaultUserTokenLifetimeSeconds = 3600;
export const minUserTokenLifetimeSeconds = 60;
export const maxUserTokenLifetimeSeconds = 86_400;

export interface MintedUserToken {
  token: string;
  expiresAt: Date;
  expiresIn: number;
}

/**
 * A user token for an app whose identity type is `latchkey`: HS256 with the app's signing secret,
 * issued by this Latchkey (its public URL), for this app (aud), naming the app user (sub).
 */
export async function mintLatchkeyUserToken(
  deps: Pick<LatchkeyTokenDeps, "config" | "clock">,
  app: AppRow,
  signingKey: Uint8Array,
  userId: string,
  lifetimeSeconds: number,
): Promise<MintedUserToken> {
  const issuedAt = Math.floor(deps.clock.now().getTime() / 1000);
  const expiresAtSeconds = issuedAt + lifetimeSeconds;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: latchkeyTokenAlgorithm, typ: "JWT" })
    .setIssuer(latchkeyIssuer(deps))
    .setAudience(app.id)
    .setSubject(userId)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAtSeconds)
    .setJti(randomBytes(16).toString("base64url"))
    .sign(signingKey);
  return { token, expiresAt: new Date(expiresAtSeconds * 1000), expiresIn: lifetimeSeconds };
}

export function latchkeyIssuer(deps: Pick<LatchkeyTokenDeps, "config">): string {
  return deps.config.publicUrl;
}
