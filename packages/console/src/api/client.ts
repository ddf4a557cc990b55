/**
 * The one way the console talks to the Latchkey API: same origin, JSON, the session cookie, and
 * the session's CSRF token on every state-changing request. Errors become ApiError with the API's
 * stable code, so screens branch on codes, never on messages.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Thrown for a network failure: no answer from the server at all. */
export const networkErrorCode = "NETWORK";

interface Credentials {
  csrfToken: string | null;
  /** Development only: an admin API key instead of a session. */
  bearer: string | null;
}

const credentials: Credentials = { csrfToken: null, bearer: null };

export function setCsrfToken(token: string | null): void {
  credentials.csrfToken = token;
}

export function setBearerKey(key: string | null): void {
  credentials.bearer = key;
}

/** Called when the API says the session is gone (401), so the app can show the sign-in page. */
let onUnauthenticated: () => void = () => {};
export function whenUnauthenticated(handler: () => void): void {
  onUnauthenticated = handler;
}

type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

export interface RequestOptions {
  /** Don't treat a 401 as the end of the session (sign-in, setup, token tests). */
  expect401?: boolean;
  query?: Record<string, string | number | undefined>;
}

export async function api<T>(method: Method, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && credentials.csrfToken) headers["x-csrf-token"] = credentials.csrfToken;
  if (credentials.bearer) headers.authorization = `Bearer ${credentials.bearer}`;
  let url = path;
  if (options.query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(options.query)) {
      if (value !== undefined && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, networkErrorCode, "The Latchkey server cannot be reached. Check your connection and retry.");
  }
  if (response.status === 204) return undefined as T;
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = toApiError(response, payload);
    if (error.status === 401 && !options.expect401) onUnauthenticated();
    throw error;
  }
  return payload as T;
}

function toApiError(response: Response, payload: unknown): ApiError {
  if (typeof payload === "object" && payload !== null && "error" in payload) {
    const error = (payload as { error: { code?: unknown; message?: unknown; details?: unknown } }).error;
    if (typeof error.code === "string") {
      const message = typeof error.message === "string" ? error.message : error.code;
      const apiError = new ApiError(response.status, error.code, message, error.details);
      const retryAfter = response.headers.get("retry-after");
      if (retryAfter) (apiError as ApiError & { retryAfter?: string }).retryAfter = retryAfter;
      return apiError;
    }
  }
  return new ApiError(response.status, "INTERNAL", `The server answered ${response.status} ${response.statusText}`);
}

/** What a person should read for an error: a sentence per code, then the API's own message. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : "Something went wrong.";
  const retryAfter = (error as ApiError & { retryAfter?: string }).retryAfter;
  switch (error.code) {
    case networkErrorCode:
      return error.message;
    case "UNAUTHENTICATED":
      return `Not signed in: ${error.message}`;
    case "FORBIDDEN":
      return "Only workspace admins can do this.";
    case "PLAN_REQUIRED":
      return `Your workspace's plan does not include this. ${error.message}`;
    case "NOT_FOUND":
      return `Not found: it may have been deleted. (${error.message})`;
    case "CONFLICT":
      return error.message;
    case "RATE_LIMITED":
      return `Too many attempts. Try again${retryAfter ? ` in ${retryAfter} s` : " in a minute"}.`;
    case "INVALID_REQUEST":
      return issuesText(error) ?? error.message;
    case "PAYLOAD_TOO_LARGE":
      return "That is too large to send.";
    case "INTERNAL":
      return `The server failed (${error.message}). Try again; if it keeps failing, check the server log.`;
    case "PROVIDER_ERROR":
    case "PROVIDER_UNAVAILABLE":
      return `The provider did not answer as expected: ${error.message}`;
    default:
      return error.message;
  }
}

function issuesText(error: ApiError): string | null {
  const details = error.details;
  if (typeof details !== "object" || details === null || !("issues" in details)) return null;
  const issues = (details as { issues: unknown }).issues;
  if (!Array.isArray(issues) || issues.length === 0) return null;
  const lines = issues.slice(0, 5).map((issue: unknown) => {
    const { path, message } = issue as { path?: unknown; message?: unknown };
    const where = typeof path === "string" && path ? `${path}: ` : "";
    return `${where}${typeof message === "string" ? message : "invalid"}`;
  });
  return `Please check: ${lines.join("; ")}`;
}
