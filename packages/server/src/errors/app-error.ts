import { ErrorCode } from "@latchkey/contracts";

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
    /**
     * What went wrong in full (URLs, addresses, socket errors): written to the log with the
     * request id, never sent to the client, who gets the code and the plain message.
     */
    readonly logDetail?: string,
  ) {
    super(message);
    this.name = "AppError";
  }

  get status(): number {
    return ErrorCode[this.code];
  }
}

export const notFound = (what = "Resource") => new AppError("NOT_FOUND", `${what} not found`);
export const forbidden = (message = "You do not have permission to do this") => new AppError("FORBIDDEN", message);
export const unauthenticated = (message = "Missing or invalid credentials") => new AppError("UNAUTHENTICATED", message);
export const noRoute = (method: string, path: string) => new AppError("NOT_FOUND", `No route for ${method} ${path}`);
