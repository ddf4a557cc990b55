import type { ApiKeyInfo } from "@latchkey/contracts";
import { createHash, hash, randomBytes, timingSafeEqual } from "node:crypto";

/** Bearer secrets Latchkey issues. The kind is visible in the key so a leaked one is easy to classify. */
export type SecretKeyKind = "admin" | "service";

const kindPrefix: Record<SecretKeyKind, string> = { admin: "lk_admin_", service: "lk_svc_" };

export interface IssuedSecretKey {
  /** The whole key: returned to the caller once, never stored. */
  key: string;
  /** First characters, stored so people can tell keys apart in listings. */
  prefix: string;
  /** sha256 hex; what the database stores and looks up. */
  hash: string;
}

export function issueSecretKey(kind: SecretKeyKind): IssuedSecretKey {
  const key = `${kindPrefix[kind]}${randomBytes(32).toString("base64url")}`;
  return { key, prefix: key.slice(0, kindPrefix[kind].length + 6), hash: hashSecretKey(key) };
}

/** 256-bit random keys need no slow hash: sha256 is preimage-resistant and lookups stay one index probe. */
export function hashSecretKey(key: string): string {
  // One-shot hash(): about a third of createHash().update().digest()'s cost (no Hash object).
  return hash("sha256", key, "hex");
}

export function secretKeyKind(key: string): SecretKeyKind | null {
  if (key.startsWith(kindPrefix.admin)) return "admin";
  if (key.startsWith(kindPrefix.service)) return "service";
  return null;
}

/** Constant-time comparison of two secrets of any length (compares their digests). */
export function secretsEqual(a: string, b: string): boolean {
  const digestA = createHash("sha256").update(a, "utf8").digest();
  const digestB = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(digestA, digestB);
}

/** The token of an `Authorization: Bearer …` header value, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** The wire fields every kind of key shares. */
export function keyInfo(row: KeyRowFields): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

type KeyRowFields = {
  id: string;
  name: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
};
