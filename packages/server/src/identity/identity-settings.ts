import { z } from "zod";
import type { AppRow } from "../db/schema.ts";
import type { Vault } from "../vault/vault.ts";

/** The non-secret part of an app's identity config, as the apps table stores it. */
const IdentityConfig = z.object({
  issuer: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  jwks_url: z.string().min(1).optional(),
});
export type IdentityConfig = z.output<typeof IdentityConfig>;

/** A stored config that cannot verify anything (an app row written wrongly). Not the caller's fault. */
export class IdentityConfigProblem extends Error {
  override name = "IdentityConfigProblem";
}

export function identityConfigOf(app: AppRow): IdentityConfig {
  const parsed = IdentityConfig.safeParse(app.identity_config);
  if (!parsed.success) throw new IdentityConfigProblem(`app ${app.id} has an unreadable identity_config`);
  return parsed.data;
}

/** The hs256 shared secret or the latchkey signing secret, decrypted. */
export function identitySecretOf(deps: { vault: Vault }, app: AppRow): Uint8Array {
  if (app.identity_secret === null || app.identity_secret === "") {
    throw new IdentityConfigProblem(`app ${app.id} (identity ${app.identity_type}) has no identity_secret`);
  }
  const secret = deps.vault.decrypt(app.identity_secret, { table: "apps", column: "identity_secret", rowId: app.id });
  return new TextEncoder().encode(secret);
}
