import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { EncryptionKeySpec } from "../config/config.ts";
import { TtlCache } from "../kernel/ttl-cache.ts";

/** Where a ciphertext lives. It is bound to exactly this place: copied elsewhere it fails to decrypt. */
export interface VaultContext {
  table: string;
  column: string;
  rowId: string;
}

export class VaultError extends Error {
  override name = "VaultError";
}

const format = "lk1";
const ivLength = 12;
const tagLength = 16;
const dataKeyMemoryEntries = 10_000;
const dataKeyMemoryMs = 10 * 60_000;

/**
 * AES-256-GCM envelope encryption. Each value gets its own random data key; the data key is
 * wrapped by a master key named in the ciphertext, so rotation re-wraps 32 bytes and the
 * payload is untouched. Both layers are authenticated with the value's table, column and row.
 *
 * Ciphertext: `lk1.<keyId>.<wrapIv>.<wrappedKey+tag>.<iv>.<payload+tag>` (base64url parts).
 */
export class Vault {
  readonly #keys: Map<string, Buffer>;
  readonly #dataKeys = new TtlCache<Buffer>(dataKeyMemoryEntries);
  readonly currentKeyId: string;

  constructor(keys: EncryptionKeySpec[]) {
    const newest = keys[0];
    if (!newest) throw new VaultError("The vault needs at least one encryption key");
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
    this.currentKeyId = newest.id;
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  encrypt(plaintext: string, context: VaultContext): string {
    const dataKey = randomBytes(32);
    const aad = associatedData(context);
    const wrapped = seal(this.#key(this.currentKeyId), dataKey, wrapAad(this.currentKeyId, aad));
    const payload = seal(dataKey, Buffer.from(plaintext, "utf8"), aad);
    dataKey.fill(0);
    return [format, this.currentKeyId, ...wrapped, ...payload].join(".");
  }

  decrypt(ciphertext: string, context: VaultContext): string {
    const parts = split(ciphertext);
    const place = placeOf(context);
    const aad = Buffer.from(place, "utf8");
    return open(this.#dataKey(parts, place, aad), decode(parts.iv), decode(parts.payload), aad).toString("utf8");
  }

  encryptNullable(plaintext: string | null | undefined, context: VaultContext): string | null {
    return plaintext == null ? null : this.encrypt(plaintext, context);
  }

  decryptNullable(ciphertext: string | null, context: VaultContext): string | null {
    return ciphertext === null ? null : this.decrypt(ciphertext, context);
  }

  /** The key id a ciphertext was wrapped with. */
  keyIdOf(ciphertext: string): string {
    return parse(ciphertext).keyId;
  }

  needsRewrap(ciphertext: string): boolean {
    return this.keyIdOf(ciphertext) !== this.currentKeyId;
  }

  /** Re-wraps the data key under the newest master key; the payload is not re-encrypted. */
  rewrap(ciphertext: string, context: VaultContext): string {
    const parts = parse(ciphertext);
    if (parts.keyId === this.currentKeyId) return ciphertext;
    const aad = associatedData(context);
    const dataKey = open(this.#key(parts.keyId), parts.wrapIv, parts.wrappedKey, wrapAad(parts.keyId, aad));
    try {
      // Proves the payload belongs to this context before the new wrap vouches for it.
      open(dataKey, parts.iv, parts.payload, aad);
      const wrapped = seal(this.#key(this.currentKeyId), dataKey, wrapAad(this.currentKeyId, aad));
      return [format, this.currentKeyId, ...wrapped, encode(parts.iv), encode(parts.payload)].join(".");
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * The unwrapped data key of a ciphertext. Unwrapped keys are remembered by wrapped key and place
   * (the wrap is authenticated with both), so reading the same value again costs one AES-GCM
   * operation, not two: the token hot path reads the same few ciphertexts over and over. They
   * protect nothing the master keys, held in this same process, do not already open.
   */
  #dataKey(parts: CiphertextParts, place: string, aad: Buffer): Buffer {
    const cacheKey = `${parts.keyId}.${parts.wrapIv}.${parts.wrappedKey} ${place}`;
    const remembered = this.#dataKeys.get(cacheKey);
    if (remembered) return remembered;
    const wrapAadBytes = wrapAad(parts.keyId, aad);
    const dataKey = open(this.#key(parts.keyId), decode(parts.wrapIv), decode(parts.wrappedKey), wrapAadBytes);
    this.#dataKeys.set(cacheKey, dataKey, dataKeyMemoryMs);
    return dataKey;
  }

  #key(keyId: string): Buffer {
    const key = this.#keys.get(keyId);
    if (!key) throw new VaultError(`Encryption key "${keyId}" is not configured`);
    return key;
  }
}

/** The text a ciphertext is bound to (its associated data). */
function placeOf(context: VaultContext): string {
  return `latchkey:${context.table}.${context.column}:${context.rowId}`;
}

function associatedData(context: VaultContext): Buffer {
  return Buffer.from(placeOf(context), "utf8");
}

function wrapAad(keyId: string, aad: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`wrap:${keyId}:`, "utf8"), aad]);
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): [string, string] {
  const iv = randomBytes(ivLength);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: tagLength });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return [encode(iv), encode(body)];
}

function open(key: Buffer, iv: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < tagLength) throw new VaultError("Ciphertext is truncated");
  const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: tagLength });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - tagLength));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - tagLength)), decipher.final()]);
  } catch {
    throw new VaultError("Ciphertext failed authentication (wrong key, wrong row or tampered)");
  }
}

interface CiphertextParts {
  keyId: string;
  wrapIv: string;
  wrappedKey: string;
  iv: string;
  payload: string;
}

function split(ciphertext: string): CiphertextParts {
  const parts = ciphertext.split(".");
  const [version, keyId, wrapIv, wrappedKey, iv, payload] = parts;
  if (parts.length !== 6 || version !== format || !keyId || !wrapIv || !wrappedKey || !iv || payload === undefined) {
    throw new VaultError("Not a Latchkey ciphertext");
  }
  return { keyId, wrapIv, wrappedKey, iv, payload };
}

interface ParsedCiphertext {
  keyId: string;
  wrapIv: Buffer;
  wrappedKey: Buffer;
  iv: Buffer;
  payload: Buffer;
}

function parse(ciphertext: string): ParsedCiphertext {
  const { keyId, wrapIv, wrappedKey, iv, payload } = split(ciphertext);
  return { keyId, wrapIv: decode(wrapIv), wrappedKey: decode(wrappedKey), iv: decode(iv), payload: decode(payload) };
}

const encode = (bytes: Buffer) => bytes.toString("base64url");
const decode = (text: string) => Buffer.from(text, "base64url");
