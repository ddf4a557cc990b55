/**
 * `npm run bench -- invalidation`: how soon a change is visible on every instance (issue 12).
 *
 * Starts 3 Latchkey processes on one PostgreSQL database (BENCH_POSTGRES_URL), connects one
 * app's shared connection through a real authorization server, and warms every instance's token
 * cache. Then makes BENCH_INVALIDATION_CHANGES (200) changes, alternating two kinds:
 *
 *  - token: a new access token written straight into the database by a separate client (as a
 *    refresh by another instance, or `latchkey keys rotate`, would write it);
 *  - connector: the connector disabled or enabled again through instance 1's API.
 *
 * After each change has committed, every instance is polled over HTTP until it answers the changed
 * state; the time from the commit to that answer is one sample per instance. Prints p50/p99/max
 * per kind and overall, beside the same figures for a plain (cached) token read in the same run
 * (the floor: a change cannot be seen faster than one read), and writes
 * bench/results/<date>-invalidation.json. Target: p99 < 100 ms.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { accessTokenContext } from "../packages/server/src/connections/connection-store.ts";
import { parseEncryptionKeys } from "../packages/server/src/config/config.ts";
import { Vault } from "../packages/server/src/vault/vault.ts";
import { startAuthorizationServer } from "../packages/server/test/support/oidc-provider.ts";
import { startProcess, type RunningProcess } from "./process.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const adminUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const changes = Number(process.env.BENCH_INVALIDATION_CHANGES ?? 200);
const instanceCount = 3;
const operatorKey = `op_bench_${randomBytes(24).toString("hex")}`;
const encryptionKeys = `b1:${randomBytes(32).toString("base64")}`;
const returnOrigin = "http://127.0.0.1:9";

type Kind = "token" | "connector";

async function main(): Promise<void> {
  const databaseName = `latchkey_bench_invalidation_${Date.now()}`;
  const databaseUrl = await createDatabase(databaseName);
  const provider = await startAuthorizationServer({ accessTokenTtlSeconds: 3600 });
  const instances: RunningProcess[] = [];
  const writer = new pg.Client({ connectionString: databaseUrl });
  try {
    // One at a time: the first applies the migrations.
    for (let i = 0; i < instanceCount; i++) {
      instances.push(
        await startLatchkey({
          DATABASE_URL: databaseUrl,
          LATCHKEY_ENCRYPTION_KEYS: encryptionKeys,
          LATCHKEY_OPERATOR_KEY: operatorKey,
          LOG_LEVEL: "warn",
        }),
      );
    }
    const first = instances[0];
    if (!first) throw new Error("no instance");
    const shared = await connectShared(first.url, provider);
    await writer.connect();
    const found = await writer.query<{ id: string }>("select id from connections where app_id = $1", [shared.appId]);
    const connectionId = found.rows[0]?.id;
    if (!connectionId) throw new Error("no connection");
    const vault = new Vault(parseEncryptionKeys(encryptionKeys).keys);

    const read = async (instance: RunningProcess): Promise<string> => {
      const response = await fetch(
        `${instance.url}/api/apps/${shared.appId}/external-auth/tokens/connectors/${shared.connectorId}`,
        { headers: { authorization: `Bearer ${shared.serviceKey}` } },
      );
      const body = (await response.json()) as { access_token?: string; error?: { code?: string } };
      return `${response.status}:${body.access_token ?? body.error?.code ?? "?"}`;
    };
    // Baseline of the same run: one token read (from the cache) on each instance, nothing changing.
    const readTimes: number[] = [];
    for (let i = 0; i < changes; i++) {
      for (const instance of instances) {
        const started = performance.now();
        await read(instance);
        readTimes.push(performance.now() - started);
      }
    }
    const hitsBefore = await Promise.all(instances.map((instance) => cacheHits(instance)));
    let current = shared.accessToken;
    let enabled = true;
    const samples: Record<Kind, number[]> = { token: [], connector: [] };
    for (let change = 0; change < changes; change++) {
      // Warm: each instance answers the current state twice, the second time from its cache.
      for (const instance of instances) for (let i = 0; i < 2; i++) await read(instance);
      const kind: Kind = change % 2 === 0 ? "token" : "connector";
      let expected: string;
      if (kind === "token") {
        current = `bench-${change}-${randomBytes(12).toString("hex")}`;
        await writer.query("update connections set access_token = $1 where id = $2", [
          vault.encrypt(current, accessTokenContext(connectionId)),
          connectionId,
        ]);
        expected = enabled ? `200:${current}` : "404:CONNECTION_NOT_FOUND";
      } else {
        enabled = !enabled;
        await api(
          first.url,
          "PATCH",
          `/api/workspaces/${shared.workspaceId}/connectors/${shared.connectorId}`,
          shared.adminKey,
          {
            status: enabled ? "enabled" : "disabled",
          },
        );
        expected = enabled ? `200:${current}` : "404:CONNECTION_NOT_FOUND";
      }
      const committed = performance.now();
      const seen = await Promise.all(
        instances.map(async (instance) => {
          for (;;) {
            const got = await read(instance);
            if (got === expected) return performance.now() - committed;
            if (performance.now() - committed > 10_000) throw new Error(`${instance.name}: still ${got} after 10 s`);
          }
        }),
      );
      samples[kind].push(...seen);
    }
    const hitsAfter = await Promise.all(instances.map((instance) => cacheHits(instance)));
    const summary = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const at = (q: number) => round2(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);
      return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
    };
    const result = {
      instances: instanceCount,
      changes,
      token: summary(samples.token),
      connector: summary(samples.connector),
      all: summary([...samples.token, ...samples.connector]),
      baselineRead: summary(readTimes),
      cacheHitsPerInstance: hitsAfter.map((after, i) => after - (hitsBefore[i] ?? 0)),
      loadAverage: os.loadavg().map(round2),
    };
    for (const kind of ["baselineRead", "token", "connector", "all"] as const) {
      const s = result[kind];
      console.log(
        `[bench] invalidation (${kind}): ${s.samples} samples over ${instanceCount} instances, ` +
          `p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, max ${s.maxMs} ms`,
      );
    }
    console.log(`[bench] token cache hits per instance during the run: ${result.cacheHitsPerInstance.join(", ")}`);
    await writeResults(result);
  } finally {
    await writer.end().catch(() => {});
    await Promise.all(instances.map((instance) => instance.stop()));
    await provider.close();
    await dropDatabase(databaseName);
  }
}

async function cacheHits(instance: RunningProcess): Promise<number> {
  const text = await (await fetch(`${instance.url}/metrics`)).text();
  const match = /^latchkey_token_cache_lookups\{result="hit"\} (\S+)$/m.exec(text);
  return Number(match?.[1] ?? 0);
}

interface Shared {
  workspaceId: string;
  adminKey: string;
  appId: string;
  serviceKey: string;
  connectorId: string;
  accessToken: string;
}

/** An oidc connector on the authorization server, and the app's shared connection made by an admin. */
async function connectShared(
  publicUrl: string,
  provider: Awaited<ReturnType<typeof startAuthorizationServer>>,
): Promise<Shared> {
  const created = await api(publicUrl, "POST", "/api/operator/workspaces", operatorKey, {
    name: "bench invalidation",
    plan: "builder",
    admin_email: "bench@example.test",
  });
  const workspaceId = str(created, "workspace.id");
  const adminKey = str(created, "admin_api_key");
  const app = await api(publicUrl, "POST", `/api/workspaces/${workspaceId}/apps`, adminKey, {
    name: "bench invalidation app",
    allowed_return_origins: [returnOrigin],
    identity: { type: "latchkey" },
  });
  const appId = str(app, "app.id");
  const serviceKey = str(app, "service_key");
  const clientSecret = randomBytes(24).toString("base64url");
  provider.addClient({
    clientId: "bench-invalidation-client",
    clientSecret,
    redirectUris: [`${publicUrl}/oauth/callback`],
    tokenEndpointAuthMethod: "client_secret_basic",
  });
  const connector = await api(publicUrl, "POST", `/api/workspaces/${workspaceId}/connectors`, adminKey, {
    provider: "oidc",
    issuer: provider.issuer,
    client_id: "bench-invalidation-client",
    client_secret: clientSecret,
    scopes: ["openid", "email", "offline_access"],
  });
  const connectorId = str(connector, "connector.id");
  const initiated = await api(
    publicUrl,
    "POST",
    `/api/workspaces/${workspaceId}/apps/${appId}/connectors/${connectorId}/initiate`,
    adminKey,
    { return_to: `${returnOrigin}/done` },
  );
  const callback = await provider.authorize(str(initiated, "redirect_url"), { login: "bench-shared" });
  const finished = await fetch(callback, { redirect: "manual" });
  const location = finished.headers.get("location") ?? "";
  if (!location.includes("latchkey_status=connected")) throw new Error(`connect failed: ${location}`);
  const token = await fetch(`${publicUrl}/api/apps/${appId}/external-auth/tokens/connectors/${connectorId}`, {
    headers: { authorization: `Bearer ${serviceKey}` },
  });
  const accessToken = str(await token.json(), "access_token");
  return { workspaceId, adminKey, appId, serviceKey, connectorId, accessToken };
}

async function startLatchkey(env: Record<string, string>): Promise<RunningProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const running = await startProcess(
    `latchkey:${port}`,
    [path.join(here, "../packages/server/bin/latchkey.js"), "serve"],
    { ...env, PORT: String(port), HOST: "127.0.0.1", LATCHKEY_PUBLIC_URL: url },
    `${url}/readyz`,
  );
  return { ...running, url };
}

async function api(base: string, method: string, pathname: string, token: string, body: unknown) {
  const response = await fetch(`${base}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${pathname} → ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

function str(value: unknown, dotPath: string): string {
  let current = value;
  for (const key of dotPath.split(".")) {
    current = current !== null && typeof current === "object" ? (current as Record<string, unknown>)[key] : undefined;
  }
  if (typeof current !== "string") throw new Error(`expected a string at ${dotPath}`);
  return current;
}

async function createDatabase(name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`create database "${name}"`);
  await client.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`drop database if exists "${name}" with (force)`);
  await client.end();
}

async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

const round2 = (n: number) => Math.round(n * 100) / 100;

async function writeResults(results: Record<string, unknown>): Promise<void> {
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "?", node: process.version };
  const stamp = new Date().toISOString().slice(0, 10);
  const file = path.join(here, "results", `${stamp}-invalidation.json`);
  await fs.writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), machine, ...results }, null, 2)}\n`);
  console.log(`[bench] wrote ${path.relative(process.cwd(), file)}`);
}

await main();
