/**
 * Embedded (`npm run bench -- embedded`, not a test): the token hot path on the embedded database
 * (PGlite) against its floor, Hono + one primary-key select on PGlite (bench/baseline-server.ts with
 * DATA_DIR). One Latchkey instance on a fresh data dir gets one app user connected through the real
 * authorization server; PGlite is one process's, so the floor opens a copy of that data dir, made
 * while Latchkey is stopped. Then BENCH_EMBEDDED_ROUNDS (6, every order of the three targets once)
 * rounds of BENCH_DURATION_SECONDS (8) at BENCH_CONNECTIONS (50) each: the floor and both token
 * routes. Goal: token route ÷ floor ≥ 0.8. Writes bench/results/<date>-embedded.json; the data
 * dirs are deleted at the end.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openEmbedded } from "../packages/server/src/db/open-database.ts";
import { startAuthorizationServer } from "../packages/server/test/support/oidc-provider.ts";
import {
  connectOneUser,
  connections,
  durationSeconds,
  expectOk,
  latchkeyEnv,
  pairedRatios,
  round2,
  rssMb,
  runRounds,
  startBenchServer,
  startLatchkey,
  summarize,
  tokenRouteTargets,
  withCleanUp,
  writeResults,
} from "./harness.ts";
import type { RunningProcess } from "./process.ts";

const rounds = Number(process.env.BENCH_EMBEDDED_ROUNDS ?? 6);

export async function main(): Promise<void> {
  // The child processes inherit this environment: with a DATABASE_URL there, Latchkey would not be embedded.
  delete process.env.DATABASE_URL;
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-bench-embedded-"));
  const latchkeyDir = path.join(workDir, "latchkey");
  const floorDir = path.join(workDir, "floor");
  const provider = await startAuthorizationServer({ accessTokenTtlSeconds: 3600 });
  const processes: RunningProcess[] = [];
  const run = async () => {
    const env = latchkeyEnv({ LATCHKEY_DATA_DIR: latchkeyDir });
    const setupInstance = await startLatchkey(env);
    processes.push(setupInstance);
    const user = await connectOneUser(setupInstance.url, provider);
    await setupInstance.stop();
    await fs.cp(latchkeyDir, floorDir, { recursive: true });
    const connectionId = await connectionIdOf(floorDir, user.appId);
    console.log(`[bench] connected ${user.userId}; connection ${connectionId}`);

    // Same port as before: the connector's redirect URI, registered at the provider, names it.
    const latchkey = await startLatchkey(env, setupInstance.url, Number(new URL(setupInstance.url).port));
    processes.push(latchkey);
    const floor = await startBenchServer("floor", "baseline-server.ts", { DATA_DIR: floorDir });
    processes.push(floor);
    const targets = [
      {
        name: "floor" as const,
        title: "floor (Hono + PGlite primary-key select)",
        process: floor,
        url: `${floor.url}/connections/${connectionId}`,
        headers: {},
      },
      ...tokenRouteTargets(latchkey, user),
    ];
    for (const target of targets) await expectOk(target.url, target.headers);
    const runs = await runRounds(targets, rounds);
    const floorSummary = summarize(runs.floor);
    const namedUser = summarize(runs.namedUser);
    const currentUser = summarize(runs.currentUser);
    const result = {
      connections,
      durationSeconds,
      rounds,
      floor: floorSummary,
      namedUser,
      currentUser,
      ratioNamedUser: round2(namedUser.rps / floorSummary.rps),
      ratioCurrentUser: round2(currentUser.rps / floorSummary.rps),
      pairedRatiosNamedUser: pairedRatios(runs.namedUser, runs.floor),
      pairedRatiosCurrentUser: pairedRatios(runs.currentUser, runs.floor),
      goal: "ratio >= 0.8",
      memory: { latchkeyRssMb: await rssMb(latchkey.pid), floorRssMb: await rssMb(floor.pid) },
      allRuns: runs,
    };
    console.log(
      `[bench] embedded token route ÷ PGlite floor: named user ${result.ratioNamedUser}, on-behalf-of ${result.ratioCurrentUser}`,
    );
    await writeResults("embedded", { embedded: result });
  };
  await withCleanUp(run, async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await provider.close();
    await fs.rm(workDir, { recursive: true, force: true });
  });
}

async function connectionIdOf(dataDir: string, appId: string): Promise<string> {
  const { db, close } = await openEmbedded({ dataDir });
  try {
    const row = await db.selectFrom("connections").select("id").where("app_id", "=", appId).executeTakeFirst();
    if (!row) throw new Error("no connection row");
    return row.id;
  } finally {
    await close();
  }
}
