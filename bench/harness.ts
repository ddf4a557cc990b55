/**
 * What the benchmark modes share: databases, processes, the real connect flow, one load round
 * (autocannon plus the target process's CPU time), round orders, summaries and the results file.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import { startAuthorizationServer } from "../packages/server/test/support/oidc-provider.ts";
import { startProcess, type RunningProcess } from "./process.ts";
import { balancedOrders } from "./round-orders.ts";

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const adminUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const durationSeconds = Number(process.env.BENCH_DURATION_SECONDS ?? 8);
export const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const operatorKey = `op_bench_${randomBytes(24).toString("hex")}`;
export const encryptionKeys = `b1:${randomBytes(32).toString("base64")}`;
export const returnOrigin = "http://127.0.0.1:9";

export type AuthorizationServer = Awaited<ReturnType<typeof startAuthorizationServer>>;

/** Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ) on every common platform. */
const clockTicksPerSecond = 100;

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuMicrosPerRequest: number;
  /** CPU time the database server used per request, when the target says how to read it. */
  databaseCpuMicrosPerRequest?: number;
  non2xx: number;
  errors: number;
}

/** One load target: a URL on a process, with what each request carries. */
export interface LoadTarget {
  process: RunningProcess;
  url: string;
  method?: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  /** Rewrites each request before it is sent (random keys over a large set). */
  setupRequest?: (request: autocannon.Request) => autocannon.Request;
  connections?: number;
  /**
   * Record each response's own latency (fractional ms) instead of autocannon's histogram, which
   * keeps whole milliseconds: a sub-millisecond p50 would read as 0. Off by default: a listener per
   * response costs the load generator CPU on a machine it shares with the servers.
   */
  fractionalLatencies?: boolean;
  /** The database server's CPU time so far (µs), when the bench runs its own (bench/pg-cluster.ts). */
  databaseCpuMicros?: () => Promise<number>;
}

/**
 * One round against one target: 2 s of warm-up, then `durationSeconds` measured, with the CPU time
 * the target's process used in between divided by the requests it answered.
 */
export async function measureLoad(title: string, target: LoadTarget): Promise<LoadResult> {
  const options: autocannon.Options = {
    url: target.url,
    method: target.method ?? "GET",
    headers: target.headers,
    connections: target.connections ?? connections,
    ...(target.body !== undefined && { body: target.body }),
    ...(target.setupRequest && { requests: [{ setupRequest: target.setupRequest }] }),
  };
  await autocannon({ ...options, duration: 2 });
  const latencies: number[] = [];
  const cpuBefore = await cpuMicros(target.process.pid);
  const databaseCpuBefore = await target.databaseCpuMicros?.();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...options, duration: durationSeconds }, (error, done) =>
      error ? reject(error) : resolve(done),
    );
    if (target.fractionalLatencies) {
      instance.on("response", (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
    }
  });
  const cpuUsed = (await cpuMicros(target.process.pid)) - cpuBefore;
  const databaseCpuUsed =
    databaseCpuBefore === undefined ? undefined : ((await target.databaseCpuMicros?.()) ?? 0) - databaseCpuBefore;
  latencies.sort((a, b) => a - b);
  const fractional = target.fractionalLatencies === true && latencies.length > 0;
  const summary: LoadResult = {
    rps: Math.round(result.requests.average),
    p50Ms: fractional ? round3(percentile(latencies, 0.5)) : result.latency.p50,
    p99Ms: fractional ? round3(percentile(latencies, 0.99)) : result.latency.p99,
    cpuMicrosPerRequest: Math.round(cpuUsed / Math.max(1, result.requests.total)),
    ...(databaseCpuUsed !== undefined && {
      databaseCpuMicrosPerRequest: Math.round(databaseCpuUsed / Math.max(1, result.requests.total)),
    }),
    non2xx: result.non2xx,
    errors: result.errors,
  };
  console.log(
    `[bench] ${title}: ${summary.rps} rps, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, ` +
      `${summary.cpuMicrosPerRequest} µs CPU/request, ` +
      (summary.databaseCpuMicrosPerRequest === undefined
        ? ""
        : `database ${summary.databaseCpuMicrosPerRequest} µs CPU/request, `) +
      `non-2xx ${summary.non2xx}, errors ${summary.errors}`,
  );
  return summary;
}

/**
 * Runs `rounds` rounds; each measures every target once, back to back, in the order
 * balancedOrders gives for that round. Returns each target's results in round order.
 */
export async function runRounds<Name extends string>(
  targets: readonly (LoadTarget & { name: Name; title: string })[],
  rounds: number,
): Promise<Record<Name, LoadResult[]>> {
  const orders = balancedOrders(targets.length);
  const runs = Object.fromEntries(targets.map((t) => [t.name, [] as LoadResult[]])) as Record<Name, LoadResult[]>;
  for (let round = 0; round < rounds; round++) {
    for (const index of orders[round % orders.length] ?? []) {
      const target = targets[index];
      if (!target) throw new Error(`no target ${index}`);
      runs[target.name].push(await measureLoad(`round ${round + 1} ${target.title}`, target));
    }
  }
  return runs;
}

/** Medians over rounds, and the sums of failures. */
export function summarize(results: LoadResult[]) {
  return {
    rps: median(results.map((r) => r.rps)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    cpuMicrosPerRequest: median(results.map((r) => r.cpuMicrosPerRequest)),
    ...(results.length > 0 &&
      results.every((r) => r.databaseCpuMicrosPerRequest !== undefined) && {
        databaseCpuMicrosPerRequest: median(results.map((r) => r.databaseCpuMicrosPerRequest ?? 0)),
      }),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

/** rps of each round's run ÷ rps of the reference's run in the same round: min, median, max. */
export function pairedRatios(results: LoadResult[], reference: LoadResult[]) {
  const ratios = results.map((r, round) => round2(r.rps / (reference[round]?.rps ?? Number.NaN))).sort((a, b) => a - b);
  return { min: ratios[0] ?? 0, median: median(ratios), max: ratios.at(-1) ?? 0 };
}

/** User + system CPU time a process has used so far, from /proc (Linux). */
export async function cpuMicros(pid: number): Promise<number> {
  const ticks = await processTicks(pid);
  return ticksToMicros(ticks ? ticks.user + ticks.system : 0);
}

/** utime, stime, cutime and cstime of a process from /proc/<pid>/stat, in clock ticks (undefined once it has exited). */
export async function processTicks(pid: number) {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) return undefined;
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  return {
    user: fields[11] ?? 0,
    system: fields[12] ?? 0,
    childrenUser: fields[13] ?? 0,
    childrenSystem: fields[14] ?? 0,
  };
}

export function ticksToMicros(ticks: number): number {
  return (ticks * 1_000_000) / clockTicksPerSecond;
}

export async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

/** The environment of a Latchkey instance on `databaseUrl`, with the bench's keys. */
export function latchkeyEnv(
  database: { DATABASE_URL: string } | { LATCHKEY_DATA_DIR: string },
): Record<string, string> {
  return {
    ...database,
    LATCHKEY_ENCRYPTION_KEYS: encryptionKeys,
    LATCHKEY_OPERATOR_KEY: operatorKey,
    LOG_LEVEL: "warn",
  };
}

export interface BenchSession {
  databaseUrl: string;
  provider: AuthorizationServer;
  /** Started processes to stop at the end. */
  processes: RunningProcess[];
  /** Another database on the same server, `<session database>_<suffix>`, dropped at the end too. */
  newDatabase(suffix: string): Promise<string>;
}

/** A PostgreSQL server other than the shared one (bench/pg-cluster.ts), stopped when the session ends. */
export interface BenchDatabaseServer {
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * Runs `work` with a new database named `<prefix>_<time>` (on `server`, or the shared one at
 * BENCH_POSTGRES_URL) and a real authorization server; then stops every process put in `processes`,
 * the authorization server, drops the database and stops `server`, whatever happened, Ctrl-C included.
 */
export async function withBenchSession(
  prefix: string,
  work: (session: BenchSession) => Promise<void>,
  server?: BenchDatabaseServer,
): Promise<void> {
  const admin = server?.adminUrl ?? adminUrl;
  const databaseName = `${prefix}_${Date.now()}`;
  const databaseUrl = await createDatabase(databaseName, admin).catch(async (error: unknown) => {
    await server?.stop();
    throw error;
  });
  const provider = await startAuthorizationServer({ accessTokenTtlSeconds: 3600 });
  const processes: RunningProcess[] = [];
  const databaseNames = [databaseName];
  const newDatabase = (suffix: string) => {
    const name = `${databaseName}_${suffix}`;
    databaseNames.push(name);
    return createDatabase(name, admin);
  };
  await withCleanUp(
    () => work({ databaseUrl, provider, processes, newDatabase }),
    async () => {
      await Promise.all(processes.map((p) => p.stop()));
      await provider.close();
      for (const name of databaseNames) await dropDatabase(name, admin);
      await server?.stop();
    },
  );
}

/**
 * Runs `work`, then `cleanUp` once: when `work` ends either way, or on SIGINT / SIGTERM (then the
 * process exits with 130), so an interrupted run leaves no database or data dir behind.
 */
export async function withCleanUp(work: () => Promise<void>, cleanUp: () => Promise<void>): Promise<void> {
  let done: Promise<void> | undefined;
  const cleanUpOnce = () => {
    done ??= cleanUp();
    return done;
  };
  const interrupted = () => {
    void cleanUpOnce().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    await work();
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await cleanUpOnce();
  }
}

/** A Latchkey instance on `port` or a free one; LATCHKEY_PUBLIC_URL is its own URL unless one is given. */
export async function startLatchkey(
  env: Record<string, string>,
  publicUrl?: string,
  port?: number,
): Promise<RunningProcess> {
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const running = await startProcess(
    `latchkey:${port}`,
    [...profileArgs(), path.join(benchDir, "../packages/server/bin/latchkey.js"), "serve"],
    { ...env, PORT: String(port), HOST: "127.0.0.1", LATCHKEY_PUBLIC_URL: publicUrl ?? url },
    `${url}/readyz`,
  );
  return { ...running, url };
}

/** A bench server script of this folder (baseline-server.ts, hello-server.ts, …) as its own process. */
export function startBenchServer(name: string, script: string, env: Record<string, string>): Promise<RunningProcess> {
  return startProcess(name, ["--import", "tsx", path.join(benchDir, script)], { PORT: "0", ...env });
}

/** BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each Latchkey instance there. */
function profileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(dir)}`] : [];
}

export interface BenchWorkspace {
  workspaceId: string;
  adminKey: string;
}

export interface BenchApp {
  appId: string;
  serviceKey: string;
}

export async function createWorkspace(publicUrl: string, name: string): Promise<BenchWorkspace> {
  const created = await api(publicUrl, "POST", "/api/operator/workspaces", operatorKey, {
    name,
    plan: "builder",
    admin_email: "bench@example.test",
  });
  return { workspaceId: str(created, "workspace.id"), adminKey: str(created, "admin_api_key") };
}

export async function createApp(publicUrl: string, workspace: BenchWorkspace, name: string): Promise<BenchApp> {
  const app = await api(publicUrl, "POST", `/api/workspaces/${workspace.workspaceId}/apps`, workspace.adminKey, {
    name,
    allowed_return_origins: [returnOrigin],
    identity: { type: "latchkey" },
  });
  return { appId: str(app, "app.id"), serviceKey: str(app, "service_key") };
}

/** An oidc connector on the test authorization server, registered there as a client of Latchkey. */
export async function createOidcConnector(
  publicUrl: string,
  workspace: BenchWorkspace,
  provider: AuthorizationServer,
  clientId: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const clientSecret = randomBytes(24).toString("base64url");
  provider.addClient({
    clientId,
    clientSecret,
    redirectUris: [`${publicUrl}/oauth/callback`],
    tokenEndpointAuthMethod: "client_secret_basic",
  });
  const connector = await api(
    publicUrl,
    "POST",
    `/api/workspaces/${workspace.workspaceId}/connectors`,
    workspace.adminKey,
    {
      provider: "oidc",
      issuer: provider.issuer,
      client_id: clientId,
      client_secret: clientSecret,
      scopes: ["openid", "email", "offline_access"],
      ...extra,
    },
  );
  return str(connector, "connector.id");
}

export interface ConnectedUser {
  appId: string;
  connectorId: string;
  serviceKey: string;
  userId: string;
  userToken: string;
}

/** The two token routes of one connected user, as load targets on `latchkey`. */
export function tokenRouteTargets(latchkey: RunningProcess, user: ConnectedUser) {
  const serviceHeaders = { authorization: `Bearer ${user.serviceKey}` };
  const userPath = `/api/apps/${user.appId}/app-user-auth/connectors/${user.connectorId}`;
  return [
    {
      name: "namedUser" as const,
      title: "latchkey named-user token",
      process: latchkey,
      url: `${latchkey.url}${userPath}/users/${user.userId}/token`,
      headers: serviceHeaders,
    },
    {
      name: "currentUser" as const,
      title: "latchkey on-behalf-of token",
      process: latchkey,
      url: `${latchkey.url}${userPath}/token`,
      headers: { ...serviceHeaders, "on-behalf-of": `Bearer ${user.userToken}` },
    },
  ];
}

/** The real flow: workspace → app → connector → user token → initiate → provider login → callback. */
export async function connectOneUser(publicUrl: string, provider: AuthorizationServer): Promise<ConnectedUser> {
  const workspace = await createWorkspace(publicUrl, "bench");
  const { appId, serviceKey } = await createApp(publicUrl, workspace, "bench app");
  const connectorId = await createOidcConnector(publicUrl, workspace, provider, "bench-client");
  const userId = "bench-user";
  const flow = await connectUser(publicUrl, provider, { appId, serviceKey }, connectorId, userId);
  return { appId, connectorId, serviceKey, userId, userToken: flow.userToken };
}

/**
 * One app user's connect flow, timed: the user token is minted first (not timed), then initiate,
 * the provider's login (not timed: the authorization server's work) and Latchkey's callback, which
 * exchanges the code with the provider and stores the connection.
 */
export async function connectUser(
  publicUrl: string,
  provider: AuthorizationServer,
  app: BenchApp,
  connectorId: string,
  userId: string,
): Promise<{ userToken: string; initiateMs: number; callbackMs: number }> {
  const minted = await api(publicUrl, "POST", `/api/apps/${app.appId}/users/${userId}/token`, app.serviceKey, {});
  const userToken = str(minted, "token");
  const initiateStart = performance.now();
  const initiated = await api(
    publicUrl,
    "POST",
    `/api/apps/${app.appId}/app-user-auth/connectors/${connectorId}/initiate`,
    userToken,
    { return_to: `${returnOrigin}/done` },
  );
  const initiateMs = performance.now() - initiateStart;
  const callback = await provider.authorize(str(initiated, "redirect_url"), { login: userId });
  const callbackStart = performance.now();
  const finished = await fetch(callback, { redirect: "manual" });
  await finished.arrayBuffer();
  const callbackMs = performance.now() - callbackStart;
  const location = finished.headers.get("location") ?? "";
  if (!location.includes("latchkey_status=connected")) throw new Error(`connect failed: ${location}`);
  return { userToken, initiateMs, callbackMs };
}

export async function api(base: string, method: string, pathname: string, token: string, body: unknown) {
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
export function str(value: unknown, dotPath: string): string {
  let current = value;
  for (const key of dotPath.split(".")) {
    current = current !== null && typeof current === "object" ? (current as Record<string, unknown>)[key] : undefined;
  }
  if (typeof current !== "string") throw new Error(`expected a string at ${dotPath}`);
  return current;
}

export async function expectOk(url: string, headers: Record<string, string>): Promise<void> {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${url} → ${response.status} ${await response.text()}`);
}

/** Creates database `name` on the server at `admin` (BENCH_POSTGRES_URL by default); returns its URL. */
export async function createDatabase(name: string, admin: string = adminUrl): Promise<string> {
  await withClient(admin, (client) => client.query(`create database "${name}"`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(name: string, admin: string = adminUrl): Promise<void> {
  await withClient(admin, (client) => client.query(`drop database if exists "${name}" with (force)`));
}

/** Runs `work` with one client on `databaseUrl`, closed afterwards. */
export async function withClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function freePort(): Promise<number> {
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

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : Math.round((((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2) * 100) / 100;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

export function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

export const round2 = (n: number) => Math.round(n * 100) / 100;

/** Writes bench/results/<date>-<name>.json with the machine's description. */
export async function writeResults(name: string, results: Record<string, unknown>): Promise<void> {
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "?",
    node: process.version,
    loadAverage: os.loadavg().map(round2),
  };
  const stamp = new Date().toISOString().slice(0, 10);
  const file = path.join(benchDir, "results", `${stamp}-${name}.json`);
  await fs.writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), machine, ...results }, null, 2)}\n`);
  console.log(`[bench] wrote ${path.relative(process.cwd(), file)}`);
}

export const round3 = (n: number) => Math.round(n * 1000) / 1000;
