import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

export const censor = "[redacted]";

/**
 * Keys whose values never reach a log line, at any depth of a logged object. Compared without
 * case, `-` or `_`, so `clientSecret`, `client_secret` and `Client-Secret` are one key.
 */
const secretKeys = new Set([
  "authorization",
  "proxyauthorization",
  "onbehalfof",
  "cookie",
  "setcookie",
  "code",
  "state",
  "codeverifier",
  "secret",
  "clientsecret",
  "clientassertion",
  "assertion",
  "password",
  "passphrase",
  "apikey",
  "xapikey",
  "servicekey",
  "adminapikey",
  "operatorkey",
  "privatekey",
  "encryptionkeys",
  "tokens",
  "credentials",
]);
const secretKeySuffixes = ["token", "secret", "password"];
const maxScrubDepth = 12;

export function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[-_]/g, "");
  return secretKeys.has(normalized) || secretKeySuffixes.some((suffix) => normalized.endsWith(suffix));
}

/** A copy of a logged value with secret-named fields censored at any depth. */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= maxScrubDepth) return "[too deep]";
  if (Array.isArray(value)) return value.map((item) => scrubSecrets(item, depth + 1));
  // Errors, Dates, Buffers…: left to pino's serializers and the paths above.
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    // Numbers and booleans (`has_refresh_token: true`, `code: 400`) cannot carry a secret.
    const mayHoldSecret = typeof child === "string" || (typeof child === "object" && child !== null);
    copy[key] = mayHoldSecret && isSecretKey(key) ? censor : scrubSecrets(child, depth + 1);
  }
  return copy;
}

const sensitiveQueryParameter =
  /([?&#;](?:code|state|access_token|refresh_token|id_token|client_secret|token|code_verifier|password|api_key|key|assertion)=)[^&#\s"\\]*/gi;
const credentialScheme = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]+/gi;
const latchkeySecretKey = /\blk_(admin|svc)_[A-Za-z0-9_-]+/g;
/** `"client_secret":"…"` anywhere in the line, e.g. inside a serialized error's properties. */
const secretJsonField =
  /("(?:authorization|on-behalf-of|cookie|set-cookie|access_token|refresh_token|id_token|client_secret|secret|code_verifier|token|password|api_key|service_key|accessToken|refreshToken|clientSecret)":)"(?:[^"\\]|\\.)*"/gi;

/**
 * Last line of defence, on the finished JSON line (messages, error messages and stacks included):
 * credentials after Bearer/Basic, Latchkey's own secret keys, and secret query parameters of URLs.
 */
export function scrubLine(line: string): string {
  return line
    .replace(credentialScheme, `$1$2${censor}`)
    .replace(latchkeySecretKey, `lk_$1_${censor}`)
    .replace(sensitiveQueryParameter, `$1${censor}`)
    .replace(secretJsonField, `$1"${censor}"`);
}

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      // No pino `redact`: its wildcard paths cost ~30 µs a line; the key scrub below and the line
      // scrub (which also covers fields of serialized errors) do the same job for a fraction.
      base: { service: "latchkey" },
      hooks: {
        logMethod(args, method) {
          const [first, ...rest] = args;
          if (first !== null && typeof first === "object") {
            return method.apply(this, [scrubSecrets(first), ...rest] as unknown as Parameters<typeof method>);
          }
          return method.apply(this, args);
        },
        streamWrite: scrubLine,
      },
    },
    options.destination,
  );
}
