import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { catalog, toProviderInfo } from "@latchkey/catalog";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, type LatchkeyProcess, npmPack, type Packed, run, startLatchkey } from "./support/packaging.ts";
import { callbackUrl, createTenant, initiate, userToken } from "./support/connect-testbed.ts";
import { startAuthorizationServer } from "./support/oidc-provider.ts";
import { type CallOptions, testOperatorKey } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";

// The server as an operator gets it: contracts, catalog and server built, packed with `npm pack`,
// installed from the three tarballs into a fresh project, then started with `latchkey serve` from
// that project. The install is offline (registry dependencies from the machine's npm cache, which
// `npm ci` filled) when the cache holds their metadata too, else --prefer-offline (metadata only from
// the registry); it is skipped, saying why, only when neither can work.

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const packageNames = ["contracts", "catalog", "server"] as const;
/** The cache `npm ci` fills; offline, the tarballs' dependencies (hono, pg, PGlite…) can only come from it. */
const npmCache = process.env.npm_config_cache ?? path.join(os.homedir(), ".npm");
const slow = 600_000;

describe.runIf(testDbKind() === "embedded")("the packed @latchkey/server, installed offline in a fresh project", () => {
  let work: string;
  let project: string;
  let server: LatchkeyProcess | undefined;
  const packed = new Map<string, Packed>();
  /** Why the tarballs could not be installed (not in the npm cache, and no registry), if so. */
  let cannotInstallOffline: string | undefined;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-server-packaging-"));
    project = path.join(work, "project");

    // What `npm start` builds (nothing when the build is current), then the tarballs `npm publish` would upload.
    await run(process.execPath, [path.join(repoRoot, "scripts", "build-if-stale.mjs")], { cwd: repoRoot });
    for (const name of packageNames) {
      packed.set(name, await npmPack(path.join(repoRoot, "packages", name), work, path.join(work, "pack-cache")));
    }

    await fs.mkdir(project);
    await fs.writeFile(
      path.join(project, "package.json"),
      JSON.stringify({ name: "latchkey-operator", private: true, type: "module" }),
    );
    const tarballs = packageNames.map((name) => path.join(work, packed.get(name)?.filename ?? ""));
    const install = (mode: "--offline" | "--prefer-offline") =>
      run("npm", ["install", mode, "--no-audit", "--no-fund", "--no-package-lock", ...tarballs], {
        cwd: project,
        env: cleanEnv({ npm_config_cache: npmCache, npm_config_update_notifier: "false" }),
      });
    try {
      await install("--offline");
    } catch (offline) {
      // `npm ci` caches the tarballs it installs but not the registry metadata a lockfile-less install
      // resolves versions with; then only that metadata comes from the registry, every tarball from the cache.
      if (!String(offline).includes("ENOTCACHED")) throw offline;
      console.log(
        "\n[latchkey] server packaging test: registry metadata not cached, installing with --prefer-offline\n",
      );
      try {
        await install("--prefer-offline");
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (!/ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET/.test(message)) throw error;
        cannotInstallOffline = `the npm cache ${npmCache} lacks a dependency and the registry is unreachable: ${message.split("\n")[0]}`;
        console.log(`\n[latchkey] server packaging test SKIPPED: ${cannotInstallOffline}\n`);
        return;
      }
    }
    // The installed bin, as npx would find it.
    const bin = path.join(project, "node_modules", "@latchkey", "server", "bin", "latchkey.js");
    server = startLatchkey({
      bin,
      cwd: project,
      dataDir: path.join(work, "data"),
      operatorKey: testOperatorKey,
      // The connect fixtures expect connectors' callback URL at the test public URL.
      env: { LATCHKEY_PUBLIC_URL: new URL(callbackUrl).origin },
    });
  }, slow);

  afterAll(async () => {
    await server?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  }, slow);

  const packedPaths = (name: string) => packed.get(name)?.files.map((file) => file.path) ?? [];

  it("packs each package's build with its declarations, and no TypeScript source", () => {
    for (const name of packageNames) {
      const files = packedPaths(name);
      expect(files, name).toContain("package.json");
      expect(
        files.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts")),
        name,
      ).toEqual([]);
      expect(
        files.some((file) => file.startsWith("src/")),
        name,
      ).toBe(false);
    }
    expect(packedPaths("contracts")).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts"]));
    expect(packedPaths("catalog")).toEqual(
      expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "provider.schema.json", "providers/github.json"]),
    );
    expect(packedPaths("server")).toEqual(
      expect.arrayContaining([
        "bin/latchkey.js",
        "dist/bundle/main.js",
        "dist/cli/main.js",
        "dist/cli/main.d.ts",
        "dist/ops/routes.js",
      ]),
    );
    // The bundle's chunks have content hashes in their names: at least the server command's.
    expect(packedPaths("server").some((file) => /^dist\/bundle\/server-command-\w+\.js$/.test(file))).toBe(true);
  });

  it("installs no TypeScript tooling: the server needs none at run time", async (context) => {
    if (cannotInstallOffline) context.skip(cannotInstallOffline);
    const installed = await fs.readdir(path.join(project, "node_modules"));
    expect(installed).toContain("@latchkey");
    expect(installed).toContain("hono");
    expect(installed).not.toContain("tsx");
    expect(installed).not.toContain("typescript");
    expect(installed).not.toContain("esbuild");
    expect(existsSync(path.join(project, "node_modules", "@latchkey", "server", "src"))).toBe(false);
  });

  it("npx resolves the latchkey command in the project", { timeout: 120_000 }, async (context) => {
    if (cannotInstallOffline) context.skip(cannotInstallOffline);
    const { stdout } = await run("npx", ["--no", "latchkey", "help"], {
      cwd: project,
      env: cleanEnv({ npm_config_cache: npmCache, npm_config_offline: "true", npm_config_update_notifier: "false" }),
    });
    expect(stdout).toContain("Usage: latchkey <command>");
  });

  it("latchkey serve starts on a new data dir and answers /readyz, /healthz and its OpenAPI document", {
    timeout: 300_000,
  }, async (context) => {
    if (cannotInstallOffline || !server) return context.skip(cannotInstallOffline);
    const url = await server.ready;

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: "embedded" });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    // The version comes from the server's package.json, read by the build through a JSON import.
    const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as { info: { version: string } };
    const serverPackage = JSON.parse(
      await fs.readFile(path.join(repoRoot, "packages", "server", "package.json"), "utf8"),
    ) as { version: string };
    expect(openapi.info.version).toBe(serverPackage.version);
    // The bundle's catalog was compiled in at build time: it is the catalog the sources read and validate.
    const providers = (await (await fetch(`${url}/api/providers`)).json()) as { providers: unknown[] };
    expect(providers.providers).toEqual([...catalog.values()].map(toProviderInfo));
    expect(providers.providers.length).toBeGreaterThan(40);

    // Outbound calls from the bundle: a connect starts with OpenID discovery at a real authorization
    // server, sent through undici (which the bundle loads as a chunk of its own).
    const harness = await startAuthorizationServer();
    try {
      const caller = {
        call: (method: string, route: string, options: CallOptions = {}) => call(url, method, route, options),
      };
      const tenant = await createTenant(caller, harness);
      const redirect = new URL(await initiate(caller, tenant, await userToken(caller, tenant, "packaged-user")));
      expect(`${redirect.origin}${redirect.pathname}`).toBe(harness.authorizationEndpoint);
    } finally {
      await harness.close();
    }

    expect(await server.stop()).toBe(0);
  });
});

/** A test caller for a server in another process: bearer token, JSON body, redirects returned. */
function call(baseUrl: string, method: string, route: string, options: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  return fetch(`${baseUrl}${route}`, { method, headers, redirect: "manual", ...(body !== undefined && { body }) });
}
