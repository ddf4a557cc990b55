import type { RoutePipeline, Step } from "./route-pipeline.ts";

/**
 * The routes browser frontends call cross-origin: the app-user routes (user token) and, from the
 * same SDK, the service routes. Both authenticate with bearer tokens, never cookies, so any
 * origin may call them (`*`, no credentials): a page cannot borrow a user's ambient authority.
 * Workspace and operator routes get no CORS: they are called server to server or from the
 * console on its own origin.
 */
export const browserApiPrefix = "/api/apps/";

/** Request headers the Base44 and Latchkey SDKs send (browser ones included). */
export const corsAllowedHeaders = [
  "Authorization",
  "Content-Type",
  "X-App-Id",
  "X-Origin-URL",
  "X-Base44-Anonymous-Id",
  "On-Behalf-Of",
  "X-Request-Id",
];

export const corsExposedHeaders = ["X-Request-Id", "Retry-After"];

export const corsMaxAgeSeconds = 600;

/**
 * Must run before any route's auth middleware: a preflight carries no credentials, and is
 * answered here (204) without reaching the routes. Its headers join the request's response
 * headers (http/response-headers.ts), which the token routes write without a Fetch `Headers`.
 */
export function registerCors(routes: RoutePipeline): void {
  const allowMethods = "GET,POST,DELETE,OPTIONS";
  const allowHeaders = corsAllowedHeaders.join(",");
  const exposeHeaders = corsExposedHeaders.join(",");
  const corsStep: Step = (c, next) => {
    const headers = c.get("responseHeaders");
    headers["Access-Control-Allow-Origin"] = "*";
    if (c.req.method === "OPTIONS") {
      headers["Access-Control-Allow-Methods"] = allowMethods;
      headers["Access-Control-Allow-Headers"] = allowHeaders;
      headers["Access-Control-Max-Age"] = String(corsMaxAgeSeconds);
      return c.body(null, 204);
    }
    headers["Access-Control-Expose-Headers"] = exposeHeaders;
    return next();
  };
  routes.everyRequest(
    () => corsStep,
    (patternOrPath) => patternOrPath.startsWith(browserApiPrefix) || `${patternOrPath}/` === browserApiPrefix,
  );
}
