import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody } from "@latchkey/contracts";
import { AppError } from "./app-error.ts";
import { ClientClosedRequest, clientClosedStatus } from "./client-closed.ts";
import type { Logger } from "../log/logger.ts";
import { databaseRetryAfterSeconds, isDatabaseUnavailable } from "../db/database-unavailable.ts";

/** The single place an error becomes a response. Unknown errors are logged, never echoed. */
export function createErrorHandler(logger: Logger) {
  return (error: Error, c: Context): Response => {
    const requestId = c.get("requestId") as string | undefined;
    if (error instanceof ClientClosedRequest) {
      logger.debug({ request_id: requestId, method: c.req.method, path: c.req.path }, "client closed the connection");
      return new Response(null, { status: clientClosedStatus });
    }
    const appError = toAppError(error);
    if (appError.code === "NOT_READY" && !(error instanceof AppError)) {
      logger.warn(
        { err: error, request_id: requestId, method: c.req.method, path: c.req.path },
        "database unavailable",
      );
    } else if (appError.code === "INTERNAL") {
      logger.error({ err: error, request_id: requestId, method: c.req.method, path: c.req.path }, "unhandled error");
    } else if (appError.logDetail !== undefined) {
      logger.warn(
        {
          request_id: requestId,
          code: appError.code,
          detail: appError.logDetail,
          method: c.req.method,
          path: c.req.path,
        },
        "request failed",
      );
    }
    const body: ErrorBody = {
      error: {
        code: appError.code,
        message: appError.message,
        ...(appError.details !== undefined && { details: appError.details }),
        ...(requestId !== undefined && { request_id: requestId }),
      },
    };
    for (const [name, value] of Object.entries(appError.headers ?? {})) c.header(name, value);
    return c.json(body, appError.status as ContentfulStatusCode);
  };
}

/**
 * 413 closes the connection: the rest of the oversized body is still on the wire, and a pooled
 * client must not send its next request behind it (the node adapter gives up draining it after a
 * moment and cuts the socket, failing whatever request was queued there).
 */
export function payloadTooLarge(message: string): AppError {
  return new AppError("PAYLOAD_TOO_LARGE", message, undefined, { Connection: "close" });
}

function toAppError(error: Error): AppError {
  if (error instanceof AppError) return error;
  // A restart or outage of the database is not a bug: the client is told when to try again.
  if (isDatabaseUnavailable(error)) {
    return new AppError(
      "NOT_READY",
      "The database is unavailable; retry shortly",
      { retry_after_seconds: databaseRetryAfterSeconds },
      { "Retry-After": String(databaseRetryAfterSeconds) },
    );
  }
  if (error instanceof HTTPException) {
    if (error.status === 413) return payloadTooLarge("Request body is too large");
    if (error.status === 404) return new AppError("NOT_FOUND", "Not found");
    if (error.status < 500) return new AppError("INVALID_REQUEST", error.message || "Invalid request");
  }
  return new AppError("INTERNAL", "Internal error");
}
