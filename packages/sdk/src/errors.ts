/** Codes the Latchkey server answers with (the server's error table). */
export type ServerErrorCode =
  | "INVALID_REQUEST"
  | "INVALID_STATE"
  | "RETURN_TO_NOT_ALLOWED"
  | "UNAUTHENTICATED"
  | "INVALID_USER_TOKEN"
  | "PLAN_REQUIRED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONNECTION_NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "CONFLICT"
  | "CONNECTION_NEEDS_REAUTH"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "RATE_LIMITED"
  | "INTERNAL"
  | "PROVIDER_ERROR"
  | "PROVIDER_UNAVAILABLE"
  | "NOT_READY";

/** Codes the SDK raises itself, before or instead of an HTTP answer (status 0 unless noted). */
export type ClientErrorCode =
  /** fetch rejected: DNS, refused connection, CORS, aborted body. */
  | "NETWORK_ERROR"
  /** The call needs a user token and the client has none. */
  | "MISSING_USER_TOKEN"
  /** The call needs a service key and the client has none. */
  | "MISSING_SERVICE_KEY"
  /** A method argument is empty or not a string. */
  | "INVALID_ARGUMENT"
  /** serverUrl or appId missing or malformed. */
  | "INVALID_CONFIG"
  /** A 2xx answer that is not the JSON the route promises (status is the HTTP status). */
  | "INVALID_RESPONSE";

/** A non-JSON error answer (a proxy's HTML page, say) becomes `HTTP_<status>`. */
export type HttpStatusErrorCode = `HTTP_${number}`;

export type LatchkeyErrorCode = ServerErrorCode | ClientErrorCode | HttpStatusErrorCode;

export interface LatchkeyErrorInit {
  status: number;
  code: LatchkeyErrorCode;
  message: string;
  data?: unknown;
  details?: unknown;
  requestId?: string | undefined;
  cause?: unknown;
}

/**
 * Every failure of the SDK. `status` is the HTTP status (0 when no answer arrived), `code` a stable
 * code to branch on, `data` the whole parsed error body, `details` its `error.details`.
 */
export class LatchkeyError extends Error {
  override readonly name = "LatchkeyError";
  readonly status: number;
  readonly code: LatchkeyErrorCode;
  readonly data: unknown;
  readonly details: unknown;
  readonly requestId: string | undefined;

  constructor(init: LatchkeyErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.data = init.data;
    this.details = init.details;
    this.requestId = init.requestId;
  }

  /** Also true for an error from another copy of the SDK (bundled twice, other realm). */
  static is(value: unknown): value is LatchkeyError {
    if (value instanceof LatchkeyError) return true;
    if (typeof value !== "object" || value === null) return false;
    const candidate = value as { name?: unknown; status?: unknown; code?: unknown };
    return (
      candidate.name === "LatchkeyError" && typeof candidate.status === "number" && typeof candidate.code === "string"
    );
  }

  toJSON(): {
    name: string;
    status: number;
    code: LatchkeyErrorCode;
    message: string;
    data: unknown;
    requestId?: string;
  } {
    return {
      name: this.name,
      status: this.status,
      code: this.code,
      message: this.message,
      data: this.data,
      ...(this.requestId !== undefined && { requestId: this.requestId }),
    };
  }
}

export function clientError(code: ClientErrorCode, message: string, cause?: unknown): LatchkeyError {
  return new LatchkeyError({ status: 0, code, message, cause });
}
