import path from "node:path";
import { z } from "zod";

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const booleanFlag = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .default("false")
  .transform((value) => value === "true" || value === "1" || value === "yes");

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4400),
  HOST: z.string().min(1).default("0.0.0.0"),
  LATCHKEY_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  LATCHKEY_DATA_DIR: z.string().min(1).default("./.latchkey"),
  LATCHKEY_ENCRYPTION_KEYS: z.string().optional(),
  LATCHKEY_OPERATOR_KEY: z.string().min(32, "must be at least 32 characters").optional(),
  LATCHKEY_REFRESH_BEFORE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  LATCHKEY_DENY_PRIVATE_NETWORK: booleanFlag,
  LATCHKEY_SERVICE_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  LATCHKEY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(10_485_760).default(65_536),
  LOG_LEVEL: z.enum(logLevels).default("info"),
  NODE_ENV: z.string().optional(),
});

export interface EncryptionKeySpec {
  id: string;
  key: Buffer;
}

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | undefined;
  dataDir: string;
  /** Newest first. Undefined only in embedded mode before the data dir provides one. */
  encryptionKeys: EncryptionKeySpec[] | undefined;
  operatorKey: string | undefined;
  refreshBeforeSeconds: number;
  denyPrivateNetwork: boolean;
  bodyLimitBytes: number;
  /** How long a verified service key is trusted without a database read (0: always read). */
  serviceKeyCacheMs: number;
  logLevel: (typeof logLevels)[number];
  production: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/** Parses `id:base64,id:base64` (newest first). Returns the keys and every problem found. */
export function parseEncryptionKeys(raw: string): { keys: EncryptionKeySpec[]; problems: string[] } {
  const keys: EncryptionKeySpec[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const entries = raw.split(",").map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) problems.push("LATCHKEY_ENCRYPTION_KEYS: no keys given");
  entries.forEach((entry, index) => {
    const separator = entry.indexOf(":");
    const id = separator > 0 ? entry.slice(0, separator) : "";
    const encoded = separator > 0 ? entry.slice(separator + 1) : "";
    const where = `LATCHKEY_ENCRYPTION_KEYS entry ${index + 1}`;
    if (!keyIdPattern.test(id)) {
      problems.push(`${where}: expected "id:base64" with an id of letters, digits, "_" or "-"`);
      return;
    }
    if (seen.has(id)) problems.push(`${where}: key id "${id}" appears twice`);
    seen.add(id);
    const key = Buffer.from(encoded, "base64");
    if (key.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
      problems.push(`${where} ("${id}"): the key must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
      return;
    }
    keys.push({ id, key });
  });
  return { keys, problems };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = Env.safeParse(env);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join(".") || "env"}: ${issue.message}`);
  if (!parsed.success) throw new ConfigError(problems);
  const values = parsed.data;

  let encryptionKeys: EncryptionKeySpec[] | undefined;
  if (values.LATCHKEY_ENCRYPTION_KEYS !== undefined && values.LATCHKEY_ENCRYPTION_KEYS.trim() !== "") {
    const result = parseEncryptionKeys(values.LATCHKEY_ENCRYPTION_KEYS);
    problems.push(...result.problems);
    encryptionKeys = result.keys;
  } else if (values.DATABASE_URL) {
    problems.push(
      "LATCHKEY_ENCRYPTION_KEYS: required when DATABASE_URL is set (comma-separated id:base64 32-byte keys, newest first; generate one with `openssl rand -base64 32`)",
    );
  }
  const production = values.NODE_ENV === "production";
  if (production && !values.LATCHKEY_PUBLIC_URL) {
    problems.push("LATCHKEY_PUBLIC_URL: required in production (the URL providers redirect back to)");
  }
  if (production && values.LATCHKEY_PUBLIC_URL?.startsWith("http://")) {
    problems.push("LATCHKEY_PUBLIC_URL: must be https in production");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: values.PORT,
    host: values.HOST,
    publicUrl: (values.LATCHKEY_PUBLIC_URL ?? `http://localhost:${values.PORT}`).replace(/\/+$/, ""),
    databaseUrl: values.DATABASE_URL,
    dataDir: path.resolve(values.LATCHKEY_DATA_DIR),
    encryptionKeys,
    operatorKey: values.LATCHKEY_OPERATOR_KEY,
    refreshBeforeSeconds: values.LATCHKEY_REFRESH_BEFORE_SECONDS,
    denyPrivateNetwork: values.LATCHKEY_DENY_PRIVATE_NETWORK,
    bodyLimitBytes: values.LATCHKEY_BODY_LIMIT_BYTES,
    serviceKeyCacheMs: values.LATCHKEY_SERVICE_KEY_CACHE_SECONDS * 1000,
    logLevel: values.LOG_LEVEL,
    production,
  };
}
