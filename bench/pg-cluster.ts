/**
 * A PostgreSQL cluster of the bench's own (initdb + pg_ctl from BENCH_PG_BIN, default
 * /usr/lib/postgresql/15/bin): a temp dir, its own port, the settings it is given, removed on stop.
 * For a bench whose result depends on the server's configuration (the scale bench's shared_buffers);
 * the shared server at 127.0.0.1:5432 is never reconfigured. As root, the cluster runs as the
 * `postgres` user (PostgreSQL refuses to run as root).
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, processTicks, ticksToMicros } from "./harness.ts";

const run = promisify(execFile);
const binDir = process.env.BENCH_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface OwnCluster {
  /** A URL of the cluster's `postgres` database, for createDatabase / dropDatabase. */
  adminUrl: string;
  /** The settings given on start, as `name=value`, and the server's version. */
  settings: Record<string, string>;
  version: string;
  /**
   * User + system CPU time the whole cluster has used so far (µs): the postmaster, every live child
   * (backends, checkpointer, WAL writer, autovacuum, …) and the children it has reaped.
   */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/** As root, `runuser -u postgres -- command …`; otherwise the command itself. */
async function asServerUser(command: string, args: string[]): Promise<{ stdout: string }> {
  const file = path.join(binDir, command);
  if (process.getuid?.() !== 0) return run(file, args);
  return run("runuser", ["-u", "postgres", "--", file, ...args]);
}

export async function startOwnCluster(settings: Record<string, string>): Promise<OwnCluster> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-bench-pg-"));
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: group } = await run("id", ["-g", "postgres"]);
    await fs.chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const dataDir = path.join(dir, "data");
  const port = await freePort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(" ");
  try {
    await asServerUser("initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"]);
    await asServerUser("pg_ctl", ["-D", dataDir, "-l", path.join(dir, "server.log"), "-o", options, "-w", "start"]);
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
  const { stdout: version } = await asServerUser("postgres", ["--version"]);
  const postmaster = Number((await fs.readFile(path.join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
  let stopped: Promise<void> | undefined;
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    settings,
    version: version.trim(),
    async cpuMicros() {
      const children = await fs
        .readFile(`/proc/${postmaster}/task/${postmaster}/children`, "utf8")
        .then((text) => text.trim().split(/\s+/).filter(Boolean).map(Number))
        // Without CONFIG_PROC_CHILDREN the list is not there: count the postmaster alone.
        .catch(() => [] as number[]);
      const [own, ...live] = await Promise.all([postmaster, ...children].map(processTicks));
      const reaped = (own?.childrenUser ?? 0) + (own?.childrenSystem ?? 0);
      const ticks = reaped + [own, ...live].reduce((sum, t) => sum + (t ? t.user + t.system : 0), 0);
      return ticksToMicros(ticks);
    },
    stop() {
      stopped ??= (async () => {
        await asServerUser("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]).catch((error: unknown) => {
          console.error(`[bench] stopping the bench's PostgreSQL cluster: ${String(error)}`);
        });
        await fs.rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
