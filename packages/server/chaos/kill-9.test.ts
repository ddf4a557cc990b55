/**
 * kill -9 of an instance while its refresh waits on the provider (it holds the row's
 * `SELECT … FOR UPDATE` meanwhile). Three cases:
 *
 * 1. The provider has not processed the request (it hangs): the dead backend's session ends
 *    with the process, its lock with it, and a surviving instance refreshes and serves.
 * 2. The one window where a rotated refresh token can be lost is "the provider has rotated it,
 *    the new one is not committed yet": measured here on normal refreshes.
 * 3. A kill inside that window (the provider processes the request after its client died, as
 *    a real server does) loses the rotated token; the survivor's refresh spends the old one,
 *    the provider's reuse detection revokes the grant, and only then is it needs_reauth.
 */
import { sql } from "kysely";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectUser, createTenant, type Tenant, userToken } from "../test/support/connect-testbed.ts";
import { type AuthorizationServer, startAuthorizationServer } from "../test/support/oidc-provider.ts";
import { type ChaosBed, report, since, startChaosBed, waitFor } from "./support/chaos-bed.ts";
import type { LatchkeyProcess } from "./support/latchkey-process.ts";
import { openRows, type Rows } from "./support/rows.ts";

/** Every token read refreshes: a 1-hour token is always inside a 1-hour refresh window. */
const alwaysRefresh = { LATCHKEY_REFRESH_BEFORE_SECONDS: "3600" };

describe("kill -9 of an instance while its refresh waits on the provider", () => {
  let bed: ChaosBed;
  let harness: AuthorizationServer;
  let a: LatchkeyProcess;
  let b: LatchkeyProcess;
  let tenant: Tenant;
  let rows: Rows;

  beforeAll(async () => {
    bed = await startChaosBed();
    harness = await startAuthorizationServer();
    a = await bed.instance("a", alwaysRefresh);
    b = await bed.instance("b", alwaysRefresh);
    tenant = await createTenant(a, harness);
    await connectUser(a, harness, tenant, await userToken(a, tenant, "ada"), "ada");
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
  }, 120_000);
  afterAll(async () => {
    harness?.setOutage(null);
    await rows?.close();
    await bed?.close();
    await harness?.close();
  });

  const tokenVia = (instance: LatchkeyProcess) =>
    instance
      .call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/ada/token`, {
        token: tenant.serviceKey,
        signal: AbortSignal.timeout(30_000),
      })
      .then(
        async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }),
        (error: Error) => ({ status: 0, body: { transport: error.message } as Record<string, unknown> }),
      );

  const version = async () =>
    Number(
      (await sql<{ version: number }>`select version from connections where user_id = 'ada'`.execute(rows.database.db))
        .rows[0]?.version,
    );

  it("while the provider has not answered: the lock dies with the process, a survivor refreshes and serves", async () => {
    const before = await rows.connection("ada");
    harness.resetCounters();
    harness.setOutage("hang");
    const dying = tokenVia(a);
    await waitFor(async () => harness.counters.tokenRequests === 1, 10_000);
    // a holds the row lock across the provider call.
    const held = await rows.locksOnConnections();
    const lockPids = [...new Set(held.filter((lock) => lock.granted).map((lock) => lock.pid))];
    expect(lockPids.length).toBeGreaterThan(0);
    // b asks meanwhile: it waits for the row behind a's lock.
    const survivor = tokenVia(b);
    await sleep(300);
    a.kill("SIGKILL");
    const killedAt = performance.now();
    harness.setOutage(null);
    const served = await survivor;
    const servedMs = since(killedAt);
    const locksGoneMs = await waitFor(async () => {
      const locks = await rows.locksOnConnections();
      const backends = await rows.backends();
      return (
        locks.every((lock) => !lockPids.includes(lock.pid)) &&
        backends.every((backend) => !lockPids.includes(backend.pid))
      );
    }, 10_000);
    const after = await rows.connection("ada");
    report("kill -9 before the provider answered", {
      dead_backend_pids: lockPids,
      survivor_served_ms_after_kill: servedMs,
      dead_locks_gone_ms_after_served: locksGoneMs,
      provider_refresh_grants: harness.counters.refreshGrants,
      version: `${before.row.version} -> ${after.row.version}`,
    });

    expect((await dying).status).toBe(0);
    expect(await a.exited).toMatchObject({ signal: "SIGKILL" });
    expect(served).toMatchObject({ status: 200, body: { access_token: after.accessToken } });
    expect(servedMs).toBeLessThan(5_000);
    expect(await rows.locksOnConnections()).toEqual([]);
    // The survivor spent the stored refresh token once; the provider's newest one is stored.
    expect(harness.counters.refreshGrants).toBe(1);
    expect(after.row.version).toBe(before.row.version + 1);
    expect(await harness.isRefreshTokenActive(after.refreshToken ?? "")).toBe(true);
    expect(await harness.isRefreshTokenActive(before.refreshToken ?? "")).toBe(false);
  }, 60_000);

  it("the window where a rotated token can be lost (provider answered, commit not done) is small", async () => {
    const windows: number[] = [];
    for (let i = 0; i < 10; i++) {
      const grants = harness.counters.refreshGrants;
      const was = await version();
      const request = tokenVia(b);
      await waitFor(async () => harness.counters.refreshGrants > grants, 10_000, 1);
      const rotatedAt = performance.now();
      await waitFor(async () => (await version()) > was, 10_000, 1);
      windows.push(since(rotatedAt));
      expect((await request).status).toBe(200);
    }
    windows.sort((x, y) => x - y);
    const p50 = windows[Math.floor(windows.length / 2)] ?? Number.NaN;
    const max = windows[windows.length - 1] ?? Number.NaN;
    report("rotation-to-commit window", { samples_ms: windows, p50_ms: p50, max_ms: max });
    expect(p50).toBeLessThan(250);
    expect(max).toBeLessThan(1_000);
  }, 120_000);

  it("a kill inside that window loses the rotated token: the survivor gets needs_reauth from a real dead-grant answer", async () => {
    const c = await bed.instance("c", alwaysRefresh);
    harness.resetCounters();
    // The provider has read the request and processes it after 1.5 s, whether its client lives or not.
    harness.setTokenDelay(1_500);
    const dying = tokenVia(c);
    await waitFor(async () => harness.counters.tokenRequests === 1, 10_000);
    c.kill("SIGKILL");
    await waitFor(async () => harness.counters.refreshGrants === 1, 10_000);
    harness.setTokenDelay(0);
    // Nothing stayed locked: the survivor is answered at once.
    const start = performance.now();
    const survivor = await tokenVia(b);
    report("kill -9 inside the window", {
      survivor_answer: survivor,
      survivor_ms: since(start),
      provider_grants_revoked: harness.counters.grantsRevoked,
    });
    expect((await dying).status).toBe(0);
    expect(survivor).toMatchObject({ status: 409, body: { error: { code: "CONNECTION_NEEDS_REAUTH" } } });
    // needs_reauth came from the provider's answer: it saw the spent token reused and revoked the grant.
    expect(harness.counters.grantsRevoked).toBe(1);
    expect(harness.counters.failedRefreshGrants).toBe(1);
    expect((await rows.connection("ada")).row).toMatchObject({
      status: "needs_reauth",
      needs_reauth_reason: "invalid_grant",
    });
  }, 60_000);
});
