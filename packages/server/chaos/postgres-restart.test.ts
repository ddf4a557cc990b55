/**
 * PostgreSQL stopped and started under load, on the suite's own cluster: during the outage
 * only 503 with Retry-After (never a 500, never a crash), full service again within 5 s of
 * the database returning. Prints the measured recovery time.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectUser, createTenant, type Tenant, userToken } from "../test/support/connect-testbed.ts";
import { type AuthorizationServer, startAuthorizationServer } from "../test/support/oidc-provider.ts";
import { type ChaosBed, report, since, startChaosBed } from "./support/chaos-bed.ts";
import type { LatchkeyProcess } from "./support/latchkey-process.ts";

interface Sample {
  atMs: number;
  status: number;
  retryAfter: string | null;
  code: string | null;
}

describe("PostgreSQL stopped and started under load", () => {
  let bed: ChaosBed;
  let harness: AuthorizationServer;
  let latchkey: LatchkeyProcess;
  let tenant: Tenant;

  beforeAll(async () => {
    bed = await startChaosBed();
    harness = await startAuthorizationServer();
    latchkey = await bed.instance("a");
    tenant = await createTenant(latchkey, harness);
    for (const user of ["ada", "bob"]) {
      await connectUser(latchkey, harness, tenant, await userToken(latchkey, tenant, user), user);
    }
  }, 120_000);
  afterAll(async () => {
    await bed?.close();
    await harness?.close();
  });

  const tokenOf = (user: string) =>
    latchkey.call(
      "GET",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${user}/token`,
      {
        token: tenant.serviceKey,
        signal: AbortSignal.timeout(15_000),
      },
    );

  /** Workers calling the token route (and minting user tokens) until stopped; every answer recorded. */
  function load(workers: number) {
    const samples: Sample[] = [];
    const failures: string[] = [];
    const start = performance.now();
    let running = true;
    const worker = async (index: number) => {
      while (running) {
        const request =
          index % 3 === 2
            ? latchkey.call("POST", `/api/apps/${tenant.appId}/users/load-${index}/token`, {
                token: tenant.serviceKey,
                body: { expires_in: 60 },
                signal: AbortSignal.timeout(15_000),
              })
            : tokenOf(index % 2 === 0 ? "ada" : "bob");
        try {
          const response = await request;
          const text = await response.text();
          let code: string | null = null;
          if (response.status >= 400) code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
          samples.push({
            atMs: since(start),
            status: response.status,
            retryAfter: response.headers.get("retry-after"),
            code,
          });
        } catch (error) {
          failures.push(`${since(start)} ms: ${(error as Error).message}`);
          await sleep(50);
        }
        await sleep(10);
      }
    };
    const done = Promise.all(Array.from({ length: workers }, (_, index) => worker(index)));
    return {
      samples,
      failures,
      start,
      async stop() {
        running = false;
        await done;
      },
    };
  }

  it("answers only 503 with Retry-After while it is down, and serves again within 5 s of its return", async () => {
    const running = load(6);
    await sleep(1_000);
    const stoppedAt = since(running.start);
    await bed.pg.stop("fast");
    await sleep(3_000);
    await bed.pg.start();
    const startedAt = since(running.start);
    // Full service: every worker's next answer is a 200 again; the first 200 after the start is the recovery.
    const recoveryDeadline = performance.now() + 10_000;
    while (performance.now() < recoveryDeadline) {
      const after = running.samples.filter((sample) => sample.atMs > startedAt);
      if (after.filter((sample) => sample.status === 200).length >= 20) break;
      await sleep(100);
    }
    await running.stop();

    const during = running.samples.filter((sample) => sample.atMs > stoppedAt && sample.atMs <= startedAt);
    const after = running.samples.filter((sample) => sample.atMs > startedAt);
    const firstOk = after.find((sample) => sample.status === 200);
    const lastError = [...after].reverse().find((sample) => sample.status >= 300);
    const counts: Record<string, number> = {};
    for (const sample of during) {
      const key = `${sample.status} ${sample.code ?? ""}`.trim();
      counts[key] = (counts[key] ?? 0) + 1;
    }
    const recoveryMs = firstOk ? firstOk.atMs - startedAt : null;
    report("postgres restart", {
      outage_ms: startedAt - stoppedAt,
      answers_during_outage: counts,
      recovery_ms_first_200_after_start: recoveryMs,
      last_non_200_after_start_ms: lastError ? lastError.atMs - startedAt : null,
      requests_total: running.samples.length,
      transport_failures: running.failures.length,
    });

    // No crash: the process is still the one that started.
    expect(latchkey.child.exitCode, latchkey.output().slice(-3000)).toBeNull();
    expect(running.failures).toEqual([]);
    expect(during.length).toBeGreaterThan(10);
    expect(running.samples.filter((sample) => sample.status >= 500 && sample.status !== 503)).toEqual([]);
    for (const sample of running.samples.filter((s) => s.status >= 300)) {
      expect(sample).toMatchObject({ status: 503, code: "NOT_READY" });
      expect(Number(sample.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(recoveryMs).not.toBeNull();
    expect(recoveryMs).toBeLessThanOrEqual(5_000);
    // Once one request succeeded, the rest followed within the same bound.
    expect(lastError === undefined || lastError.atMs - startedAt <= 5_000).toBe(true);
    // The process is alive and ready.
    expect((await latchkey.call("GET", "/readyz")).status).toBe(200);
    expect((await tokenOf("ada")).status).toBe(200);
  }, 60_000);
});
