import path from "node:path";
import { z } from "zod";

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const booleanFlag = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .default("false")
  .transform((value) => value === "true" || value === "1" || value === "yes");

/** Requests (or failures) per minute; 0 turns the limit off. */
const perMinute = (fallback: number) => z.coerce.number().int().min(0).max(1_000_000).default(fallback);

/** A duration in seconds (fractions allowed, for tests) within [min, max]. */
const seconds = (fallback: number, min: number, max: number) => z.coerce.number().min(min).max(max).default(fallback);

/** `true` is one proxy hop, `false` none; a number counts the proxies in front of Latchkey. NaN when unreadable. */
function trustedProxyHops(value: string): number {
  const normalized = value.trim().toLowerCase();
  if (normalized === "true" || normalized === "yes") return 1;
  if (normalized === "false" || normalized === "no" || normalized === "") return 0;
  return /^\d+$/.test(normalized) ? Number(normalized) : Number.NaN;
}

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4400),
  HOST: z.string().min(1).default("0.0.0.0"),
  LATCHKEY_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  LATCHKEY_LISTEN_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  LATCHKEY_TOKEN_CACHE_ENTRIES: z.coerce.number().int().min(0).max(10_000_000).default(100_000),
  LATCHKEY_TOKEN_CACHE_MB: z.coerce.number().min(0).max(65_536).default(64),
  LATCHKEY_DATA_DIR: z.string().min(1).default("./.latchkey"),
  LATCHKEY_ENCRYPTION_KEYS: z.string().optional(),
  LATCHKEY_OPERATOR_KEY: z.string().min(32, "must be at least 32 characters").optional(),
  LATCHKEY_REFRESH_BEFORE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  LATCHKEY_REFRESH_SWEEP_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS: z.coerce.number().int().min(0).max(31_536_000).default(86_400),
  LATCHKEY_DENY_PRIVATE_NETWORK: booleanFlag,
  LATCHKEY_USER_TOKEN_MAX_LIFETIME_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(86_400),
  LATCHKEY_SERVICE_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  LATCHKEY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(10_485_760).default(65_536),
  LATCHKEY_HEADERS_TIMEOUT_SECONDS: seconds(10, 0.1, 300),
  LATCHKEY_REQUEST_TIMEOUT_SECONDS: seconds(30, 0.1, 3600),
  LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS: seconds(5, 0.1, 600),
  LATCHKEY_PROXY_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  LATCHKEY_PROXY_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1024).max(104_857_600).default(10_485_760),
  LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: perMinute(30),
  LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: perMinute(300),
  LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: perMinute(30),
  LATCHKEY_RATE_LIMIT_SIGN_IN_PER_MINUTE: perMinute(10),
  LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: perMinute(600),
  LATCHKEY_TRUST_PROXY: z
    .string()
    .default("false")
    .transform((value) => trustedProxyHops(value))
    .pipe(z.int("must be true, false or a number of proxy hops (0-10)").min(0).max(10)),
  LATCHKEY_WEBHOOK_RETRY_FIRST_SECONDS: z.coerce.number().min(0).max(3600).default(5),
  LATCHKEY_WEBHOOK_RETRY_MAX_SECONDS: z.coerce.number().min(1).max(86_400).default(3600),
  LATCHKEY_WEBHOOK_RETRY_HOURS: z.coerce.number().min(0).max(720).default(24),
  LATCHKEY_WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(60).default(10),
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
  /**
   * The session connection that LISTENs for changes (PostgreSQL): DATABASE_URL unless set. Behind
   * a transaction pooler it must reach the server directly (LISTEN needs a session).
   */
  listenDatabaseUrl: string | undefined;
  /** The in-process token cache's bounds (entries, bytes); 0 entries or bytes turns it off. */
  tokenCache: { maxEntries: number; maxBytes: number };
  dataDir: string;
  /** Newest first. Undefined only in embedded mode before the data dir provides one. */
  encryptionKeys: EncryptionKeySpec[] | undefined;
  operatorKey: string | undefined;
  refreshBeforeSeconds: number;
  /** How often each instance runs the background refresh and pruning; 0 turns the loop off. */
  refreshSweepSeconds: number;
  /** The sweep refreshes connections whose token was handed out within this window; 0: no background refresh. */
  refreshSweepUsedWithinSeconds: number;
  denyPrivateNetwork: boolean;
  /**
   * The longest lifetime an app's own user token (jwks or hs256 identity) may have: `exp` no further
   * than this from now, nor from `iat`. Server-wide, for every app.
   */
  userTokenMaxLifetimeSeconds: number;
  bodyLimitBytes: number;
  /** How long the HTTP server waits for clients (slow clients, slowloris). */
  httpTimeouts: HttpTimeouts;
  /** How long a verified service key is trusted without a database read (0: always read). */
  serviceKeyCacheMs: number;
  /** API proxy: how long one provider call may take, answer included (then `phase: "timed_out"`). */
  proxyTimeoutMs: number;
  /** API proxy: the largest provider answer handed back; a larger one is refused. */
  proxyMaxResponseBytes: number;
  /** Per minute and per instance; 0 turns a limit off. */
  rateLimits: RateLimitConfig;
  /**
   * How many reverse proxies in front of Latchkey append to X-Forwarded-For (LATCHKEY_TRUST_PROXY).
   * 0: the header is ignored and the client is the socket's peer.
   */
  trustProxyHops: number;
  /** Webhook delivery: timeout per attempt and the retry schedule. */
  webhooks: WebhookConfig;
  logLevel: (typeof logLevels)[number];
  production: boolean;
}

export interface HttpTimeouts {
  /** Until a request's headers have all arrived; then the connection is closed (408). */
  headersMs: number;
  /** Until the whole request, headers and body, has arrived; then the connection is closed (408). */
  requestMs: number;
  /** How long an idle keep-alive connection stays open after a response. */
  keepAliveMs: number;
}

export interface WebhookConfig {
  /** The first retry comes within this long after a failed attempt; each next one waits about twice as long. */
  firstRetryMs: number;
  /** The longest wait between two attempts. */
  maxRetryIntervalMs: number;
  /** A delivery is retried for at least this long after the event before it is marked failed. */
  retryForMs: number;
  /** One attempt gives up after this long (a hanging receiver). */
  timeoutMs: number;
}

export interface RateLimitConfig {
  /** Connect flows started per app user (or member, for shared connections) per app. */
  connectPerMinute: number;
  /** Requests per client IP to the connect, callback and user-token routes together. */
  ipPerMinute: number;
  /** Failed authentications (401) per client IP before that IP is refused on authenticated routes. */
  authFailuresPerMinute: number;
  /** Console sign-in and setup attempts per client address (per email: half, at least 1). */
  signInPerMinute: number;
  /** User tokens minted per service key. */
  userTokensPerMinute: number;
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
  const entries = raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
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

function encryptionKeysFrom(
  env: Record<string, string | undefined>,
  problems: string[],
): EncryptionKeySpec[] | undefined {
  const raw = env.LATCHKEY_ENCRYPTION_KEYS;
  if (raw !== undefined && raw.trim() !== "") {
    const result = parseEncryptionKeys(raw);
    problems.push(...result.problems);
    return result.keys;
  }
  if (env.DATABASE_URL) {
    problems.push(
      "LATCHKEY_ENCRYPTION_KEYS: required when DATABASE_URL is set (comma-separated id:base64 32-byte keys, newest first; generate one with `openssl rand -base64 32`)",
    );
  }
  return undefined;
}

function timeoutProblems(env: Record<string, string | undefined>): string[] {
  const headers = Number(env.LATCHKEY_HEADERS_TIMEOUT_SECONDS ?? 10);
  const request = Number(env.LATCHKEY_REQUEST_TIMEOUT_SECONDS ?? 30);
  return headers > request
    ? [
        "LATCHKEY_HEADERS_TIMEOUT_SECONDS: must not exceed LATCHKEY_REQUEST_TIMEOUT_SECONDS (the headers are part of the request)",
      ]
    : [];
}

function productionProblems(env: Record<string, string | undefined>): string[] {
  if (env.NODE_ENV !== "production") return [];
  if (!env.LATCHKEY_PUBLIC_URL) {
    return ["LATCHKEY_PUBLIC_URL: required in production (the URL providers redirect back to)"];
  }
  return env.LATCHKEY_PUBLIC_URL.startsWith("http://") ? ["LATCHKEY_PUBLIC_URL: must be https in production"] : [];
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = Env.safeParse(env);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join(".") || "env"}: ${issue.message}`);
  // Checked on the raw strings so they are listed even when another variable failed to parse.
  const encryptionKeys = encryptionKeysFrom(env, problems);
  problems.push(...productionProblems(env), ...timeoutProblems(env));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const values = parsed.data;

  return {
    port: values.PORT,
    host: values.HOST,
    publicUrl: (values.LATCHKEY_PUBLIC_URL ?? `http://localhost:${values.PORT}`).replace(/\/+$/, ""),
    databaseUrl: values.DATABASE_URL,
    listenDatabaseUrl: values.LATCHKEY_LISTEN_DATABASE_URL ?? values.DATABASE_URL,
    tokenCache: {
      maxEntries: values.LATCHKEY_TOKEN_CACHE_ENTRIES,
      maxBytes: Math.floor(values.LATCHKEY_TOKEN_CACHE_MB * 1024 * 1024),
    },
    dataDir: path.resolve(values.LATCHKEY_DATA_DIR),
    encryptionKeys,
    operatorKey: values.LATCHKEY_OPERATOR_KEY,
    refreshBeforeSeconds: values.LATCHKEY_REFRESH_BEFORE_SECONDS,
    refreshSweepSeconds: values.LATCHKEY_REFRESH_SWEEP_SECONDS,
    refreshSweepUsedWithinSeconds: values.LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS,
    denyPrivateNetwork: values.LATCHKEY_DENY_PRIVATE_NETWORK,
    userTokenMaxLifetimeSeconds: values.LATCHKEY_USER_TOKEN_MAX_LIFETIME_SECONDS,
    bodyLimitBytes: values.LATCHKEY_BODY_LIMIT_BYTES,
    httpTimeouts: {
      headersMs: Math.round(values.LATCHKEY_HEADERS_TIMEOUT_SECONDS * 1000),
      requestMs: Math.round(values.LATCHKEY_REQUEST_TIMEOUT_SECONDS * 1000),
      keepAliveMs: Math.round(values.LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS * 1000),
    },
    serviceKeyCacheMs: values.LATCHKEY_SERVICE_KEY_CACHE_SECONDS * 1000,
    proxyTimeoutMs: values.LATCHKEY_PROXY_TIMEOUT_SECONDS * 1000,
    proxyMaxResponseBytes: values.LATCHKEY_PROXY_MAX_RESPONSE_BYTES,
    rateLimits: {
      connectPerMinute: values.LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE,
      ipPerMinute: values.LATCHKEY_RATE_LIMIT_IP_PER_MINUTE,
      authFailuresPerMinute: values.LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
      signInPerMinute: values.LATCHKEY_RATE_LIMIT_SIGN_IN_PER_MINUTE,
      userTokensPerMinute: values.LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE,
    },
    trustProxyHops: values.LATCHKEY_TRUST_PROXY,
    webhooks: {
      firstRetryMs: values.LATCHKEY_WEBHOOK_RETRY_FIRST_SECONDS * 1000,
      maxRetryIntervalMs: values.LATCHKEY_WEBHOOK_RETRY_MAX_SECONDS * 1000,
      retryForMs: values.LATCHKEY_WEBHOOK_RETRY_HOURS * 3_600_000,
      timeoutMs: values.LATCHKEY_WEBHOOK_TIMEOUT_SECONDS * 1000,
    },
    logLevel: values.LOG_LEVEL,
    production: values.NODE_ENV === "production",
  };
}
