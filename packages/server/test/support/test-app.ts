import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { loadConfig, type Config, type EncryptionKeySpec } from "../../src/config/config.ts";
import type { OpenedDatabase } from "../../src/db/open-database.ts";
import { createLatchkeyApp, type LatchkeyApp } from "../../src/app/create-app.ts";
import type { AppDeps } from "../../src/app/deps.ts";
import type { LookupAll } from "../../src/http/outbound-fetch.ts";
import type { Clock } from "../../src/kernel/clock.ts";
import { createLogger } from "../../src/log/logger.ts";
import { Vault } from "../../src/vault/vault.ts";
import { createTestDatabase } from "./test-database.ts";

export const testOperatorKey = "op_test_0123456789abcdefghijklmnopqrstuvwxyz";

/** Captures every log line so tests can assert nothing secret was written. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join("\n");
  }
}

export class TestClock implements Clock {
  #offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }
  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}

export function testKeys(): EncryptionKeySpec[] {
  return [{ id: "t1", key: randomBytes(32) }];
}

/**
 * The app's dependencies, with a `fetch` for tests that build a feature on their own (the app
 * itself got the test's fetch only when the test passed one; else its own outbound dispatchers).
 */
export type TestDeps = AppDeps & { fetch: typeof fetch };

export interface TestApp extends LatchkeyApp {
  deps: TestDeps;
  logs: LogCapture;
  /** app.request with a JSON body and bearer token convenience. */
  call(method: string, path: string, options?: CallOptions): Promise<Response>;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TestAppOptions {
  database: OpenedDatabase;
  env?: Record<string, string>;
  keys?: EncryptionKeySpec[];
  clock?: Clock;
  fetch?: typeof fetch;
  lookup?: LookupAll;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    LATCHKEY_OPERATOR_KEY: testOperatorKey,
    LATCHKEY_PUBLIC_URL: "http://latchkey.test",
    LOG_LEVEL: "debug",
    // Tests see revocations at once; the cache itself is tested in src/http/ttl-cache.test.ts.
    LATCHKEY_SERVICE_KEY_CACHE_SECONDS: "0",
    // Every app.request() shares one client address, so suites full of bad-key cases would lock
    // themselves out. Rate limits are off here; test/rate-limits.test.ts turns them on.
    LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "0",
    LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "0",
    LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "0",
    LATCHKEY_RATE_LIMIT_SIGN_IN_PER_MINUTE: "0",
    LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: "0",
    ...env,
  });
}

/** One Latchkey app instance over the given database. Several may share one database. */
export function buildTestApp(options: TestAppOptions): TestApp {
  const logs = new LogCapture();
  const appDeps: AppDeps = {
    config: testConfig(options.env),
    db: options.database.db,
    dbKind: options.database.kind,
    changes: options.database.changes,
    vault: new Vault(options.keys ?? testKeys()),
    logger: createLogger({ level: "debug", destination: logs }),
    clock: options.clock ?? { now: () => new Date() },
    ...(options.fetch !== undefined && { fetch: options.fetch }),
    ...(options.lookup !== undefined && { lookup: options.lookup }),
  };
  const built = createLatchkeyApp(appDeps);
  const deps: TestDeps = { ...appDeps, fetch: options.fetch ?? globalThis.fetch.bind(globalThis) };
  const call = (method: string, path: string, callOptions: CallOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.token) headers.authorization = `Bearer ${callOptions.token}`;
    let body: string | undefined;
    if (callOptions.body !== undefined) {
      body = typeof callOptions.body === "string" ? callOptions.body : JSON.stringify(callOptions.body);
      headers["content-type"] ??= "application/json";
    }
    return Promise.resolve(built.app.request(path, { method, headers, ...(body !== undefined && { body }) }));
  };
  return { ...built, deps, logs, call };
}

/** What `createTestApp` gives: an app instance that owns its database. */
export type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

/** A fresh database plus one app instance; close() drops the database. */
export async function createTestApp(options: Omit<TestAppOptions, "database"> = {}) {
  const database = await createTestDatabase();
  const app = buildTestApp({ ...options, database });
  return { ...app, database, close: () => database.close() };
}
