/**
 * A PostgreSQL cluster of the chaos suite's own: initdb + pg_ctl from the Debian binaries, in a
 * temp dir, on a free port, unix socket in that dir. The suite stops and starts it at will; the
 * machine's shared server is never touched. As root (CI containers) the binaries run as the
 * `postgres` user, since initdb refuses root.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port.ts";

const run = promisify(execFile);

export const pgBin = process.env.LATCHKEY_CHAOS_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** Whether this machine can start a cluster of its own (the fault suites need initdb and pg_ctl). */
export function havePgBinaries(): boolean {
  return existsSync(path.join(pgBin, "initdb")) && existsSync(path.join(pgBin, "pg_ctl"));
}

export interface PgCluster {
  port: number;
  dir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** psql -c, as the superuser, on `database` (default postgres); stdout, tuples only. */
  psql(sql: string, database?: string): Promise<string>;
  /** pg_ctl stop: "fast" (disconnects clients, like a restart), "immediate" (like a crash). */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** pg_ctl start, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops it (if running) and removes the temp dir. */
  destroy(): Promise<void>;
}

async function asPostgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const { stdout: uid } = await run("id", ["-u", "postgres"]);
  const { stdout: gid } = await run("id", ["-g", "postgres"]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export async function startPgCluster(): Promise<PgCluster> {
  await fs.access(path.join(pgBin, "initdb")).catch(() => {
    throw new Error(`PostgreSQL binaries not found in ${pgBin} (apt-get install postgresql-15)`);
  });
  const user = await asPostgresUser();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-chaos-pg-"));
  const dataDir = path.join(dir, "data");
  if (user) await fs.chown(dir, user.uid, user.gid);
  const options = user ? { uid: user.uid, gid: user.gid, cwd: dir } : { cwd: dir };
  const pg = (binary: string, args: string[]) => run(path.join(pgBin, binary), args, options);
  await pg("initdb", ["-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=100",
  ].join(" ");
  let running = false;
  const cluster: PgCluster = {
    port,
    dir,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async psql(sqlText, database = "postgres") {
      const { stdout } = await pg("psql", [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-tA",
        "-c",
        sqlText,
      ]);
      return stdout.trim();
    },
    async start() {
      await pg("pg_ctl", ["-D", dataDir, "-o", serverOptions, "-l", path.join(dir, "server.log"), "-w", "start"]);
      running = true;
    },
    async stop(mode = "fast") {
      await pg("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "stop"]);
      running = false;
    },
    async destroy() {
      if (running) await cluster.stop("immediate").catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}
