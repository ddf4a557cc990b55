import type { Hono } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "./app-env.ts";

/**
 * The routes browser frontends call cross-origin: the app-user routes (user token) and, from the
 * same SDK, the service routes. Both authenticate with bearer tokens, never cookies, so any
 * origin may call them (`*`, no credentials): a page cannot borrow a user's ambient authority.
 * Workspace and operator routes get no CORS: they are called server to server or from the
 * console on its own origin.
 */
export const browserApiPattern = "/api/apps/*";

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
 * answered here (204) without reaching the routes.
 */
export function registerCors(app: Hono<AppEnv>): void {
  app.use(
    browserApiPattern,
    cors({
      origin: "*",
      credentials: false,
      allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
      allowHeaders: corsAllowedHeaders,
      exposeHeaders: corsExposedHeaders,
      maxAge: corsMaxAgeSeconds,
    }),
  );
}
