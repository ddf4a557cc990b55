import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { Logger } from "../log/logger.ts";
import type { AppEnv } from "./app-env.ts";
import type { HttpMetrics } from "./http-metrics.ts";
import type { AuthFailureLimit } from "./rate-limit.ts";
import { applyResponseHeaders } from "./response-headers.ts";
import type { Step } from "./route-pipeline.ts";

const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestContextParts {
  logger: Logger;
  metrics: HttpMetrics;
  /** This instance's failed-authentication limit, for the auth middlewares. */
  authFailures: AuthFailureLimit;
}

/**
 * The first step of every request, made once per route (`route` is its pattern): request id
 * (echoed as X-Request-Id), the logger (`requestLog`), the response headers every answer carries,
 * request metrics and one access-log line. One step rather than one each: every layer costs a call and,
 * where a step waits, a promise on the hot path. It finishes synchronously when the route did.
 */
export function requestContext({ logger, metrics, authFailures }: RequestContextParts): (route: string) => Step {
  return (route) => {
    const record = metrics.forRoute(route);
    const finish = (c: Context<AppEnv>, started: number): void => {
      const status = c.res.status;
      record(c.req.method, status, (performance.now() - started) / 1000);
      applyResponseHeaders(c);
      if (logger.isLevelEnabled("info")) {
        // The path only: query strings can carry codes and states.
        requestLog(c).info(
          { method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started) },
          "request",
        );
      }
    };
    return (c, next) => {
      const started = performance.now();
      const incoming = c.req.header("x-request-id");
      const requestId = incoming && acceptableRequestId.test(incoming) ? incoming : randomUUID();
      c.set("requestId", requestId);
      c.set("baseLogger", logger);
      c.set("authFailures", authFailures);
      c.set("responseHeaders", { "X-Request-Id": requestId });
      // The steps after this one turn their errors into c.res (route-pipeline.ts): next() does not throw.
      const done = next();
      if (done instanceof Promise) return done.then(() => finish(c, started));
      finish(c, started);
    };
  };
}

/**
 * The request's logger: the instance's with the request id bound. Made on first use, since most
 * requests log nothing below the access log's level (a child logger per request cost the token
 * hot path about 1% of its CPU).
 */
export function requestLog(c: Context<AppEnv>): Logger {
  let log = c.get("requestLog");
  if (log === undefined) {
    log = c.get("baseLogger").child({ request_id: c.get("requestId") });
    c.set("requestLog", log);
  }
  return log;
}
