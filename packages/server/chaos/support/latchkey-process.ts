/**
 * A Latchkey instance as a real child process: `node packages/server/bin/latchkey.js serve` with
 * DATABASE_URL, keys and a free PORT. Killing it (-9) or stopping it (SIGTERM) is the point, so
 * nothing here runs in the test process but the HTTP calls to it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { testOperatorKey } from "../../test/support/test-app.ts";
import { freePort } from "./free-port.ts";

const bin = fileURLToPath(new URL("../../bin/latchkey.js", import.meta.url));
/** Connectors' callback URL is this + /oauth/callback (the connect testbed expects it). */
export const chaosPublicUrl = "http://latchkey.test";

/** One set of encryption keys for every instance of a suite (they share one database). */
export function chaosEncryptionKeys(): string {
  return `chaos1:${randomBytes(32).toString("base64")}`;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface LatchkeyProcess {
  name: string;
  baseUrl: string;
  pid: number;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** fetch against it, with a bearer token and a JSON body; the connect testbed's Caller shape. */
  call(method: string, path: string, options?: CallOptions): Promise<Response>;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  kill(signal: NodeJS.Signals): void;
  /** SIGKILL if still running, and waits for the exit. */
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  databaseUrl: string;
  encryptionKeys: string;
  env?: Record<string, string>;
}

export async function startLatchkey(options: StartOptions): Promise<LatchkeyProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, "serve"], {
    cwd: path.dirname(bin),
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      LATCHKEY_ENCRYPTION_KEYS: options.encryptionKeys,
      // The tenant fixtures (test/support/tenants.ts) call the operator API with this key.
      LATCHKEY_OPERATOR_KEY: testOperatorKey,
      LATCHKEY_PUBLIC_URL: chaosPublicUrl,
      LATCHKEY_SERVICE_KEY_CACHE_SECONDS: "0",
      LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "0",
      LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "0",
      LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "0",
      LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: "0",
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, atMs: performance.now() })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const baseUrl = `http://127.0.0.1:${port}`;
  const call = (method: string, route: string, callOptions: CallOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.token) headers.authorization = `Bearer ${callOptions.token}`;
    let body: string | undefined;
    if (callOptions.body !== undefined) {
      body = typeof callOptions.body === "string" ? callOptions.body : JSON.stringify(callOptions.body);
      headers["content-type"] ??= "application/json";
    }
    return fetch(`${baseUrl}${route}`, {
      method,
      headers,
      redirect: "manual",
      ...(body !== undefined && { body }),
      ...(callOptions.signal && { signal: callOptions.signal }),
    });
  };
  const instance: LatchkeyProcess = {
    name: options.name,
    baseUrl,
    pid: child.pid ?? -1,
    child,
    output: () => output,
    call,
    exited,
    kill: (signal) => void child.kill(signal),
    async stop() {
      if (!done) child.kill("SIGKILL");
      await exited;
    },
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (done) throw new Error(`${options.name} exited during start-up:\n${output}`);
    const ready = await fetch(`${baseUrl}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) return instance;
    if (Date.now() > deadline) {
      await instance.stop();
      throw new Error(`${options.name} did not become ready within 60 s:\n${output}`);
    }
    await sleep(100);
  }
}
