import { randomBytes } from "node:crypto";
import path from "node:path";
import type { Config } from "../config/config.ts";
import { readOrCreateSecretFile, readSecretFile } from "../vault/secret-file.ts";

export const operatorKeyFileName = "operator-key";

export function operatorKeyFile(dataDir: string): string {
  return path.join(dataDir, operatorKeyFileName);
}

export type OperatorKeySource = { kind: "env" } | { kind: "file"; file: string; created: boolean } | { kind: "none" };

export interface ResolvedOperatorKey {
  config: Config;
  source: OperatorKeySource;
}

/**
 * LATCHKEY_OPERATOR_KEY wins. Without it, in embedded mode, the data dir holds one (mode 0600):
 * `create` makes it on first use (`latchkey start`), `read` only uses an existing one.
 */
export async function resolveOperatorKey(config: Config, mode: "create" | "read"): Promise<ResolvedOperatorKey> {
  if (config.operatorKey) return { config, source: { kind: "env" } };
  if (config.databaseUrl) return { config, source: { kind: "none" } };
  const file = operatorKeyFile(config.dataDir);
  if (mode === "create") {
    const { text, created } = await readOrCreateSecretFile(file, newOperatorKey);
    return { config: { ...config, operatorKey: checked(file, text) }, source: { kind: "file", file, created } };
  }
  const text = await readSecretFile(file);
  if (text === null) return { config, source: { kind: "none" } };
  return { config: { ...config, operatorKey: checked(file, text) }, source: { kind: "file", file, created: false } };
}

function newOperatorKey(): string {
  return `lk_op_${randomBytes(32).toString("base64url")}`;
}

/** The same rule as LATCHKEY_OPERATOR_KEY: a short or empty file must not open the operator API. */
function checked(file: string, text: string): string {
  if (text.length < 32 || /\s/.test(text))
    throw new Error(`${file}: the operator key must be at least 32 characters, without spaces`);
  return text;
}
