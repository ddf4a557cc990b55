import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../log/logger.ts";
import type { AppEnv } from "./app-env.ts";

const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id (echoed as X-Request-Id), a child logger, and one access-log line per request. */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && acceptableRequestId.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ request_id: requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    // Set before the response exists: a header added afterwards makes Hono copy the whole Response.
    c.header("X-Request-Id", requestId);
    const started = performance.now();
    await next();
    // The path only: query strings can carry codes and states.
    log.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) },
      "request",
    );
  };
}
