import { randomBytes } from "node:crypto";
import path from "node:path";
import { parseEncryptionKeys, type EncryptionKeySpec } from "../config/config.ts";
import { readOrCreateSecretFile, readSecretFile, replaceSecretFile } from "./secret-file.ts";

export const keysFileName = "encryption-keys";

export function embeddedKeysFile(dataDir: string): string {
  return path.join(dataDir, keysFileName);
}

/**
 * For the embedded database only: reads the data dir's key file, creating it (mode 0600) with
 * one fresh key on first start. The file holds the same `id:base64,…` text as the env variable.
 * An existing file is never overwritten, and concurrent first starts all end up with one key.
 */
export async function loadOrCreateEmbeddedKeys(
  dataDir: string,
): Promise<{ keys: EncryptionKeySpec[]; created: boolean }> {
  const file = embeddedKeysFile(dataDir);
  const { text, created } = await readOrCreateSecretFile(file, () => newKeySpec("k1"));
  return { keys: parseKeysFile(file, text), created };
}

/** The data dir's keys without creating anything; null when there is no key file. */
export async function readEmbeddedKeys(dataDir: string): Promise<EncryptionKeySpec[] | null> {
  const file = embeddedKeysFile(dataDir);
  const text = await readSecretFile(file);
  return text === null ? null : parseKeysFile(file, text);
}

/**
 * Puts a fresh key in front of the data dir's key list (it becomes the one new values are
 * encrypted with) and keeps the older keys so existing values still decrypt. Returns its id.
 */
export async function addEmbeddedKey(dataDir: string): Promise<string> {
  const file = embeddedKeysFile(dataDir);
  const text = await readSecretFile(file);
  if (text === null) throw new Error(`${file} does not exist: start Latchkey once to create it`);
  const existing = parseKeysFile(file, text);
  const id = nextKeyId(existing.map((k) => k.id));
  await replaceSecretFile(file, [newKeySpec(id), text].join(","));
  return id;
}

/** `id:base64` text of a fresh random 32-byte key. */
export function newKeySpec(id: string): string {
  return `${id}:${randomBytes(32).toString("base64")}`;
}

/** k1, k2, … : one more than the highest `k<number>` id in use. */
export function nextKeyId(ids: string[]): string {
  const numbers = ids.map((id) => /^k(\d+)$/.exec(id)?.[1]).filter((n): n is string => n !== undefined);
  const highest = Math.max(0, ...numbers.map(Number));
  return `k${highest + 1}`;
}

function parseKeysFile(file: string, text: string): EncryptionKeySpec[] {
  const { keys, problems } = parseEncryptionKeys(text);
  if (problems.length > 0) throw new Error(`${file}: ${problems.join("; ")}`);
  return keys;
}
