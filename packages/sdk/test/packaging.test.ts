import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createContext, runInContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanEnv,
  type LatchkeyProcess,
  npmPack,
  run as runCommand,
  startLatchkey,
} from "../../server/test/support/packaging.ts";

// The package as users get it: built, packed with `npm pack`, installed offline from the tarball into
// four throwaway projects, each of which calls a real Latchkey server (started here from its CLI).

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const repoRoot = path.join(packageDir, "..", "..");
const tscBin = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc");
const esbuildBin = path.join(repoRoot, "node_modules", ".bin", "esbuild");
const serverBin = path.join(repoRoot, "packages", "server", "bin", "latchkey.js");
const operatorKey = "op_packaging_test_0123456789abcdefghijklmnop";
const slow = 240_000;

const missing = [
  [tscBin, "TypeScript (the build and the TypeScript project need it)"],
  [esbuildBin, "esbuild (vite's, for the browser bundle)"],
  [serverBin, "the Latchkey server CLI"],
].filter(([file]) => !existsSync(file as string));
if (missing.length > 0) {
  console.log(
    `\n[latchkey] SDK packaging test SKIPPED: not found: ${missing.map(([file, what]) => `${file} (${what})`).join(", ")}. Run npm ci at the repository root.\n`,
  );
}

/** What each project prints: the outcome of one user call and one service call against the server. */
interface Outcome {
  resolved?: string;
  connections: unknown;
  error: { isLatchkeyError: boolean; is: boolean; name: string; status: number; code: string };
}

/** The calls every project makes, written once in plain JavaScript (`sdk` is the imported module). */
const calls = `
  const client = sdk.createClient({
    serverUrl: config.serverUrl,
    appId: config.appId,
    token: config.userToken,
    serviceToken: config.serviceKey,
  });
  const connections = await client.connectors.listAppUserConnections();
  const error = await client.asServiceRole.connectors.getAppUserConnection("con_x", "u1").then(
    () => { throw new Error("expected CONNECTION_NOT_FOUND"); },
    (reason) => reason,
  );
  const outcome = {
    connections,
    error: {
      isLatchkeyError: error instanceof sdk.LatchkeyError,
      is: sdk.LatchkeyError.is(error),
      name: error.name,
      status: error.status,
      code: error.code,
    },
  };`;

const nodeConfig = `const config = {
  serverUrl: process.env.LATCHKEY_URL,
  appId: process.env.LATCHKEY_APP_ID,
  userToken: process.env.USER_TOKEN,
  serviceKey: process.env.LATCHKEY_SERVICE_KEY,
};`;

const run = (command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  runCommand(command, args, { timeoutMs: 180_000, ...options });

function lastJsonLine(output: string): Outcome {
  const line = output.trim().split("\n").at(-1);
  if (!line) throw new Error("the project printed nothing");
  return JSON.parse(line) as Outcome;
}

async function api<T>(url: string, bearer: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** A workspace, an app whose users get Latchkey-minted tokens, and a token for user u1. */
async function seed(serverUrl: string) {
  const created = await api<{ workspace: { id: string }; admin_api_key: string }>(
    `${serverUrl}/api/operator/workspaces`,
    operatorKey,
    { name: "Packaging", plan: "builder", admin_email: "admin@packaging.test" },
  );
  const { app, service_key: serviceKey } = await api<{ app: { id: string }; service_key: string }>(
    `${serverUrl}/api/workspaces/${created.workspace.id}/apps`,
    created.admin_api_key,
    { name: "Packaging app", allowed_return_origins: ["https://app.packaging.test"], identity: { type: "latchkey" } },
  );
  const { token } = await api<{ token: string }>(`${serverUrl}/api/apps/${app.id}/users/u1/token`, serviceKey, {});
  return { serverUrl, appId: app.id, serviceKey, userToken: token };
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text);
}

const expectedOutcome = {
  connections: [],
  error: { isLatchkeyError: true, is: true, name: "LatchkeyError", status: 404, code: "CONNECTION_NOT_FOUND" },
};

describe.skipIf(missing.length > 0)("the packed @latchkey/sdk in fresh projects", () => {
  let work: string;
  let latchkey: LatchkeyProcess | undefined;
  let config: Awaited<ReturnType<typeof seed>>;
  let tarball: string;
  let packedFiles: string[];

  const project = (name: string) => path.join(work, name);
  const projectEnv = () =>
    cleanEnv({
      LATCHKEY_URL: config.serverUrl,
      LATCHKEY_APP_ID: config.appId,
      USER_TOKEN: config.userToken,
      LATCHKEY_SERVICE_KEY: config.serviceKey,
    });

  /** `npm install --offline` of the tarball alone, with an empty cache: no registry can be involved. */
  async function createProject(name: string, packageJson: object, files: Record<string, string>): Promise<void> {
    const dir = project(name);
    await writeFiles(dir, { "package.json": JSON.stringify({ name, private: true, ...packageJson }), ...files });
    await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--no-package-lock", tarball], {
      cwd: dir,
      env: cleanEnv({ npm_config_cache: path.join(work, "npm-cache"), npm_config_update_notifier: "false" }),
    });
  }

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-sdk-packaging-"));
    // The server starts (a few seconds on the embedded database) while the package builds.
    latchkey = startLatchkey({
      bin: serverBin,
      cwd: os.tmpdir(),
      dataDir: path.join(work, "latchkey-data"),
      operatorKey,
    });

    // The build the README documents, then the tarball `npm publish` would upload (prepack would only rebuild).
    await run("npm", ["run", "build"], { cwd: packageDir });
    const manifest = await npmPack(packageDir, work, path.join(work, "npm-cache"));
    tarball = path.join(work, manifest.filename);
    packedFiles = manifest.files.map((file) => file.path);

    await Promise.all([
      createProject(
        "esm-app",
        { type: "module" },
        {
          "main.js": `import * as sdk from "@latchkey/sdk";\n${nodeConfig}\n${calls}\nconsole.log(JSON.stringify({ ...outcome, resolved: import.meta.resolve("@latchkey/sdk") }));\n`,
        },
      ),
      createProject(
        "cjs-app",
        {},
        {
          "main.js": `const sdk = require("@latchkey/sdk");\n${nodeConfig}\n(async () => {${calls}\nconsole.log(JSON.stringify({ ...outcome, resolved: require.resolve("@latchkey/sdk") }));\n})().catch((error) => { console.error(error); process.exitCode = 1; });\n`,
        },
      ),
      createProject("ts-app", { type: "module" }, typescriptProject),
      createProject("browser-app", { type: "module" }, { "entry.js": browserEntry }),
    ]);

    config = await seed(await latchkey.ready);
  }, slow);

  afterAll(async () => {
    await latchkey?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  }, slow);

  it("packs only dist/ (both builds with their declarations), the README and package.json", () => {
    expect(packedFiles).toContain("dist/esm/index.js");
    expect(packedFiles).toContain("dist/esm/index.d.ts");
    expect(packedFiles).toContain("dist/esm/package.json");
    expect(packedFiles).toContain("dist/cjs/index.js");
    expect(packedFiles).toContain("dist/cjs/index.d.ts");
    expect(packedFiles).toContain("dist/cjs/package.json");
    expect(packedFiles.filter((file) => !file.startsWith("dist/")).sort()).toEqual(["README.md", "package.json"]);
    expect(packedFiles.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([]);
  });

  it("installs with no dependencies", async () => {
    const installed = JSON.parse(
      await fs.readFile(path.join(project("esm-app"), "node_modules", "@latchkey", "sdk", "package.json"), "utf8"),
    ) as Record<string, unknown>;

    expect(installed.dependencies).toBeUndefined();
    expect(installed.peerDependencies).toBeUndefined();
    expect(installed.sideEffects).toBe(false);
    const installedNames = await fs.readdir(path.join(project("esm-app"), "node_modules"));
    expect(installedNames.filter((name) => !name.startsWith("."))).toEqual(["@latchkey"]);
  });

  it("a plain ES module project imports it and calls the server", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ["main.js"], { cwd: project("esm-app"), env: projectEnv() });
    const outcome = lastJsonLine(stdout);

    expect(outcome).toMatchObject(expectedOutcome);
    expect(outcome.resolved).toMatch(/node_modules\/@latchkey\/sdk\/dist\/esm\/index\.js$/);
  });

  it("a CommonJS project requires it and calls the server", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ["main.js"], { cwd: project("cjs-app"), env: projectEnv() });
    const outcome = lastJsonLine(stdout);

    expect(outcome).toMatchObject(expectedOutcome);
    expect(outcome.resolved).toMatch(/node_modules\/@latchkey\/sdk\/dist\/cjs\/index\.js$/);
  });

  it("a strict TypeScript project type-checks against its declarations, then calls the server", {
    timeout: 180_000,
  }, async () => {
    const dir = project("ts-app");
    // Type errors (including an unused @ts-expect-error, which would mean a type had gone loose) fail here.
    await run(process.execPath, [tscBin, "-p", ".", "--noEmit"], { cwd: dir });
    await run(process.execPath, [tscBin, "-p", ".", "--noCheck"], { cwd: dir });

    const esm = lastJsonLine((await run(process.execPath, ["out/main.js"], { cwd: dir, env: projectEnv() })).stdout);
    const cjs = lastJsonLine(
      (await run(process.execPath, ["out/main-cjs.cjs"], { cwd: dir, env: projectEnv() })).stdout,
    );

    expect(esm).toMatchObject(expectedOutcome);
    expect(cjs).toMatchObject(expectedOutcome);
  });

  it("a browser bundle (esbuild) runs with only web globals and calls the server", { timeout: 60_000 }, async () => {
    const dir = project("browser-app");
    await run(
      esbuildBin,
      ["entry.js", "--bundle", "--platform=browser", "--format=iife", "--outfile=bundle.js", "--metafile=meta.json"],
      { cwd: dir },
    );
    const meta = JSON.parse(await fs.readFile(path.join(dir, "meta.json"), "utf8")) as { inputs: object };
    const bundle = await fs.readFile(path.join(dir, "bundle.js"), "utf8");

    // A fresh V8 context: fetch, URL, Headers, Request, Response and the test's config; no process, no require.
    const page = createContext({ fetch, URL, Headers, Request, Response, LATCHKEY_TEST: config });
    expect(runInContext("typeof process + typeof require + typeof Buffer", page)).toBe("undefinedundefinedundefined");
    runInContext(bundle, page);
    const outcome = JSON.parse(JSON.stringify(await (page.result as Promise<unknown>))) as Outcome;

    expect(outcome).toMatchObject(expectedOutcome);
    expect(Object.keys(meta.inputs).filter((input) => input.includes("@latchkey/sdk"))).toEqual(
      expect.arrayContaining([expect.stringMatching(/node_modules\/@latchkey\/sdk\/dist\/esm\/index\.js$/)]),
    );
    expect(Object.keys(meta.inputs).every((input) => !input.includes("dist/cjs"))).toBe(true);
  });
});

const browserEntry = `import * as sdk from "@latchkey/sdk";
const config = globalThis.LATCHKEY_TEST;
globalThis.result = (async () => {${calls}
  return outcome;
})();
`;

/** Strict settings a careful user would have; skipLibCheck off so the shipped .d.ts files are checked too. */
const typescriptProject: Record<string, string> = {
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      lib: ["ES2022", "DOM"],
      types: [],
      // node16, not nodenext: nodenext lets a .cts require ES module declarations, which would hide
      // a `require` condition that serves the ES module types.
      module: "Node16",
      moduleResolution: "Node16",
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      noPropertyAccessFromIndexSignature: true,
      verbatimModuleSyntax: true,
      skipLibCheck: false,
      outDir: "out",
    },
    include: ["*.ts", "*.cts"],
  }),
  // process is declared here, not taken from @types/node: the project installs nothing but the SDK.
  "env.d.ts": `declare const process: { env: Record<string, string | undefined>; exitCode?: number };\n`,
  "main.ts": `import {
  createClient,
  LatchkeyError,
  type AppUserConnection,
  type ConnectionToken,
  type ConnectorApiResponse,
  type LatchkeyErrorCode,
} from "@latchkey/sdk";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(name + " is not set");
  return value;
}

const client = createClient({
  serverUrl: required("LATCHKEY_URL"),
  appId: required("LATCHKEY_APP_ID"),
  token: async () => required("USER_TOKEN"),
  serviceToken: required("LATCHKEY_SERVICE_KEY"),
});

const connections: AppUserConnection[] = await client.connectors.listAppUserConnections();
const failure: unknown = await client.asServiceRole.connectors.getAppUserConnection("con_x", "u1").then(
  (token: ConnectionToken) => token,
  (reason: unknown) => reason,
);
if (!LatchkeyError.is(failure)) throw new Error("expected a LatchkeyError");
const code: LatchkeyErrorCode = failure.code;
const status: number = failure.status;

// The declarations are precise, not any: each call below must be a type error. Never run.
function typeErrors(): void {
  // @ts-expect-error connectorId is a string
  void client.connectors.connectAppUser(42);
  // @ts-expect-error connection values are strings
  void client.connectors.connectAppUser("con_1", { connectionValues: { shop: 1 } });
  // @ts-expect-error TRACE is not a method the proxy forwards
  void client.asServiceRole.connectors.callApi("github", { path: "/user", method: "TRACE" });
  // @ts-expect-error the status is a number
  const wrongType: string = status;
  void wrongType;
}
void typeErrors;

async function proxyTypes(): Promise<string | undefined> {
  const answer: ConnectorApiResponse<{ login: string }> = await client.asServiceRole.connectors.callApi<{
    login: string;
  }>("github", { path: "/user", query: { per_page: 5 } });
  const mine = await client.asServiceRole.connectors.callAppUserApi("con_1", { path: "/user" }, { userId: "u1" });
  void mine.dataBase64;
  return answer.data?.login;
}
void proxyTypes;

console.log(
  JSON.stringify({
    connections,
    error: {
      isLatchkeyError: failure instanceof LatchkeyError,
      is: LatchkeyError.is(failure),
      name: failure.name,
      status,
      code,
    },
  }),
);
`,
  // A .cts file compiles to require(): it must get the CommonJS declarations and build.
  "main-cjs.cts": `import sdk = require("@latchkey/sdk");

const { createClient, LatchkeyError } = sdk;

async function main(): Promise<void> {
  const client = createClient({
    serverUrl: process.env["LATCHKEY_URL"] ?? "",
    appId: process.env["LATCHKEY_APP_ID"] ?? "",
    token: process.env["USER_TOKEN"] ?? null,
    serviceToken: process.env["LATCHKEY_SERVICE_KEY"],
  });
  const connections = await client.connectors.listAppUserConnections();
  const failure = await client.asServiceRole.connectors.getAppUserConnection("con_x", "u1").catch((e: unknown) => e);
  if (!(failure instanceof LatchkeyError)) throw new Error("expected a LatchkeyError");
  console.log(
    JSON.stringify({
      connections,
      error: { isLatchkeyError: true, is: LatchkeyError.is(failure), name: failure.name, status: failure.status, code: failure.code },
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`,
};
