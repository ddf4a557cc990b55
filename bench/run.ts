/**
 * Latchkey benchmarks (not tests). Run with `npm run bench` on a machine with PostgreSQL at
 * BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres). It creates its own
 * database, starts a real authorization server, Latchkey instances and the baseline as separate
 * processes, and writes bench/results/<date>-token-hot-path-and-refresh-storm.json.
 *
 *  1. token hot path: autocannon against Latchkey's token routes and against a Hono route doing
 *     one primary-key select on the same database, in BENCH_ROUNDS interleaved rounds; ratio of
 *     the median rps, the per-round ratios, and each process's CPU time per request.
 *  2. refresh storm: 1,000 concurrent callers over 3 instances for one expiring token;
 *     provider refresh grants (target exactly 1) and caller latency.
 *
 * `npm run bench -- proxy` runs only the API proxy overhead instead: p50 latency of a GET through
 * `POST /api/apps/{appId}/connectors/{type}/call` against the same GET sent straight to a local API
 * emulator (bench/api-emulator.ts), BENCH_PROXY_CONNECTIONS (20) concurrent callers each, side by
 * side in BENCH_PROXY_ROUNDS (6) alternating rounds, twice: against an emulator that answers at once
 * (the proxy's own cost, as added ms) and one that answers after BENCH_PROXY_UPSTREAM_DELAY_MS (20),
 * as a real API does (the ratio SPEC.md's 1.3x target is about). Latencies are each response's own
 * (fractional ms), not autocannon's whole-ms histogram; writes bench/results/<date>-api-proxy-overhead.json.
 *
 * `npm run bench -- cold-start` runs bench/cold-start.ts instead (start-up time and memory).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import { startAuthorizationServer } from "../packages/server/test/support/oidc-provider.ts";
import { startProcess, type RunningProcess } from "./process.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const adminUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const durationSeconds = Number(process.env.BENCH_DURATION_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const stormCallers = Number(process.env.BENCH_STORM_CALLERS ?? 1000);
const proxyConnections = Number(process.env.BENCH_PROXY_CONNECTIONS ?? 20);
const proxyRounds = Number(process.env.BENCH_PROXY_ROUNDS ?? 6);
/** The second proxy run's upstream delay; the first run's is always 0. */
const upstreamDelayMs = Number(process.env.BENCH_PROXY_UPSTREAM_DELAY_MS ?? 20);
const operatorKey = `op_bench_${randomBytes(24).toString("hex")}`;
const encryptionKeys = `b1:${randomBytes(32).toString("base64")}`;
const returnOrigin = "http://127.0.0.1:9";

/** Every order of the three hot-path targets; round r runs them in roundOrders[r % 6]. */
const roundOrders = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [0, 2, 1],
  [2, 1, 0],
  [1, 0, 2],
] as const;

/** Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ) on every common platform. */
const clockTicksPerSecond = 100;

interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuMicrosPerRequest: number;
  non2xx: number;
  errors: number;
}

async function main(): Promise<void> {
  const databaseName = `latchkey_bench_${Date.now()}`;
  const databaseUrl = await createDatabase(databaseName);
  const provider = await startAuthorizationServer({ accessTokenTtlSeconds: 3600 });
  const processes: RunningProcess[] = [];
  try {
    const latchkeyEnv = {
      DATABASE_URL: databaseUrl,
      LATCHKEY_ENCRYPTION_KEYS: encryptionKeys,
      LATCHKEY_OPERATOR_KEY: operatorKey,
      LOG_LEVEL: "warn",
    };
    const first = await startLatchkey(latchkeyEnv, undefined);
    processes.push(first);
    const publicUrl = first.url;
    const others = await Promise.all([startLatchkey(latchkeyEnv, publicUrl), startLatchkey(latchkeyEnv, publicUrl)]);
    processes.push(...others);
    const instances = [first, ...others];
    const baseline = await startProcess("baseline", ["--import", "tsx", path.join(here, "baseline-server.ts")], {
      DATABASE_URL: databaseUrl,
      PORT: "0",
    });
    processes.push(baseline);

    const setup = await connectOneUser(publicUrl, provider);
    const connectionId = await connectionIdOf(databaseUrl, setup.appId);
    console.log(`[bench] connected ${setup.userId}; connection ${connectionId}`);

    if (process.env.BENCH_HOLD) {
      console.log(
        `[bench] env for more instances: DATABASE_URL=${databaseUrl} LATCHKEY_ENCRYPTION_KEYS=${encryptionKeys}`,
      );
      await holdForManualRuns(first, baseline, setup, connectionId);
      return;
    }
    const hotPath = await benchmarkHotPath(first, baseline, setup, connectionId);
    const storm = await benchmarkRefreshStorm(instances, provider, setup, databaseUrl);
    const memory = { latchkeyRssMb: await rssMb(first.pid), baselineRssMb: await rssMb(baseline.pid) };
    await writeResults({ hotPath, storm, memory });
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await provider.close();
    await dropDatabase(databaseName);
  }
}

async function startLatchkey(env: Record<string, string>, publicUrl: string | undefined): Promise<RunningProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const running = await startProcess(
    `latchkey:${port}`,
    [...profileArgs(), path.join(here, "../packages/server/bin/latchkey.js"), "serve"],
    { ...env, PORT: String(port), HOST: "127.0.0.1", LATCHKEY_PUBLIC_URL: publicUrl ?? url },
    `${url}/readyz`,
  );
  return { ...running, url };
}

/** BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each Latchkey instance there. */
function profileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(dir)}`] : [];
}

interface ConnectedUser {
  appId: string;
  connectorId: string;
  serviceKey: string;
  userId: string;
  userToken: string;
}

/** The real flow: workspace → app → connector → user token → initiate → provider login → callback. */
async function connectOneUser(
  publicUrl: string,
  provider: Awaited<ReturnType<typeof startAuthorizationServer>>,
): Promise<ConnectedUser> {
  const created = await api(publicUrl, "POST", "/api/operator/workspaces", operatorKey, {
    name: "bench",
    plan: "builder",
    admin_email: "bench@example.test",
  });
  const workspaceId = str(created, "workspace.id");
  const adminKey = str(created, "admin_api_key");
  const app = await api(publicUrl, "POST", `/api/workspaces/${workspaceId}/apps`, adminKey, {
    name: "bench app",
    allowed_return_origins: [returnOrigin],
    identity: { type: "latchkey" },
  });
  const appId = str(app, "app.id");
  const serviceKey = str(app, "service_key");
  const clientSecret = randomBytes(24).toString("base64url");
  provider.addClient({
    clientId: "bench-client",
    clientSecret,
    redirectUris: [`${publicUrl}/oauth/callback`],
    tokenEndpointAuthMethod: "client_secret_basic",
  });
  const connector = await api(publicUrl, "POST", `/api/workspaces/${workspaceId}/connectors`, adminKey, {
    provider: "oidc",
    issuer: provider.issuer,
    client_id: "bench-client",
    client_secret: clientSecret,
    scopes: ["openid", "email", "offline_access"],
  });
  const connectorId = str(connector, "connector.id");
  const userId = "bench-user";
  const minted = await api(publicUrl, "POST", `/api/apps/${appId}/users/${userId}/token`, serviceKey, {});
  const userToken = str(minted, "token");
  const initiated = await api(
    publicUrl,
    "POST",
    `/api/apps/${appId}/app-user-auth/connectors/${connectorId}/initiate`,
    userToken,
    { return_to: `${returnOrigin}/done` },
  );
  const callback = await provider.authorize(str(initiated, "redirect_url"), { login: userId });
  const finished = await fetch(callback, { redirect: "manual" });
  const location = finished.headers.get("location") ?? "";
  if (!location.includes("latchkey_status=connected")) throw new Error(`connect failed: ${location}`);
  return { appId, connectorId, serviceKey, userId, userToken };
}

/** BENCH_HOLD=1: set everything up, print the targets, and wait for Ctrl-C (for profiling by hand). */
async function holdForManualRuns(
  latchkey: RunningProcess,
  baseline: RunningProcess,
  user: ConnectedUser,
  connectionId: string,
) {
  console.log(`[bench] baseline:   ${baseline.url}/connections/${connectionId}  (pid ${baseline.pid})`);
  console.log(
    `[bench] latchkey:   ${latchkey.url}/api/apps/${user.appId}/app-user-auth/connectors/${user.connectorId}/users/${user.userId}/token  (pid ${latchkey.pid})`,
  );
  console.log(`[bench] service key: ${user.serviceKey}`);
  console.log(`[bench] user token: ${user.userToken}`);
  await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
}

interface Target {
  name: "baseline" | "namedUser" | "currentUser";
  title: string;
  process: RunningProcess;
  url: string;
  headers: Record<string, string>;
}

/**
 * Each round measures the three targets back to back. Round orders go through all six
 * permutations, so each target runs first, second and third equally often and follows each other
 * target equally often (a Latchkey run right after another Latchkey run meets a heap the first one
 * left; a rotation alone would always put the same target there); the machine's load drifts over minutes, so figures are medians over rounds and the
 * ratios are also given per round (each Latchkey run against the baseline run of its round).
 */
async function benchmarkHotPath(
  latchkey: RunningProcess,
  baseline: RunningProcess,
  user: ConnectedUser,
  connectionId: string,
) {
  const serviceHeaders = { authorization: `Bearer ${user.serviceKey}` };
  const userPath = `/api/apps/${user.appId}/app-user-auth/connectors/${user.connectorId}`;
  const targets: Target[] = [
    {
      name: "baseline",
      title: "baseline",
      process: baseline,
      url: `${baseline.url}/connections/${connectionId}`,
      headers: {},
    },
    {
      name: "namedUser",
      title: "latchkey named-user token",
      process: latchkey,
      url: `${latchkey.url}${userPath}/users/${user.userId}/token`,
      headers: serviceHeaders,
    },
    {
      name: "currentUser",
      title: "latchkey on-behalf-of token",
      process: latchkey,
      url: `${latchkey.url}${userPath}/token`,
      headers: { ...serviceHeaders, "on-behalf-of": `Bearer ${user.userToken}` },
    },
  ];
  for (const target of targets) await expectOk(target.url, target.headers);

  const runs: Record<Target["name"], LoadResult[]> = { baseline: [], namedUser: [], currentUser: [] };
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < targets.length; index++) {
      const order = roundOrders[round % roundOrders.length] ?? [];
      const target = targets[order[index] ?? index];
      if (!target) throw new Error(`no target ${index} in round ${round}`);
      runs[target.name].push(await load(`round ${round + 1} ${target.title}`, target));
    }
  }
  const summary = (results: LoadResult[]) => ({
    rps: median(results.map((r) => r.rps)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    cpuMicrosPerRequest: median(results.map((r) => r.cpuMicrosPerRequest)),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  });
  const pairedRatios = (results: LoadResult[]) => {
    const ratios = results
      .map((r, round) => round2(r.rps / (runs.baseline[round]?.rps ?? Number.NaN)))
      .sort((a, b) => a - b);
    return { min: ratios[0] ?? 0, median: median(ratios), max: ratios.at(-1) ?? 0 };
  };
  const baselineSummary = summary(runs.baseline);
  const namedSummary = summary(runs.namedUser);
  const currentSummary = summary(runs.currentUser);
  return {
    connections,
    durationSeconds,
    rounds,
    baseline: baselineSummary,
    namedUser: namedSummary,
    currentUser: currentSummary,
    ratioNamedUser: round2(namedSummary.rps / baselineSummary.rps),
    ratioCurrentUser: round2(currentSummary.rps / baselineSummary.rps),
    pairedRatiosNamedUser: pairedRatios(runs.namedUser),
    pairedRatiosCurrentUser: pairedRatios(runs.currentUser),
    allRuns: runs,
  };
}

async function load(title: string, target: Target): Promise<LoadResult> {
  await autocannon({ url: target.url, headers: target.headers, connections, duration: 2 });
  const cpuBefore = await cpuMicros(target.process.pid);
  const result = await autocannon({ url: target.url, headers: target.headers, connections, duration: durationSeconds });
  const cpuUsed = (await cpuMicros(target.process.pid)) - cpuBefore;
  const summary: LoadResult = {
    rps: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuMicrosPerRequest: Math.round(cpuUsed / Math.max(1, result.requests.total)),
    non2xx: result.non2xx,
    errors: result.errors,
  };
  console.log(
    `[bench] ${title}: ${summary.rps} rps, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, ` +
      `${summary.cpuMicrosPerRequest} µs CPU/request, non-2xx ${summary.non2xx}`,
  );
  return summary;
}

/** User + system CPU time a process has used so far, from /proc (Linux). */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return (ticks * 1_000_000) / clockTicksPerSecond;
}

async function benchmarkRefreshStorm(
  instances: RunningProcess[],
  provider: Awaited<ReturnType<typeof startAuthorizationServer>>,
  user: ConnectedUser,
  databaseUrl: string,
) {
  await expireSoon(databaseUrl, user.appId);
  provider.resetCounters();
  provider.setTokenDelay(100);
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: stormCallers }, async (_, index) => {
      const instance = instances[index % instances.length];
      if (!instance) throw new Error("no instance");
      const begin = performance.now();
      const response = await fetch(
        `${instance.url}/api/apps/${user.appId}/app-user-auth/connectors/${user.connectorId}/users/${user.userId}/token`,
        { headers: { authorization: `Bearer ${user.serviceKey}` } },
      );
      const body = (await response.json()) as { access_token?: string };
      return { status: response.status, token: body.access_token ?? null, ms: performance.now() - begin };
    }),
  );
  const wallMs = performance.now() - started;
  provider.setTokenDelay(0);
  const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
  const storm = {
    callers: stormCallers,
    instances: instances.length,
    providerTokenDelayMs: 100,
    providerRefreshGrants: provider.counters.refreshGrants,
    failedRefreshGrants: provider.counters.failedRefreshGrants,
    statusCounts: countBy(results.map((r) => String(r.status))),
    distinctTokens: new Set(results.map((r) => r.token)).size,
    p50Ms: round2(percentile(latencies, 0.5)),
    p99Ms: round2(percentile(latencies, 0.99)),
    maxMs: round2(latencies.at(-1) ?? 0),
    wallMs: Math.round(wallMs),
  };
  console.log(
    `[bench] refresh storm: ${storm.callers} callers / ${storm.instances} instances → ${storm.providerRefreshGrants} refresh grant(s), ${storm.distinctTokens} distinct token(s), p99 ${storm.p99Ms} ms`,
  );
  return storm;
}

/** Moves the stored expiry inside the refresh window so the next token request refreshes. */
async function expireSoon(databaseUrl: string, appId: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("update connections set expires_at = now() + interval '30 seconds' where app_id = $1", [appId]);
  } finally {
    await client.end();
  }
}

async function connectionIdOf(databaseUrl: string, appId: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ id: string }>("select id from connections where app_id = $1", [appId]);
    const id = result.rows[0]?.id;
    if (!id) throw new Error("no connection row");
    return id;
  } finally {
    await client.end();
  }
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

/** A string at a dot path of a JSON value, or an error naming the path. */
function str(value: unknown, dotPath: string): string {
  let current = value;
  for (const key of dotPath.split(".")) {
    current = current !== null && typeof current === "object" ? (current as Record<string, unknown>)[key] : undefined;
  }
  if (typeof current !== "string") throw new Error(`expected a string at ${dotPath}`);
  return current;
}

async function expectOk(url: string, headers: Record<string, string>): Promise<void> {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${url} → ${response.status} ${await response.text()}`);
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

async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : Math.round((((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2) * 100) / 100;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

async function writeResults(
  results: Record<string, unknown>,
  name = "token-hot-path-and-refresh-storm",
): Promise<void> {
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "?", node: process.version };
  const stamp = new Date().toISOString().slice(0, 10);
  const file = path.join(here, "results", `${stamp}-${name}.json`);
  await fs.writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), machine, ...results }, null, 2)}\n`);
  console.log(`[bench] wrote ${path.relative(process.cwd(), file)}`);
}

interface SharedConnection {
  appId: string;
  serviceKey: string;
  accessToken: string;
}

/**
 * The proxy benchmark on its own: one Latchkey instance; per upstream delay (0, then
 * BENCH_PROXY_UPSTREAM_DELAY_MS) an emulator answering after it and a shared connection whose API it is.
 */
async function mainProxy(): Promise<void> {
  const databaseName = `latchkey_bench_proxy_${Date.now()}`;
  const databaseUrl = await createDatabase(databaseName);
  const provider = await startAuthorizationServer({ accessTokenTtlSeconds: 3600 });
  const processes: RunningProcess[] = [];
  try {
    const latchkey = await startLatchkey(
      {
        DATABASE_URL: databaseUrl,
        LATCHKEY_ENCRYPTION_KEYS: encryptionKeys,
        LATCHKEY_OPERATOR_KEY: operatorKey,
        LOG_LEVEL: "warn",
      },
      undefined,
    );
    processes.push(latchkey);
    const delays = [...new Set([0, upstreamDelayMs])];
    const runs: Record<string, Awaited<ReturnType<typeof benchmarkProxy>>> = {};
    for (const delayMs of delays) {
      const emulator = await startProcess(
        `api-emulator (${delayMs} ms)`,
        ["--import", "tsx", path.join(here, "api-emulator.ts")],
        { PORT: "0", BENCH_PROXY_UPSTREAM_DELAY_MS: String(delayMs) },
      );
      processes.push(emulator);
      const shared = await connectShared(latchkey.url, provider, emulator.url, `${delayMs}ms`);
      runs[`upstream${delayMs}ms`] = await benchmarkProxy(latchkey, emulator, shared, delayMs);
      await emulator.stop();
    }
    for (const run of Object.values(runs)) console.log(`[bench] ${proxySummaryLine(run)}`);
    await writeResults({ proxy: runs }, "api-proxy-overhead");
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await provider.close();
    await dropDatabase(databaseName);
  }
}

/** An oidc connector whose API is the emulator, and the app's shared connection made by an admin. */
async function connectShared(
  publicUrl: string,
  provider: Awaited<ReturnType<typeof startAuthorizationServer>>,
  apiBaseUrl: string,
  label: string,
): Promise<SharedConnection> {
  const clientId = `bench-proxy-client-${label}`;
  const created = await api(publicUrl, "POST", "/api/operator/workspaces", operatorKey, {
    name: `bench proxy ${label}`,
    plan: "builder",
    admin_email: "bench@example.test",
  });
  const workspaceId = str(created, "workspace.id");
  const adminKey = str(created, "admin_api_key");
  const app = await api(publicUrl, "POST", `/api/workspaces/${workspaceId}/apps`, adminKey, {
    name: "bench proxy app",
    allowed_return_origins: [returnOrigin],
    identity: { type: "latchkey" },
  });
  const appId = str(app, "app.id");
  const serviceKey = str(app, "service_key");
  const clientSecret = randomBytes(24).toString("base64url");
  provider.addClient({
    clientId,
    clientSecret,
    redirectUris: [`${publicUrl}/oauth/callback`],
    tokenEndpointAuthMethod: "client_secret_basic",
  });
  const connector = await api(publicUrl, "POST", `/api/workspaces/${workspaceId}/connectors`, adminKey, {
    provider: "oidc",
    issuer: provider.issuer,
    client_id: clientId,
    client_secret: clientSecret,
    scopes: ["openid", "email", "offline_access"],
    endpoints: { api_base_url: apiBaseUrl },
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
  return { appId, serviceKey, accessToken };
}

interface ProxyTarget {
  name: "direct" | "proxied";
  process: RunningProcess;
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
}

/** Direct and proxied GETs, side by side: rounds alternate which goes first; medians over rounds. */
async function benchmarkProxy(
  latchkey: RunningProcess,
  emulator: RunningProcess,
  shared: SharedConnection,
  delayMs: number,
) {
  const targets: ProxyTarget[] = [
    {
      name: "direct",
      process: emulator,
      url: `${emulator.url}/v1/items?limit=10`,
      method: "GET",
      headers: { authorization: `Bearer ${shared.accessToken}` },
    },
    {
      name: "proxied",
      process: latchkey,
      url: `${latchkey.url}/api/apps/${shared.appId}/connectors/oidc/call`,
      method: "POST",
      headers: { authorization: `Bearer ${shared.serviceKey}`, "content-type": "application/json" },
      body: JSON.stringify({ method: "GET", path: "/v1/items", query: { limit: 10 }, headers: {}, body: null }),
    },
  ];
  const [direct, proxied] = targets;
  if (!direct || !proxied) throw new Error("no targets");
  const check = await fetch(proxied.url, { method: "POST", headers: proxied.headers, body: proxied.body ?? null });
  const answer = (await check.json()) as { success?: boolean; status_code?: number };
  if (!check.ok || answer.success !== true) throw new Error(`proxied call failed: ${JSON.stringify(answer)}`);
  await expectOk(direct.url, direct.headers);

  const runs: Record<ProxyTarget["name"], LoadResult[]> = { direct: [], proxied: [] };
  for (let round = 0; round < proxyRounds; round++) {
    const order = round % 2 === 0 ? [direct, proxied] : [proxied, direct];
    for (const target of order)
      runs[target.name].push(
        await loadProxyTarget(`upstream ${delayMs} ms, round ${round + 1} ${target.name}`, target),
      );
  }
  const summary = (results: LoadResult[]) => ({
    rps: median(results.map((r) => r.rps)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    cpuMicrosPerRequest: median(results.map((r) => r.cpuMicrosPerRequest)),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  });
  const directSummary = summary(runs.direct);
  const proxiedSummary = summary(runs.proxied);
  const ratios = runs.proxied
    .map((r, round) => round2(r.p50Ms / (runs.direct[round]?.p50Ms ?? Number.NaN)))
    .sort((a, b) => a - b);
  const overheads = runs.proxied
    .map((r, round) => round3(r.p50Ms - (runs.direct[round]?.p50Ms ?? Number.NaN)))
    .sort((a, b) => a - b);
  const result = {
    connections: proxyConnections,
    durationSeconds,
    rounds: proxyRounds,
    upstreamDelayMs: delayMs,
    direct: directSummary,
    proxied: proxiedSummary,
    p50Ratio: round2(proxiedSummary.p50Ms / directSummary.p50Ms),
    p50OverheadMs: round3(proxiedSummary.p50Ms - directSummary.p50Ms),
    pairedP50Ratios: { min: ratios[0] ?? 0, median: median(ratios), max: ratios.at(-1) ?? 0 },
    pairedP50OverheadMs: { min: overheads[0] ?? 0, median: median(overheads), max: overheads.at(-1) ?? 0 },
    target: "p50Ratio <= 1.3",
    allRuns: runs,
  };
  console.log(`[bench] ${proxySummaryLine(result)}; per round ratios ${ratios.join(", ")}`);
  return result;
}

function proxySummaryLine(run: {
  upstreamDelayMs: number;
  direct: { p50Ms: number; cpuMicrosPerRequest: number };
  proxied: { p50Ms: number; cpuMicrosPerRequest: number };
  p50Ratio: number;
  p50OverheadMs: number;
}): string {
  return (
    `proxy, upstream delay ${run.upstreamDelayMs} ms, ${proxyConnections} callers: direct p50 ${run.direct.p50Ms} ms, ` +
    `proxied p50 ${run.proxied.p50Ms} ms → ratio ${run.p50Ratio} (+${run.p50OverheadMs} ms); ` +
    `CPU/request direct ${run.direct.cpuMicrosPerRequest} µs, proxied ${run.proxied.cpuMicrosPerRequest} µs (Latchkey process)`
  );
}

async function loadProxyTarget(title: string, target: ProxyTarget): Promise<LoadResult> {
  const options = {
    url: target.url,
    method: target.method,
    headers: target.headers,
    ...(target.body !== undefined && { body: target.body }),
    connections: proxyConnections,
  };
  await autocannon({ ...options, duration: 2 });
  const cpuBefore = await cpuMicros(target.process.pid);
  // autocannon's histogram keeps whole milliseconds: a sub-millisecond p50 reads as 0 (a ratio
  // of Infinity). Each response's own time is fractional.
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...options, duration: durationSeconds }, (error, done) =>
      error ? reject(error) : resolve(done),
    );
    instance.on("response", (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
  });
  const cpuUsed = (await cpuMicros(target.process.pid)) - cpuBefore;
  latencies.sort((a, b) => a - b);
  const summary: LoadResult = {
    rps: Math.round(result.requests.average),
    p50Ms: round3(percentile(latencies, 0.5)),
    p99Ms: round3(percentile(latencies, 0.99)),
    cpuMicrosPerRequest: Math.round(cpuUsed / Math.max(1, result.requests.total)),
    non2xx: result.non2xx,
    errors: result.errors,
  };
  console.log(
    `[bench] ${title}: ${summary.rps} rps, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, ` +
      `${summary.cpuMicrosPerRequest} µs CPU/request, non-2xx ${summary.non2xx}`,
  );
  return summary;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

if (process.argv.slice(2).includes("cold-start")) await import("./cold-start.ts");
else if (process.argv.slice(2).includes("proxy")) await mainProxy();
else await main();
