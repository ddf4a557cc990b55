/**
 * Whether an error means "the database cannot be reached right now" (restart, crash, network,
 * pool exhausted) rather than a bug: such a request is answered 503 with Retry-After, not 500.
 * Looks through `cause` chains and AggregateErrors (a refused connection to every address).
 */
const unreachableCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections.
const unavailableSqlStates = new Set(["57P01", "57P02", "57P03", "53300"]);

// node-postgres reports these with a message only.
const unreachableMessages = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error and is not queryable",
  "Connection is closed",
];

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 5 || !(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (unreachableCodes.has(code) || unavailableSqlStates.has(code)) return true;
    // Class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (unreachableMessages.some((message) => error.message.startsWith(message))) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) {
    return true;
  }
  return isDatabaseUnavailable(error.cause, depth + 1);
}

/** Seconds a client is told to wait when the database is unavailable. */
export const databaseRetryAfterSeconds = 2;
