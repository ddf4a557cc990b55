/**
 * The one error table. Every error Latchkey returns is `{ error: { code, message, details? } }`
 * with the HTTP status given here. Codes are stable: clients branch on them.
 */
export const ErrorCode = {
  INVALID_REQUEST: 400,
  INVALID_STATE: 400,
  RETURN_TO_NOT_ALLOWED: 400,
  UNAUTHENTICATED: 401,
  INVALID_USER_TOKEN: 401,
  PLAN_REQUIRED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONNECTION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  CONNECTION_NEEDS_REAUTH: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  PROVIDER_ERROR: 502,
  PROVIDER_UNAVAILABLE: 503,
  NOT_READY: 503,
} as const;

export type ErrorCode = keyof typeof ErrorCode;

export const errorCodes = Object.keys(ErrorCode) as ErrorCode[];

export function statusOf(code: ErrorCode): number {
  return ErrorCode[code];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ErrorCode, value);
}

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    details?: unknown;
    request_id?: string;
  };
}
