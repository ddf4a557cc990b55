import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createContext, runInContext } from "node:vm";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appId, serviceKey, tokenAnswer, userToken } from "./support/fixtures.ts";
import { startRecordingServer, type RecordingServer } from "./support/recording-server.ts";

const srcDir = join(dirname(fileURLToPath(import.meta.url)), "..", "src");
const sourceFiles = readdirSync(srcDir).filter((name) => name.endsWith(".ts"));
const read = (name: string) => readFileSync(join(srcDir, name), "utf8");

function moduleSpecifiers(source: string): string[] {
  const patterns = [
    /\bfrom\s+["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /^\s*import\s+["']([^"']+)["']/gm,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1] as string));
}

describe("the SDK source stays portable", () => {
  it("has source files to check", () => {
    expect(sourceFiles).toContain("index.ts");
  });

  it.each(sourceFiles)("%s imports only sibling files of the package", (name) => {
    for (const specifier of moduleSpecifiers(read(name))) {
      expect(specifier).toMatch(/^\.\/[a-z-]+\.ts$/);
      expect(sourceFiles).toContain(specifier.slice(2));
    }
  });

  it.each(sourceFiles)("%s uses no Node-only global (process., Buffer, require, __dirname)", (name) => {
    const code = read(name);
    expect(code).not.toMatch(/\bprocess\.|\bBuffer\b|\brequire\(|__dirname|__filename/);
  });
});

describe("the SDK runs with only fetch, URL and Headers (edge / browser sandbox)", () => {
  let server: RecordingServer;
  beforeAll(async () => {
    server = await startRecordingServer();
  });
  afterAll(() => server.close());

  /** Transpiles src/ to CommonJS and evaluates it in a fresh V8 context holding only web globals. */
  function loadInSandbox(): Record<string, unknown> {
    const sandbox = createContext({ fetch, URL, Headers, Request, Response });
    const cache = new Map<string, Record<string, unknown>>();
    const load = (file: string): Record<string, unknown> => {
      const cached = cache.get(file);
      if (cached) return cached;
      const exports: Record<string, unknown> = {};
      cache.set(file, exports);
      const { outputText } = ts.transpileModule(read(file), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
      });
      const factory = runInContext(`(function (exports, require) {${outputText}\n})`, sandbox) as (
        exports: Record<string, unknown>,
        require: (specifier: string) => Record<string, unknown>,
      ) => void;
      factory(exports, (specifier) => {
        if (!specifier.startsWith("./")) throw new Error(`sandbox: ${file} requires ${specifier}`);
        return load(specifier.slice(2));
      });
      return exports;
    };
    expect(runInContext("typeof process + typeof Buffer + typeof require", sandbox)).toBe(
      "undefinedundefinedundefined",
    );
    return load("index.ts");
  }

  it("fetches a token and maps an error envelope", async () => {
    const sdk = loadInSandbox() as unknown as typeof import("../src/index.ts");
    const client = sdk.createClient({ serverUrl: server.url, appId, token: userToken, serviceToken: serviceKey });

    server.respond({ status: 200, body: tokenAnswer });
    const connection = await client.asServiceRole.connectors.getCurrentAppUserConnection("con_1");
    server.respond({ status: 404, body: { error: { code: "CONNECTION_NOT_FOUND", message: "none" } } });
    const failure: unknown = await client.asServiceRole.connectors
      .getConnection("google")
      .catch((error: unknown) => error);

    expect(connection.accessToken).toBe(tokenAnswer.access_token);
    expect(connection.connectionConfig).toEqual(tokenAnswer.connection_config);
    expect(sdk.LatchkeyError.is(failure)).toBe(true);
    expect(failure).toMatchObject({ status: 404, code: "CONNECTION_NOT_FOUND" });
    expect(server.requests[0]?.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
  });

  it("createClientFromRequest reads the request and an env object without touching process", async () => {
    const sdk = loadInSandbox() as unknown as typeof import("../src/index.ts");
    server.requests.length = 0;
    server.respond({ status: 200, body: tokenAnswer });

    const request = new Request("https://edge.test/fn", { headers: { authorization: `Bearer ${userToken}` } });
    const env = { LATCHKEY_URL: server.url, LATCHKEY_APP_ID: appId, LATCHKEY_SERVICE_KEY: serviceKey };
    await sdk.createClientFromRequest(request, { env }).asServiceRole.connectors.getCurrentAppUserConnection("con_1");

    expect(server.onlyRequest().headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(() => sdk.createClientFromRequest(request)).toThrow(/LATCHKEY_URL/);
  });
});
