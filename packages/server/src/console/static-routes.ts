import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import { AppError, notFound } from "../errors/app-error.ts";
import type { AppEnv } from "../http/app-env.ts";
import { defineRoute } from "../http/define-route.ts";
import type { RouteContext } from "../http/route-context.ts";

/** Where `npm run build --workspace @latchkey/console` writes the console. */
export const defaultConsoleDist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../console/dist");

/**
 * Only the console's own scripts, styles and API: no inline script or style, no framing, no
 * plugins, forms only to this origin.
 */
export const consoleCsp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".map": "application/json",
};

/**
 * Serves the built console at /console/: files by path, every other path index.html (the console
 * routes in the browser), hashed assets cached for a year, and `/` redirects to the console.
 */
export function registerConsoleStaticRoutes(ctx: RouteContext<unknown>, distDir = defaultConsoleDist): void {
  const tag = "Console";
  defineRoute(ctx, {
    method: "get",
    path: "/",
    summary: "Redirects to the admin console",
    tag,
    auth: "none",
    responses: { 302: { description: "To /console/" } },
    handler: (c) => c.redirect("/console/", 302),
  });
  defineRoute(ctx, {
    method: "get",
    path: "/console",
    summary: "Redirects to the admin console's root",
    tag,
    auth: "none",
    responses: { 301: { description: "To /console/" } },
    handler: (c) => c.redirect("/console/", 301),
  });
  defineRoute(ctx, {
    method: "get",
    path: "/console/{file}",
    honoPath: "/console/*",
    summary:
      "The admin console (HTML, scripts, styles): a file of the built console, else its index.html, since the console routes in the browser",
    tag,
    auth: "none",
    responses: { 200: { description: "A console file (text/html for pages)" } },
    errors: ["NOT_FOUND", "NOT_READY"],
    handler: async (c) => {
      const relative = decodeURIComponentSafe(c.req.path.slice("/console/".length)) ?? "";
      const file = path.resolve(distDir, relative);
      const inside = file.startsWith(distDir + path.sep) && !relative.includes("\0");
      if (inside && relative !== "" && (await isFile(file))) {
        const immutable = relative.startsWith("assets/");
        return sendFile(c, file, immutable ? "public, max-age=31536000, immutable" : "no-cache");
      }
      if (relative.startsWith("assets/")) throw notFound("Console file");
      const index = path.join(distDir, "index.html");
      if (!(await isFile(index))) {
        throw new AppError(
          "NOT_READY",
          "The Latchkey console is not built. Run `npm run build --workspace @latchkey/console` (npm start does it for you).",
        );
      }
      return sendFile(c, index, "no-cache");
    },
  });
}

async function sendFile(c: Context<AppEnv>, file: string, cacheControl: string): Promise<Response> {
  const body = await fs.readFile(file);
  c.header("Content-Type", contentTypes[path.extname(file)] ?? "application/octet-stream");
  c.header("Cache-Control", cacheControl);
  c.header("Content-Security-Policy", consoleCsp);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("X-Frame-Options", "DENY");
  c.header("Referrer-Policy", "no-referrer");
  return c.body(body, 200);
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

function decodeURIComponentSafe(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}
