/**
 * Scale (`npm run bench -- scale`, not a test): Latchkey with many stored connections. Each size of
 * BENCH_SCALE_SIZES (default 10000,1000000) gets its own database, Latchkey instance, floor server
 * (bench/baseline-server.ts: Hono + one primary-key select of a random connection) and fleet,
 * seeded with that many connections. Measured:
 *
 *  - token reads: the named-user token route with a random connection per request over the whole
 *    set (never one hot row), beside the floor, in BENCH_SCALE_ROUNDS (4) rounds of
 *    BENCH_DURATION_SECONDS (8) at BENCH_CONNECTIONS (50). Every size's targets run in the same
 *    rounds, in balanced orders, so a change in the machine's speed falls on every size alike;
 *  - per size, the connect flow: BENCH_SCALE_FLOWS (50) app users connecting one after another
 *    through the real authorization server (test/support/oidc-provider.ts): initiate, and the
 *    callback (code exchange with the provider, connection stored);
 *  - the database size per connection: pg_total_relation_size of connections (heap, TOAST and every
 *    index) ÷ rows; PostgreSQL's table counters during the reads, the WAL written, and the database
 *    server's CPU per request.
 *
 * Seeded rows are what the connect flow stores: ids from the same generator, access and refresh
 * tokens encrypted with the real vault and the instance's key (each ciphertext is bound to its row
 * id, so every row is encrypted on its own), over BENCH_SCALE_APPS (3) apps × 3 connectors (an oidc
 * one, GitHub, Google: token lengths as theirs), many users. They go in with COPY (pg-copy-streams).
 * Expiries lie 2–24 h ahead, so no seeded row enters the refresh window while the bench runs.
 *
 * The database server: by default a PostgreSQL cluster of the bench's own (bench/pg-cluster.ts) with
 * shared_buffers = BENCH_SCALE_SHARED_BUFFERS (2GB), room for the 1M rows and their indexes (~1.2 GB)
 * as a server sized for its data would have, in huge pages when the kernel has them reserved
 * (huge_pages=try; `sysctl vm.nr_hugepages=1200` reserves 2.4 GB): without them each backend maps
 * the buffers it touches 4 kB at a time, which at 1M is most of them. After seeding: VACUUM
 * ANALYZE, a CHECKPOINT, and the tables and their indexes loaded into shared buffers (pg_prewarm),
 * so every size is measured warm, as on a server that has been serving those connections.
 * BENCH_SCALE_SHARED_BUFFERS=server runs on the shared server (BENCH_POSTGRES_URL) as it is
 * configured, without prewarming: with its default 128 MB of shared buffers, 1M connections do not
 * fit, and reads pay for the pages they fetch from outside them. BENCH_SCALE_PG_SETTINGS adds
 * settings to the bench's cluster (`name=value,…`); BENCH_HOLD=1 runs token-read rounds until Ctrl-C.
 * Writes bench/results/<date>-scale[-no-token-cache].json; the databases (and the bench's own
 * cluster) are removed at the end.
 */
import { randomBytes, randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type autocannon from "autocannon";
import { from as copyFrom } from "pg-copy-streams";
import { parseEncryptionKeys } from "../packages/server/src/config/config.ts";
import { accessTokenContext, refreshTokenContext } from "../packages/server/src/connections/connection-store.ts";
import { usageFlushMs } from "../packages/server/src/connections/usage-recorder.ts";
import { newId } from "../packages/server/src/kernel/ids.ts";
import { Vault } from "../packages/server/src/vault/vault.ts";
import {
  type AuthorizationServer,
  adminUrl,
  api,
  type BenchApp,
  type BenchWorkspace,
  connectUser,
  connections,
  createApp,
  createOidcConnector,
  createWorkspace,
  durationSeconds,
  encryptionKeys,
  expectOk,
  type LoadResult,
  latchkeyEnv,
  pairedRatios,
  percentile,
  round2,
  runRounds,
  startBenchServer,
  startLatchkey,
  str,
  summarize,
  withBenchSession,
  withClient,
  writeResults,
} from "./harness.ts";
import { type OwnCluster, startOwnCluster } from "./pg-cluster.ts";
import type { RunningProcess } from "./process.ts";

const sizes = (process.env.BENCH_SCALE_SIZES ?? "10000,1000000")
  .split(",")
  .map(Number)
  .sort((a, b) => a - b);
const appCount = Number(process.env.BENCH_SCALE_APPS ?? 3);
const scaleRounds = Number(process.env.BENCH_SCALE_ROUNDS ?? 4);
const flowCount = Number(process.env.BENCH_SCALE_FLOWS ?? 50);
/** Flows run before the measured ones, so the first connections and compilations are not counted. */
const warmUpFlows = 3;
const copyBatchRows = 1_000;
const sharedBuffers = process.env.BENCH_SCALE_SHARED_BUFFERS ?? "2GB";
/** More settings of the bench's own cluster, `name=value,name=value` (e.g. huge_pages=on). */
const extraSettings = Object.fromEntries(
  (process.env.BENCH_SCALE_PG_SETTINGS ?? "")
    .split(",")
    .filter(Boolean)
    .map((setting) => setting.split("=", 2) as [string, string]),
);
/** The tables the token routes and the floor read, loaded into shared buffers before measuring. */
const prewarmedTables = ["connections", "connection_usage"];

/** The seeded connectors: provider, and the lengths of the tokens that provider issues. */
const connectorKinds = [
  { provider: "oidc", accessTokenLength: 43, refreshTokenLength: 43, scopes: ["openid", "email", "offline_access"] },
  { provider: "github", accessTokenLength: 40, refreshTokenLength: 0, scopes: ["repo", "read:user"] },
  {
    provider: "google",
    accessTokenLength: 218,
    refreshTokenLength: 103,
    scopes: ["openid", "email", "https://www.googleapis.com/auth/calendar.readonly"],
  },
] as const;

interface Fleet {
  workspace: BenchWorkspace;
  apps: BenchApp[];
  /** Connector ids, in connectorKinds order. */
  connectorIds: string[];
}

/**
 * Connection number i belongs to app (i / kinds) % apps, connector i % kinds and user
 * i / (apps × kinds): every user of every app has each connector, and the keys are computed, not stored.
 */
function keyOf(index: number) {
  const kinds = connectorKinds.length;
  return {
    app: Math.floor(index / kinds) % appCount,
    connector: index % kinds,
    userId: `user_${Math.floor(index / (kinds * appCount))}`,
  };
}

/** One size: its own database, Latchkey instance, floor server and fleet, seeded with `size` connections. */
interface Stage {
  size: number;
  databaseUrl: string;
  latchkey: RunningProcess;
  baseline: RunningProcess;
  fleet: Fleet;
  ids: string[];
  seedSeconds: number;
  databaseSize: Awaited<ReturnType<typeof sizeOf>>;
}

export async function main(): Promise<void> {
  const ownCluster =
    sharedBuffers === "server"
      ? undefined
      : await startOwnCluster({ shared_buffers: sharedBuffers, huge_pages: "try", ...extraSettings });
  const databaseServer = ownCluster
    ? {
        server: "the bench's own cluster",
        version: ownCluster.version,
        settings: ownCluster.settings,
        // huge_pages=try uses them only when the kernel has some reserved (vm.nr_hugepages).
        hugePagesReserved: await hugePagesReserved(),
        prewarmed: true,
      }
    : { server: "shared", url: adminUrl, prewarmed: false };
  console.log(`[bench] database server: ${JSON.stringify(databaseServer)}`);
  await withBenchSession(
    "latchkey_bench_scale",
    async ({ databaseUrl, provider, processes, newDatabase }) => {
      // BENCH_SCALE_TOKEN_CACHE_ENTRIES=0 measures every read on the database: with the token cache on,
      // a set that fits the cache (10k) is served from memory and one that does not (1M) mostly is not,
      // so the two sizes would compare memory with the database rather than the database with itself.
      const tokenCacheEntries = process.env.BENCH_SCALE_TOKEN_CACHE_ENTRIES;
      const vault = new Vault(parseEncryptionKeys(encryptionKeys).keys);
      const stages: Stage[] = [];
      for (const [index, size] of sizes.entries()) {
        const stageDatabaseUrl = index === 0 ? databaseUrl : await newDatabase(String(size));
        const latchkey = await startLatchkey(
          latchkeyEnv({
            DATABASE_URL: stageDatabaseUrl,
            ...(tokenCacheEntries !== undefined && { LATCHKEY_TOKEN_CACHE_ENTRIES: tokenCacheEntries }),
          }),
        );
        processes.push(latchkey);
        const baseline = await startBenchServer("baseline", "baseline-server.ts", { DATABASE_URL: stageDatabaseUrl });
        processes.push(baseline);
        const fleet = await createFleet(latchkey.url, provider, size);
        const ids: string[] = [];
        const seedStart = performance.now();
        await seed(stageDatabaseUrl, vault, fleet, ids, size);
        const seedSeconds = round2((performance.now() - seedStart) / 1000);
        // VACUUM sets every page's visibility and hint bits, and the load left the pages dirty: a
        // checkpoint writes them now, as after any bulk load, not in the background of the measured reads.
        await withClient(stageDatabaseUrl, async (client) => {
          await client.query("vacuum analyze connections");
          await client.query("checkpoint");
        });
        if (ownCluster) await prewarm(stageDatabaseUrl);
        const databaseSize = await sizeOf(stageDatabaseUrl);
        console.log(
          `[bench] ${size} connections seeded in ${seedSeconds} s; ${databaseSize.bytesPerConnection} bytes per connection`,
        );
        stages.push({ size, databaseUrl: stageDatabaseUrl, latchkey, baseline, fleet, ids, seedSeconds, databaseSize });
      }
      // Every size's rounds run interleaved (balanced orders over all targets), so a change in the
      // machine's speed during the run falls on every size alike instead of on whichever ran then.
      const targets = (await Promise.all(stages.map((stage) => tokenReadTargets(stage, ownCluster)))).flat();
      if (process.env.BENCH_HOLD) {
        const pids = stages.map(
          (stage) => `${stage.size}: latchkey ${stage.latchkey.pid}, floor ${stage.baseline.pid}`,
        );
        console.log(`[bench] holding (pids ${pids.join("; ")}); token-read rounds until Ctrl-C`);
        for (;;) await runRounds(targets, 1);
      }
      const statsBefore = await Promise.all(stages.map((stage) => tableActivity(stage.databaseUrl)));
      const walBefore = await walPosition(databaseUrl);
      const runs = await runRounds(targets, scaleRounds);
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const walBytesDuringReads = (await walPosition(databaseUrl)) - walBefore;
      console.log(`[bench] WAL written during the reads (every size): ${walBytesDuringReads} bytes`);
      const statsAfter = await Promise.all(stages.map((stage) => tableActivity(stage.databaseUrl)));
      const results = [];
      for (const [index, stage] of stages.entries()) {
        const tableActivityDuringReads = activitySince(statsBefore[index] ?? {}, statsAfter[index] ?? {});
        console.log(
          `[bench] table activity during the reads at ${stage.size}: ${JSON.stringify(tableActivityDuringReads)}`,
        );
        results.push({
          connections: stage.size,
          seedSeconds: stage.seedSeconds,
          databaseSize: stage.databaseSize,
          tokenReads: summarizeReads(runs, stage.size),
          tableActivityDuringReads,
          connectFlow: await benchmarkConnectFlow(stage.latchkey.url, provider, stage.fleet, stage.size),
        });
      }
      const first = results[0];
      const last = results.at(-1);
      const growth =
        first && last && first !== last
          ? {
              from: first.connections,
              to: last.connections,
              tokenReadP50: round2(last.tokenReads.token.p50Ms / first.tokenReads.token.p50Ms),
              tokenReadP99: round2(last.tokenReads.token.p99Ms / first.tokenReads.token.p99Ms),
              floorP50: round2(last.tokenReads.floor.p50Ms / first.tokenReads.floor.p50Ms),
              floorP99: round2(last.tokenReads.floor.p99Ms / first.tokenReads.floor.p99Ms),
              // Per round, rps at the first size ÷ rps at the last: how many times slower the bigger
              // set reads, from runs close together in time.
              tokenSlowdownPerRound: pairedRatios(first.tokenReads.allRuns.token, last.tokenReads.allRuns.token),
              floorSlowdownPerRound: pairedRatios(first.tokenReads.allRuns.floor, last.tokenReads.allRuns.floor),
              callbackP50: round2(last.connectFlow.callback.p50Ms / first.connectFlow.callback.p50Ms),
              goal: "tokenReadP50 and tokenReadP99 <= 1.3",
            }
          : null;
      if (growth) {
        console.log(
          `[bench] token read at ${growth.to} ÷ at ${growth.from}: p50 ${growth.tokenReadP50}×, p99 ${growth.tokenReadP99}× ` +
            `(floor p50 ${growth.floorP50}×, p99 ${growth.floorP99}×); slowdown per round: token ` +
            `${JSON.stringify(growth.tokenSlowdownPerRound)}, floor ${JSON.stringify(growth.floorSlowdownPerRound)}`,
        );
      }
      await writeResults(tokenCacheEntries === "0" ? "scale-no-token-cache" : "scale", {
        databaseServer,
        apps: appCount,
        connectors: connectorKinds.length,
        tokenCacheEntries: tokenCacheEntries ?? "default",
        walBytesDuringReads,
        stages: results,
        growth,
      });
    },
    ownCluster,
  );
}

/** The kernel's reserved huge pages (HugePages_Total in /proc/meminfo), 0 when it cannot tell. */
async function hugePagesReserved(): Promise<number> {
  const meminfo = await readFile("/proc/meminfo", "utf8").catch(() => "");
  return Number(/HugePages_Total:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
}

/** Loads `prewarmedTables` and every index of theirs into shared buffers; logs the pages loaded. */
async function prewarm(databaseUrl: string): Promise<void> {
  const result = await withClient(databaseUrl, async (client) => {
    await client.query("create extension if not exists pg_prewarm");
    return client.query<{ relname: string; blocks: string }>(
      `select c.relname, pg_prewarm(c.oid) as blocks from pg_class c
        where c.oid = any(select t::regclass from unnest($1::text[]) t)
           or c.oid in (select indexrelid from pg_index where indrelid = any(select t::regclass from unnest($1::text[]) t))`,
      [prewarmedTables],
    );
  });
  console.log(`[bench] prewarmed: ${result.rows.map((row) => `${row.relname} ${row.blocks} pages`).join(", ")}`);
}

/**
 * One workspace, `appCount` apps and the three connectors, through the API; the oidc client is the
 * size's own (each size's Latchkey has its own redirect URI).
 */
async function createFleet(publicUrl: string, provider: AuthorizationServer, size: number): Promise<Fleet> {
  const workspace = await createWorkspace(publicUrl, "bench scale");
  const apps: BenchApp[] = [];
  for (let index = 0; index < appCount; index++) apps.push(await createApp(publicUrl, workspace, `scale app ${index}`));
  const connectorIds: string[] = [];
  for (const kind of connectorKinds) {
    if (kind.provider === "oidc") {
      connectorIds.push(await createOidcConnector(publicUrl, workspace, provider, `bench-scale-client-${size}`));
      continue;
    }
    const created = await api(
      publicUrl,
      "POST",
      `/api/workspaces/${workspace.workspaceId}/connectors`,
      workspace.adminKey,
      {
        provider: kind.provider,
        client_id: `bench-${kind.provider}-client`,
        client_secret: randomBytes(24).toString("base64url"),
      },
    );
    connectorIds.push(str(created, "connector.id"));
  }
  return { workspace, apps, connectorIds };
}

/** Adds connections number ids.length … size − 1 with one COPY, appending their ids to `ids`. */
async function seed(databaseUrl: string, vault: Vault, fleet: Fleet, ids: string[], size: number): Promise<void> {
  const from = ids.length;
  const columns = [
    "id",
    "workspace_id",
    "app_id",
    "connector_id",
    "owner_type",
    "user_id",
    "status",
    "access_token",
    "refresh_token",
    "token_type",
    "expires_at",
    "scopes",
    "account",
    "connected_at",
  ];
  const now = Date.now();
  function row(index: number): string {
    const key = keyOf(index);
    const kind = connectorKinds[key.connector];
    const appId = fleet.apps[key.app]?.appId;
    const connectorId = fleet.connectorIds[key.connector];
    if (!kind || !appId || !connectorId) throw new Error(`no app or connector for connection ${index}`);
    const id = newId("conn");
    ids.push(id);
    const accessToken = vault.encrypt(token(kind.accessTokenLength), accessTokenContext(id));
    const refreshToken =
      kind.refreshTokenLength > 0 ? vault.encrypt(token(kind.refreshTokenLength), refreshTokenContext(id)) : "\\N";
    // GitHub's OAuth-app tokens do not expire; the others have 2–24 h left.
    const expiresAt = kind.refreshTokenLength > 0 ? new Date(now + randomInt(2 * 3600, 24 * 3600) * 1000) : null;
    const account = { sub: `${key.userId}-${key.connector}`, email: `${key.userId}@example.test` };
    const connectedAt = new Date(now - randomInt(0, 365 * 24 * 3600) * 1000);
    return [
      id,
      fleet.workspace.workspaceId,
      appId,
      connectorId,
      "user",
      key.userId,
      "active",
      accessToken,
      refreshToken,
      "Bearer",
      expiresAt ? expiresAt.toISOString() : "\\N",
      JSON.stringify(kind.scopes),
      JSON.stringify(account),
      connectedAt.toISOString(),
    ].join("\t");
  }
  async function* batches() {
    for (let start = from; start < size; start += copyBatchRows) {
      const end = Math.min(size, start + copyBatchRows);
      const lines: string[] = [];
      for (let index = start; index < end; index++) lines.push(row(index));
      yield `${lines.join("\n")}\n`;
      if (Math.floor(end / 100_000) > Math.floor(start / 100_000)) console.log(`[bench] seeded ${end} connections`);
    }
  }
  await withClient(databaseUrl, (client) =>
    pipeline(Readable.from(batches()), client.query(copyFrom(`copy connections (${columns.join(", ")}) from stdin`))),
  );
}

/** A random opaque token of `length` base64url characters. */
function token(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4))
    .toString("base64url")
    .slice(0, length);
}

async function sizeOf(databaseUrl: string) {
  const result = await withClient(databaseUrl, (client) =>
    client.query<{ total: string; heap: string; indexes: string; rows: string }>(
      `select pg_total_relation_size('connections') as total, pg_relation_size('connections') as heap,
              pg_indexes_size('connections') as indexes, (select count(*) from connections) as rows`,
    ),
  );
  const sizes = result.rows[0];
  if (!sizes) throw new Error("no sizes");
  const rows = Number(sizes.rows);
  const total = Number(sizes.total);
  const heap = Number(sizes.heap);
  const indexes = Number(sizes.indexes);
  return {
    rows,
    totalBytes: total,
    heapBytes: heap,
    indexBytes: indexes,
    toastBytes: total - heap - indexes,
    bytesPerConnection: Math.round(total / rows),
    heapBytesPerConnection: Math.round(heap / rows),
    indexBytesPerConnection: Math.round(indexes / rows),
  };
}

/** Tables whose counters the bench records: the connections and, when the schema has it, their usage. */
const countedTables = ["connections", "connection_usage"];

/**
 * PostgreSQL's counters per table of `countedTables`: rows inserted and updated (the token routes'
 * batched usage writes; HOT updates touch no index) and blocks found in shared buffers or read
 * from outside them (the OS cache or the disk), for the table and each of its indexes. These are
 * the database's own (each size has its database); WAL is the server's (`walPosition`).
 */
async function tableActivity(databaseUrl: string): Promise<Record<string, Record<string, number>>> {
  return withClient(databaseUrl, async (client) => {
    const tables = await client.query<Record<string, string>>(
      `select t.relname, t.n_tup_ins as rows_inserted, t.n_tup_upd as rows_updated, t.n_tup_hot_upd as hot_updates,
              io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit
         from pg_stat_user_tables t join pg_statio_user_tables io using (relid)
        where t.relname = any($1::text[])`,
      [countedTables],
    );
    // Per index too: the floor reads by the primary key, the token route by connections_owner_unique.
    const indexes = await client.query<{ relname: string; indexrelname: string; blks_read: string; blks_hit: string }>(
      `select relname, indexrelname, idx_blks_read as blks_read, idx_blks_hit as blks_hit
         from pg_statio_user_indexes where relname = any($1::text[])`,
      [countedTables],
    );
    const counters: Record<string, Record<string, number>> = {};
    for (const { relname, ...row } of tables.rows) {
      const table: Record<string, number> = {};
      for (const [name, value] of Object.entries(row)) table[name] = Number(value);
      for (const index of indexes.rows.filter((index) => index.relname === relname)) {
        table[`${index.indexrelname}.blks_read`] = Number(index.blks_read);
        table[`${index.indexrelname}.blks_hit`] = Number(index.blks_hit);
      }
      counters[relname ?? ""] = table;
    }
    return counters;
  });
}

function activitySince(
  before: Record<string, Record<string, number>>,
  after: Record<string, Record<string, number>>,
): Record<string, Record<string, number>> {
  return Object.fromEntries(
    Object.entries(after).map(([name, table]) => {
      const from = before[name] ?? {};
      return [name, Object.fromEntries(Object.entries(table).map(([key, n]) => [key, n - (from[key] ?? 0)]))];
    }),
  );
}

/**
 * The server's WAL position in bytes: the WAL written between two readings is the whole server's
 * (every database; on a shared server, other work's too).
 */
async function walPosition(databaseUrl: string): Promise<number> {
  const wal = await withClient(databaseUrl, (client) =>
    client.query<{ lsn: string }>(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') as lsn`),
  );
  return Number(wal.rows[0]?.lsn ?? 0);
}

/**
 * Waits until the counters include the token reads: Latchkey writes the last reads' usage within
 * `usageFlushMs`, and a PostgreSQL 15+ backend that goes idle reports its table counters within
 * 10 s (PGSTAT_IDLE_INTERVAL), so an earlier look would miss the last flushes.
 */
const settleMs = usageFlushMs + 11_000;

/**
 * The named-user token route and the floor of one stage, each with a random one of all its seeded
 * connections per request, named `token<size>` and `floor<size>`; each checked to answer first.
 */
async function tokenReadTargets(stage: Stage, ownCluster: OwnCluster | undefined) {
  const { latchkey, baseline, fleet, ids, size } = stage;
  const countDatabaseCpu = ownCluster ? { databaseCpuMicros: ownCluster.cpuMicros } : {};
  const tokenPath = (index: number) => {
    const key = keyOf(index);
    const app = fleet.apps[key.app];
    if (!app) throw new Error(`no app ${key.app}`);
    return {
      path: `/api/apps/${app.appId}/app-user-auth/connectors/${fleet.connectorIds[key.connector]}/users/${key.userId}/token`,
      authorization: `Bearer ${app.serviceKey}`,
    };
  };
  const sample = tokenPath(ids.length - 1);
  await expectOk(`${latchkey.url}${sample.path}`, { authorization: sample.authorization });
  await expectOk(`${baseline.url}/connections/${ids[0]}`, {});
  return [
    {
      name: `floor${size}`,
      title: `floor, random of ${ids.length}`,
      process: baseline,
      url: `${baseline.url}/connections/${ids[0]}`,
      headers: {},
      ...countDatabaseCpu,
      setupRequest: (request: autocannon.Request) => ({
        ...request,
        path: `/connections/${ids[randomInt(ids.length)]}`,
      }),
    },
    {
      name: `token${size}`,
      title: `token route, random of ${ids.length}`,
      process: latchkey,
      url: `${latchkey.url}${sample.path}`,
      headers: { authorization: sample.authorization },
      ...countDatabaseCpu,
      setupRequest: (request: autocannon.Request) => {
        const target = tokenPath(randomInt(ids.length));
        return { ...request, path: target.path, headers: { ...request.headers, authorization: target.authorization } };
      },
    },
  ];
}

/** One stage's token reads and floor: medians over rounds; fails the bench on any failed request. */
function summarizeReads(runs: Record<string, LoadResult[]>, size: number) {
  const floorRuns = runs[`floor${size}`] ?? [];
  const tokenRuns = runs[`token${size}`] ?? [];
  const floor = summarize(floorRuns);
  const tokenRoute = summarize(tokenRuns);
  if (floor.non2xx + floor.errors + tokenRoute.non2xx + tokenRoute.errors > 0) {
    throw new Error(`token reads failed at ${size}: ${JSON.stringify({ floor, token: tokenRoute })}`);
  }
  return {
    connections,
    durationSeconds,
    rounds: scaleRounds,
    floor,
    token: tokenRoute,
    ratioToFloor: round2(tokenRoute.rps / floor.rps),
    pairedRatiosToFloor: pairedRatios(tokenRuns, floorRuns),
    allRuns: { floor: floorRuns, token: tokenRuns },
  };
}

/** `flowCount` app users of the first app connect the oidc connector one after another. */
async function benchmarkConnectFlow(publicUrl: string, provider: AuthorizationServer, fleet: Fleet, size: number) {
  const app = fleet.apps[0];
  const connectorId = fleet.connectorIds[0];
  if (!app || !connectorId) throw new Error("no app or connector");
  const initiate: number[] = [];
  const callback: number[] = [];
  for (let index = 0; index < warmUpFlows + flowCount; index++) {
    const flow = await connectUser(publicUrl, provider, app, connectorId, `flow_${size}_${index}`);
    if (index < warmUpFlows) continue;
    initiate.push(flow.initiateMs);
    callback.push(flow.callbackMs);
  }
  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50Ms: round2(percentile(sorted, 0.5)), p99Ms: round2(percentile(sorted, 0.99)) };
  };
  const result = { flows: flowCount, initiate: stats(initiate), callback: stats(callback) };
  console.log(
    `[bench] connect flow at ${size}: initiate p50 ${result.initiate.p50Ms} ms, p99 ${result.initiate.p99Ms} ms; ` +
      `callback p50 ${result.callback.p50Ms} ms, p99 ${result.callback.p99Ms} ms`,
  );
  return result;
}
