import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../log/logger.ts";
import type { HttpMetrics } from "./http-metrics.ts";
import type { AppEnv } from "./app-env.ts";
import type { AuthFailureLimit } from "./rate-limit.ts";
import { applyResponseHeaders } from "./response-headers.ts";

const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestContextParts {
  logger: Logger;
  metrics: HttpMetrics;
  /** This instance's failed-authentication limit, for the auth middlewares. */
  authFailures: AuthFailureLimit;
}

/**
 * The first middleware of every request: request id (echoed as X-Request-Id), a child logger,
 * the response headers every answer carries, request metrics and one access-log line. One
 * middleware rather than one each: every layer costs a promise and a dispatch on the hot path.
 */
export function requestContext({ logger, metrics, authFailures }: RequestContextParts): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && acceptableRequestId.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ request_id: requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    c.set("authFailures", authFailures);
    c.set("responseHeaders", { "X-Request-Id": requestId });
    await metrics.measure(c, started, next);
    applyResponseHeaders(c);
    if (log.isLevelEnabled("info")) {
      // The path only: query strings can carry codes and states.
      log.info(
        { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) },
        "request",
      );
    }
  };
}
