/**
 * The calendar demo app's server: a plain HTML page, the `@latchkey/sdk` module for it, and three
 * backend routes — a demo sign-in that has Latchkey mint the user's token (the app's identity
 * type is `latchkey`), the app's public settings, and the events function (list-events.ts).
 *
 * Everything it needs comes from the environment, as in a real deployment:
 * LATCHKEY_URL, LATCHKEY_APP_ID, LATCHKEY_SERVICE_KEY, CALENDAR_CONNECTOR_ID, CALENDAR_EVENTS_URL.
 */
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { LatchkeyError } from "@latchkey/sdk";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import listEvents from "./list-events.ts";

export interface DemoApp {
  url: string;
  close(): Promise<void>;
}

const publicDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "public");
const staticFiles: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/style.css": "style.css",
};
const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
const maxNameLength = 40;

/** The app's HTTP handler, on `port` of 127.0.0.1 (0: any free port). */
export async function startDemoApp(options: { port: number }): Promise<DemoApp> {
  const app = createDemoAppRoutes();
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.port, hostname: "127.0.0.1" }, (info: AddressInfo) => {
      server.off("error", reject);
      resolve({
        url: `http://localhost:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            if ("closeAllConnections" in server) server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
    server.once("error", reject);
  });
}

export function createDemoAppRoutes(): Hono {
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof LatchkeyError) {
      // Latchkey's own answer keeps its status; the SDK's client-side errors have none (status 0).
      const status = error.code === "MISSING_USER_TOKEN" ? 401 : error.status >= 400 ? error.status : 502;
      return c.json({ error: { code: error.code, message: error.message } }, status as ContentfulStatusCode);
    }
    console.error("[calendar demo]", error);
    return c.json({ error: { code: "INTERNAL", message: "Something went wrong in the demo app" } }, 500);
  });

  for (const [route, file] of Object.entries(staticFiles)) {
    app.get(route, async () => {
      const body = await fs.readFile(path.join(publicDir, file));
      return new Response(body, {
        headers: {
          "content-type": contentTypes[path.extname(file)] ?? "application/octet-stream",
          "cache-control": "no-cache",
        },
      });
    });
  }

  // The SDK as ES modules for the page's import map, compiled from its TypeScript on first use.
  app.get("/sdk/:file", async (c) => {
    const module = await sdkModule(c.req.param("file"));
    if (module === null) return c.json({ error: { code: "NOT_FOUND", message: "No such SDK module" } }, 404);
    return c.body(module, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" });
  });

  // What the page needs to talk to Latchkey: public values only (never the service key).
  app.get("/api/config", (c) =>
    c.json({
      latchkeyUrl: requiredEnv("LATCHKEY_URL"),
      appId: requiredEnv("LATCHKEY_APP_ID"),
      connectorId: requiredEnv("CALENDAR_CONNECTOR_ID"),
    }),
  );

  // Demo sign-in: any name is a user. A real app checks a password or an identity provider here;
  // then, as here, its backend asks Latchkey for the user's token with the app's service key.
  app.post("/api/sign-in", async (c) => {
    const body: unknown = await c.req.json().catch(() => null);
    const name = typeof body === "object" && body !== null && "name" in body ? body.name : undefined;
    const trimmed = typeof name === "string" ? name.trim() : "";
    const userId = userIdFor(trimmed);
    if (trimmed.length > maxNameLength || userId === "") {
      return c.json(
        {
          error: {
            code: "INVALID_REQUEST",
            message: `name: 1–${maxNameLength} characters with at least one letter or digit`,
          },
        },
        400,
      );
    }
    const latchkeyUrl = requiredEnv("LATCHKEY_URL");
    const appId = requiredEnv("LATCHKEY_APP_ID");
    const minted = await fetch(`${latchkeyUrl}/api/apps/${appId}/users/${encodeURIComponent(userId)}/token`, {
      method: "POST",
      headers: { authorization: `Bearer ${requiredEnv("LATCHKEY_SERVICE_KEY")}`, "content-type": "application/json" },
      body: JSON.stringify({ expires_in: 3600 }),
    });
    if (minted.status !== 201) {
      console.error("[calendar demo] Latchkey refused to mint a user token:", minted.status, await minted.text());
      return c.json({ error: { code: "SIGN_IN_FAILED", message: "Latchkey did not issue a user token" } }, 502);
    }
    const { token, expires_at } = (await minted.json()) as { token: string; expires_at: string };
    return c.json({ user: { id: userId, name: trimmed }, token, expiresAt: expires_at });
  });

  // The backend function, called by the page with the user's token.
  app.get("/api/events", (c) => listEvents(c.req.raw));

  return app;
}

/** "Ada Lovelace" → "ada-lovelace": the app user's id (the token's `sub`). */
export function userIdFor(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "") // accents, once split off the letters
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, maxNameLength);
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const require = createRequire(import.meta.url);
const sdkSourceDir = path.join(path.dirname(require.resolve("@latchkey/sdk/package.json")), "src");
let sdkModules: Promise<Map<string, Promise<string>>> | undefined;

/** `client.js` → the SDK's src/client.ts as JavaScript; null for anything that is not one of its modules. */
async function sdkModule(file: string): Promise<string | null> {
  sdkModules ??= fs
    .readdir(sdkSourceDir)
    .then(
      (names) =>
        new Map(
          names
            .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
            .map((name) => [`${name.slice(0, -3)}.js`, compileSdkModule(path.join(sdkSourceDir, name))]),
        ),
    );
  return (await sdkModules).get(file) ?? null;
}

async function compileSdkModule(file: string): Promise<string> {
  const source = await fs.readFile(file, "utf8");
  const { default: ts } = await import("typescript");
  return ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.ES2022,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      rewriteRelativeImportExtensions: true,
    },
  }).outputText;
}
