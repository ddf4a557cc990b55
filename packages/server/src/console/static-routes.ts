import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import type { AppEnv } from "../http/app-env.ts";
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
export function registerConsoleStaticRoutes({ app }: RouteContext<unknown>, distDir = defaultConsoleDist): void {
  app.get("/", (c) => c.redirect("/console/", 302));
  app.get("/console", (c) => c.redirect("/console/", 301));
  app.get("/console/*", async (c) => {
    const relative = decodeURIComponentSafe(c.req.path.slice("/console/".length)) ?? "";
    const file = path.resolve(distDir, relative);
    const inside = file.startsWith(distDir + path.sep) && !relative.includes("\0");
    if (inside && relative !== "" && (await isFile(file))) {
      const immutable = relative.startsWith("assets/");
      return sendFile(c, file, immutable ? "public, max-age=31536000, immutable" : "no-cache");
    }
    if (relative.startsWith("assets/")) return c.text("Not found", 404);
    const index = path.join(distDir, "index.html");
    if (!(await isFile(index))) {
      c.header("Cache-Control", "no-store");
      return c.text(
        "The Latchkey console is not built. Run `npm run build --workspace @latchkey/console` (npm start does it for you).",
        503,
      );
    }
    return sendFile(c, index, "no-cache");
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
