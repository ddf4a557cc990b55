import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { parseEncryptionKeys, type EncryptionKeySpec } from "../config/config.ts";

export const keysFileName = "encryption-keys";

/**
 * For the embedded database only: reads the data dir's key file, creating it (mode 0600) with
 * one fresh key on first start. The file holds the same `id:base64,…` text as the env variable.
 */
export async function loadOrCreateEmbeddedKeys(dataDir: string): Promise<{ keys: EncryptionKeySpec[]; created: boolean }> {
  const file = path.join(dataDir, keysFileName);
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  let text: string;
  let created = false;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    text = `k1:${randomBytes(32).toString("base64")}`;
    try {
      await fs.writeFile(file, `${text}\n`, { mode: 0o600, flag: "wx" });
      created = true;
    } catch (writeError) {
      // Another process created it first: use theirs.
      if ((writeError as NodeJS.ErrnoException).code !== "EEXIST") throw writeError;
      text = await fs.readFile(file, "utf8");
    }
  }
  const { keys, problems } = parseEncryptionKeys(text.trim());
  if (problems.length > 0) throw new Error(`${file}: ${problems.join("; ")}`);
  return { keys, created };
}
