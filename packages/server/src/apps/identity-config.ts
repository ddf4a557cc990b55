import { randomBytes } from "node:crypto";
import type { IdentityConfig } from "@latchkey/contracts";
import { z } from "zod";
import type { AppRow, AppsTable } from "../db/schema.ts";
import type { Vault } from "../vault/vault.ts";

/**
 * An app's identity config: how its users' tokens are verified.
 *
 * Stored as `identity_type`, `identity_config` (non-secret strings: issuer, audience, jwks_url)
 * and `identity_secret` (vault-encrypted, bound to apps.identity_secret of the app's row):
 * - hs256: the shared secret as given (its UTF-8 bytes are the HMAC key);
 * - latchkey: a random 32-byte signing secret, base64url-encoded, generated here.
 */

const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"]);
export const minHs256SecretBytes = 32;
const maxUrlLength = 2048;

/** Why `value` is not an https URL (http allowed for loopback hosts), or null when it is fine. */
export function secureUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol === "http:" && !loopbackHosts.has(url.hostname)) {
    return "must use https (http only for localhost, 127.0.0.1 or [::1])";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must use https";
  if (url.username !== "" || url.password !== "" || value.includes("@")) return "must not contain credentials";
  if (url.hash !== "" || value.includes("#")) return "must not contain a fragment";
  return null;
}

const SecureUrlSchema = z
  .string()
  .max(maxUrlLength)
  .superRefine((value, ctx) => {
    const problem = secureUrlProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `URL ${problem}` });
  });

const ClaimValueSchema = z.string().trim().min(1).max(1024);

const Hs256SecretSchema = z
  .string()
  .max(4096)
  .refine((value) => Buffer.byteLength(value, "utf8") >= minHs256SecretBytes, {
    message: `The hs256 secret must be at least ${minHs256SecretBytes} bytes`,
  });

const JwksIdentitySchema = z.strictObject({
  type: z.literal("jwks"),
  issuer: SecureUrlSchema,
  audience: ClaimValueSchema.optional(),
  jwks_url: SecureUrlSchema.optional(),
});

const Hs256IdentitySchema = z.strictObject({
  type: z.literal("hs256"),
  secret: Hs256SecretSchema,
  /** Compared with the token's `iss` only; never fetched, so any string. */
  issuer: ClaimValueSchema.optional(),
  audience: ClaimValueSchema.optional(),
});

const LatchkeyIdentitySchema = z.strictObject({ type: z.literal("latchkey") });

export const IdentityInputSchema = z.discriminatedUnion("type", [
  JwksIdentitySchema,
  Hs256IdentitySchema,
  LatchkeyIdentitySchema,
]);
export type IdentityInput = z.output<typeof IdentityInputSchema>;

/** On update an hs256 app may omit `secret` to keep the one it has. */
export const IdentityPatchSchema = z.discriminatedUnion("type", [
  JwksIdentitySchema,
  Hs256IdentitySchema.extend({ secret: Hs256SecretSchema.optional() }),
  LatchkeyIdentitySchema,
]);
export type IdentityPatch = z.output<typeof IdentityPatchSchema>;

export type StoredIdentity = Pick<AppsTable, "identity_type" | "identity_secret"> & {
  identity_config: Record<string, string>;
};

/**
 * The columns for `identity` on app `appId`. `current` is the app's row on update: an hs256
 * secret omitted is kept, and a latchkey app staying latchkey keeps its signing secret so the
 * user tokens it already issued stay valid.
 */
export function storedIdentity(
  identity: IdentityInput | IdentityPatch,
  appId: string,
  vault: Vault,
  current?: Pick<AppRow, "identity_type" | "identity_secret">,
): StoredIdentity | { missingSecret: true } {
  const vaultContext = { table: "apps", column: "identity_secret", rowId: appId };
  switch (identity.type) {
    case "jwks":
      return {
        identity_type: "jwks",
        identity_config: definedStrings({
          issuer: identity.issuer,
          audience: identity.audience,
          jwks_url: identity.jwks_url,
        }),
        identity_secret: null,
      };
    case "hs256": {
      const config = definedStrings({ issuer: identity.issuer, audience: identity.audience });
      if (identity.secret !== undefined) {
        return {
          identity_type: "hs256",
          identity_config: config,
          identity_secret: vault.encrypt(identity.secret, vaultContext),
        };
      }
      if (current?.identity_type === "hs256" && current.identity_secret !== null) {
        return { identity_type: "hs256", identity_config: config, identity_secret: current.identity_secret };
      }
      return { missingSecret: true };
    }
    case "latchkey": {
      const keep = current?.identity_type === "latchkey" && current.identity_secret !== null;
      const secret = keep ? current.identity_secret : vault.encrypt(newLatchkeySigningSecret(), vaultContext);
      return { identity_type: "latchkey", identity_config: {}, identity_secret: secret };
    }
  }
}

export function newLatchkeySigningSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** The wire form: type plus the non-secret settings. Never the secret. */
export function identityToWire(row: Pick<AppRow, "identity_type" | "identity_config">): IdentityConfig {
  const config = row.identity_config;
  switch (row.identity_type) {
    case "jwks":
      return {
        type: "jwks",
        issuer: config.issuer ?? "",
        ...(config.audience !== undefined && { audience: config.audience }),
        ...(config.jwks_url !== undefined && { jwks_url: config.jwks_url }),
      };
    case "hs256":
      return {
        type: "hs256",
        ...(config.issuer !== undefined && { issuer: config.issuer }),
        ...(config.audience !== undefined && { audience: config.audience }),
      };
    case "latchkey":
      return { type: "latchkey" };
  }
}

function definedStrings(values: Record<string, string | undefined>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) result[key] = value;
  return result;
}
