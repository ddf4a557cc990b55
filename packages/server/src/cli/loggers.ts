import type { Config } from "../config/config.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import type { Env } from "./environment.ts";

/** A server logs to stdout at the configured level. */
export function serverLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel });
}

/**
 * One-shot commands print their own results on stdout; logs go to stderr and, unless LOG_LEVEL
 * asks for more, only warnings and errors.
 */
export function commandLogger(config: Config, env: Env): Logger {
  return createLogger({ level: env.LOG_LEVEL ? config.logLevel : "warn", destination: process.stderr });
}
