import { pino, type DestinationStream, type Logger } from "pino";

/** Field paths whose values never reach a log line. */
export const redactedPaths = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  'req.headers["on-behalf-of"]',
  "req.headers.cookie",
  "*.cookie",
  "*.access_token",
  "*.refresh_token",
  "*.id_token",
  "*.client_secret",
  "*.secret",
  "*.code",
  "*.code_verifier",
  "*.token",
  "*.password",
  "*.api_key",
  "*.service_key",
  "access_token",
  "refresh_token",
  "client_secret",
  "code_verifier",
  "token",
  "secret",
];

export type { Logger };

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: redactedPaths, censor: "[redacted]" },
      base: { service: "latchkey" },
    },
    options.destination,
  );
}
