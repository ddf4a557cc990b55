/**
 * What every chaos suite starts from: its own PostgreSQL cluster with a `latchkey` database,
 * Latchkey instances as child processes on it (one set of encryption keys), and tenants made
 * through the public API with the connect testbed's helpers (they take any `call`).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { startPgCluster, type PgCluster } from "./pg-cluster.ts";
import { chaosEncryptionKeys, startLatchkey, type LatchkeyProcess } from "./latchkey-process.ts";

export interface ChaosBed {
  pg: PgCluster;
  databaseUrl: string;
  /** LATCHKEY_ENCRYPTION_KEYS of every instance. */
  encryptionKeys: string;
  instances: LatchkeyProcess[];
  /** Another instance on the bed's database (stopped by `close`). */
  instance(name: string, env?: Record<string, string>): Promise<LatchkeyProcess>;
  close(): Promise<void>;
}

export async function startChaosBed(): Promise<ChaosBed> {
  const pg = await startPgCluster();
  await pg.psql("create database latchkey");
  const databaseUrl = pg.url("latchkey");
  const encryptionKeys = chaosEncryptionKeys();
  const instances: LatchkeyProcess[] = [];
  return {
    pg,
    databaseUrl,
    encryptionKeys,
    instances,
    async instance(name, env = {}) {
      const started = await startLatchkey({ name, databaseUrl, encryptionKeys, env });
      instances.push(started);
      return started;
    },
    async close() {
      for (const instance of instances) await instance.stop();
      await pg.destroy();
    },
  };
}

/** Milliseconds since `start`, rounded. */
export const since = (start: number) => Math.round(performance.now() - start);

/** Polls `check` every `everyMs` until it is true; the elapsed ms, or throws after `withinMs`. */
export async function waitFor(check: () => Promise<boolean>, withinMs: number, everyMs = 50): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check().catch(() => false)) return since(start);
    if (performance.now() - start > withinMs) throw new Error(`condition not met within ${withinMs} ms`);
    await sleep(everyMs);
  }
}

/** A line of measurements on the test output, for the CI log and the closing note. */
export function report(label: string, values: Record<string, unknown>): void {
  console.log(`[chaos] ${label}: ${JSON.stringify(values)}`);
}
