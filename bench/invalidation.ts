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
import os from "node:os";
import pg from "pg";
import { accessTokenContext } from "../packages/server/src/connections/connection-store.ts";
import { parseEncryptionKeys } from "../packages/server/src/config/config.ts";
import { Vault } from "../packages/server/src/vault/vault.ts";
import {
  type AuthorizationServer,
  api,
  createApp,
  createOidcConnector,
  createWorkspace,
  encryptionKeys,
  latchkeyEnv,
  returnOrigin,
  round2,
  startLatchkey,
  str,
  withBenchSession,
  writeResults,
} from "./harness.ts";
import type { RunningProcess } from "./process.ts";

const changes = Number(process.env.BENCH_INVALIDATION_CHANGES ?? 200);
const instanceCount = 3;

type Kind = "token" | "connector";

export async function main(): Promise<void> {
  await withBenchSession("latchkey_bench_invalidation", async ({ databaseUrl, provider, processes }) => {
    const writer = new pg.Client({ connectionString: databaseUrl });
    try {
      await measure(databaseUrl, provider, processes, writer);
    } finally {
      await writer.end().catch(() => {});
    }
  });
}

async function measure(
  databaseUrl: string,
  provider: AuthorizationServer,
  instances: RunningProcess[],
  writer: pg.Client,
): Promise<void> {
  {
    // One at a time: the first applies the migrations.
    for (let i = 0; i < instanceCount; i++)
      instances.push(await startLatchkey(latchkeyEnv({ DATABASE_URL: databaseUrl })));
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
    await writeResults("invalidation", result);
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
async function connectShared(publicUrl: string, provider: AuthorizationServer): Promise<Shared> {
  const workspace = await createWorkspace(publicUrl, "bench invalidation");
  const app = await createApp(publicUrl, workspace, "bench invalidation app");
  const connectorId = await createOidcConnector(publicUrl, workspace, provider, "bench-invalidation-client");
  const initiated = await api(
    publicUrl,
    "POST",
    `/api/workspaces/${workspace.workspaceId}/apps/${app.appId}/connectors/${connectorId}/initiate`,
    workspace.adminKey,
    { return_to: `${returnOrigin}/done` },
  );
  const callback = await provider.authorize(str(initiated, "redirect_url"), { login: "bench-shared" });
  const finished = await fetch(callback, { redirect: "manual" });
  const location = finished.headers.get("location") ?? "";
  if (!location.includes("latchkey_status=connected")) throw new Error(`connect failed: ${location}`);
  const token = await fetch(`${publicUrl}/api/apps/${app.appId}/external-auth/tokens/connectors/${connectorId}`, {
    headers: { authorization: `Bearer ${app.serviceKey}` },
  });
  const accessToken = str(await token.json(), "access_token");
  return { ...workspace, ...app, connectorId, accessToken };
}
