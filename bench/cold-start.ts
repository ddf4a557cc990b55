/**
 * Cold start (not a test): how long `latchkey serve` takes from spawn to its first `/readyz` 200,
 * and its resident memory once idle, on PostgreSQL with a migrated schema and on the embedded
 * database with an existing data dir. Run with `npm run bench -- cold-start`; it writes
 * bench/results/<date>-cold-start.json.
 *
 * Three ways to run the server are compared, each started BENCH_COLD_STARTS times (default 3):
 *  - dist: `node packages/server/bin/latchkey.js serve` on the build (what an installed package runs:
 *    the bundle in dist/bundle/, see packages/server/scripts/bundle.mjs);
 *  - modules: the build as tsc wrote it, one module per source file, dependencies from node_modules
 *    (`node packages/server/dist/cli/main.js serve`: what dist ran before the bundle);
 *  - tsx: the TypeScript sources through tsx's loader (how the server ran before it had a build).
 * The first embedded start on an empty data dir (initdb) is measured once per way as well.
 *
 * To measure less (a busy machine, one change at a time): BENCH_COLD_WAYS=dist (comma-separated ways),
 * BENCH_COLD_DATABASES=postgres (postgres, embedded or both) and BENCH_COLD_FIRST=0 (the initdb start
 * still runs, to create the data dir, but is not reported).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createDatabase, dropDatabase } from "./harness.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.join(here, "..");
const serverDir = path.join(repoRoot, "packages", "server");
const starts = Number(process.env.BENCH_COLD_STARTS ?? 3);
/** Time given to a started server to settle (timers, lazy work, GC) before its memory is read. */
const idleMs = Number(process.env.BENCH_IDLE_MS ?? 2_000);
const operatorKey = `op_bench_${randomBytes(24).toString("hex")}`;
const encryptionKeys = `b1:${randomBytes(32).toString("base64")}`;

type Way = "dist" | "modules" | "tsx";
type Database = "postgres" | "embedded";

function listSetting<T extends string>(name: string, allowed: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return [...allowed];
  const chosen = raw.split(",").map((item) => item.trim());
  const unknown = chosen.filter((item) => !(allowed as readonly string[]).includes(item));
  if (unknown.length > 0) throw new Error(`${name}: unknown ${unknown.join(", ")} (allowed: ${allowed.join(", ")})`);
  return chosen as T[];
}

const ways = listSetting<Way>("BENCH_COLD_WAYS", ["tsx", "modules", "dist"]);
const databases = listSetting<Database>("BENCH_COLD_DATABASES", ["postgres", "embedded"]);
const measureFirstStart = process.env.BENCH_COLD_FIRST !== "0";

const commands: Record<Way, string[]> = {
  dist: [path.join(serverDir, "bin", "latchkey.js"), "serve"],
  modules: [path.join(serverDir, "dist", "cli", "main.js"), "serve"],
  tsx: ["--conditions=latchkey-source", "--import", "tsx", path.join(serverDir, "src", "cli", "main.ts"), "serve"],
};

interface Start {
  readyMs: number;
  /** CPU time (user + system) the process had used when it was first ready: less sensitive to a busy machine. */
  cpuMsAtReady: number;
  /** VmRSS after `idleMs` of idling, in MB. */
  idleRssMb: number;
  /** Peak resident memory (VmHWM) over the start, in MB. */
  peakRssMb: number;
}

interface Series {
  way: Way;
  database: Database;
  starts: Start[];
  medianReadyMs: number;
  medianCpuMsAtReady: number;
  medianIdleRssMb: number;
}

async function main(): Promise<void> {
  if (!existsSync(path.join(serverDir, "dist", "bundle", "main.js"))) {
    throw new Error("No build: run `npm run build` first (the dist way runs packages/server/dist).");
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-cold-start-"));
  const databaseName = `latchkey_bench_cold_${Date.now()}`;
  const databaseUrl = await createDatabase(databaseName);
  const series: Series[] = [];
  const firstEmbedded: Record<string, Start> = {};
  try {
    const postgresEnv = { DATABASE_URL: databaseUrl, LATCHKEY_ENCRYPTION_KEYS: encryptionKeys };
    // Migrates the schema; not measured.
    if (databases.includes("postgres")) await measure(ways[0] ?? "dist", postgresEnv);
    for (const way of ways) {
      if (databases.includes("postgres")) series.push(await run(way, "postgres", postgresEnv));
      if (!databases.includes("embedded")) continue;
      const dataDir = path.join(work, `data-${way}`);
      const first = await measure(way, { LATCHKEY_DATA_DIR: dataDir });
      if (measureFirstStart) {
        firstEmbedded[way] = first;
        console.log(`${way} embedded first start (initdb): ${format(first)}`);
      }
      series.push(await run(way, "embedded", { LATCHKEY_DATA_DIR: dataDir }));
    }
  } finally {
    await dropDatabase(databaseName);
    await fs.rm(work, { recursive: true, force: true });
  }

  const results = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    loadAverage: os.loadavg(),
    startsPerSeries: starts,
    idleMs,
    series,
    firstEmbeddedStart: firstEmbedded,
  };
  const file = path.join(here, "results", `${results.date.slice(0, 10)}-cold-start.json`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(repoRoot, file)}`);
  for (const s of series) {
    console.log(
      `${s.way.padEnd(7)} ${s.database.padEnd(8)} ready ${s.medianReadyMs} ms (median; CPU ${s.medianCpuMsAtReady} ms), idle RSS ${s.medianIdleRssMb} MB`,
    );
  }
}

async function run(way: Way, database: Database, env: Record<string, string>): Promise<Series> {
  const measured: Start[] = [];
  for (let i = 0; i < starts; i++) {
    const start = await measure(way, env);
    console.log(`${way} ${database} start ${i + 1}: ${format(start)}`);
    measured.push(start);
  }
  return {
    way,
    database,
    starts: measured,
    medianReadyMs: median(measured.map((s) => s.readyMs)),
    medianCpuMsAtReady: median(measured.map((s) => s.cpuMsAtReady)),
    medianIdleRssMb: median(measured.map((s) => s.idleRssMb)),
  };
}

/** One start: spawn, poll /readyz until 200, idle, read memory, stop. */
async function measure(way: Way, env: Record<string, string>): Promise<Start> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const started = performance.now();
  const child = spawn(process.execPath, commands[way], {
    cwd: serverDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LATCHKEY_OPERATOR_KEY: operatorKey,
      LOG_LEVEL: "warn",
      PORT: String(port),
      HOST: "127.0.0.1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const deadline = started + 120_000;
    let readyMs: number | undefined;
    while (performance.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`latchkey exited (${child.exitCode}):\n${output}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) {
        readyMs = Math.round(performance.now() - started);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (readyMs === undefined) throw new Error(`latchkey was not ready within 120 s:\n${output}`);
    const cpuMsAtReady = await cpuMs(child.pid ?? 0);
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const memory = await processMemory(child.pid ?? 0);
    return { readyMs, cpuMsAtReady, ...memory };
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  }
}

/** User + system CPU time of a Linux process, in ms (/proc reports clock ticks of 1/100 s). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** VmRSS and VmHWM of a Linux process, in MB. */
async function processMemory(pid: number): Promise<{ idleRssMb: number; peakRssMb: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { idleRssMb: Math.round(kb("VmRSS") / 1024), peakRssMb: Math.round(kb("VmHWM") / 1024) };
}

function format(start: Start): string {
  return `ready ${start.readyMs} ms (CPU ${start.cpuMsAtReady} ms), idle RSS ${start.idleRssMb} MB, peak RSS ${start.peakRssMb} MB`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : Math.round(((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2);
}

await main();
