/**
 * The short fault suite `npm test` runs (vitest project `chaos-quick`): one case of each fault
 * family of the full suite (`npm run chaos`), on one PostgreSQL cluster of its own and two real
 * Latchkey processes, sized to finish in well under a minute on a loaded machine. Cases run in
 * order; each leaves the bed as the next expects it (the kill and SIGTERM cases come last).
 *
 * 1. Provider faults at refresh (5xx, HTML, malformed JSON, no access_token, reset, invalid_grant).
 * 2. Webhook receiver down, answering 500, hanging, then back.
 * 3. PostgreSQL stopped and started under load.
 * 4. kill -9 of an instance while its refresh waits on the provider.
 * 5. SIGTERM under load.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callback,
  callbackUrl,
  connectUser,
  createTenant,
  initiate,
  type Tenant,
  userToken,
} from "../test/support/connect-testbed.ts";
import { type AuthorizationServer, startAuthorizationServer } from "../test/support/oidc-provider.ts";
import { json, type ScriptedProvider, startScriptedProvider } from "../test/support/scripted-provider.ts";
import { WebhookReceiver } from "../test/support/webhook-receiver.ts";
import { type ChaosBed, report, since, startChaosBed, waitFor } from "./support/chaos-bed.ts";
import type { LatchkeyProcess } from "./support/latchkey-process.ts";
import { havePgBinaries, pgBin } from "./support/pg-cluster.ts";
import { openRows, type Rows } from "./support/rows.ts";
import {
  expectAllDelivered,
  fastWebhooks,
  lastEventSeq,
  makeEvents,
  outboxEmpty,
  subscribe,
} from "./support/webhook-scenario.ts";

/** Lifetime of the scripted provider's tokens: a faulty refresh is followed by an expiry soon after. */
const faultTokenSeconds = 4;
/**
 * Access tokens of the second provider live less than the default refresh window (300 s): every
 * read of its connections refreshes. The first provider's live an hour: reads of those only read.
 */
const refreshingTokenSeconds = 200;

const canRun = havePgBinaries();
if (!canRun) {
  console.log(
    `\n[latchkey] Short fault suite SKIPPED: no initdb/pg_ctl in ${pgBin} (apt-get install postgresql-15, or set LATCHKEY_CHAOS_PG_BIN).\n`,
  );
}

describe.runIf(canRun)("fault suite, short version", () => {
  let bed: ChaosBed;
  let harness: AuthorizationServer;
  /** Tokens always inside the refresh window: for the kill -9 and SIGTERM cases. */
  let refreshing: AuthorizationServer;
  let scripted: ScriptedProvider;
  let receiver: WebhookReceiver;
  /**
   * Two instances (each start costs seconds on a loaded machine): k is killed mid-refresh, a
   * serves every other case, survives the kill and is sent SIGTERM last.
   */
  let a: LatchkeyProcess;
  let k: LatchkeyProcess;
  let oidcTenant: Tenant;
  let refreshingTenant: Tenant;
  let scriptedTenant: Tenant;
  let rows: Rows;
  const suiteStart = performance.now();

  beforeAll(async () => {
    [bed, harness, refreshing, scripted, receiver] = await Promise.all([
      startChaosBed(),
      startAuthorizationServer(),
      startAuthorizationServer({ accessTokenTtlSeconds: refreshingTokenSeconds }),
      startScriptedProvider(),
      WebhookReceiver.start(),
    ]);
    [a, k] = await Promise.all([bed.instance("a", fastWebhooks), bed.instance("k", fastWebhooks)]);
    scripted.answer("/token", (request) => {
      const params = new URLSearchParams(request.body);
      if (params.get("grant_type") === "authorization_code") {
        const user = params.get("code") ?? "";
        return json(200, {
          access_token: `at-${user}`,
          refresh_token: `rt-${user}`,
          token_type: "bearer",
          expires_in: faultTokenSeconds,
        });
      }
      const user = (params.get("refresh_token") ?? "").replace(/^rt-/, "");
      return providerFaults[user] ?? json(400, { error: "invalid_request" });
    });
    [oidcTenant, refreshingTenant, scriptedTenant] = await Promise.all([
      createTenant(a, harness),
      createTenant(a, refreshing),
      createTenant(a, {
        provider: "oauth2",
        client_id: "chaos-client",
        client_secret: "chaos-client-secret",
        authorization_url: `${scripted.origin}/authorize`,
        token_url: `${scripted.origin}/token`,
        scopes: ["read"],
      }),
    ]);
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
    report("quick: bed ready", { ms: since(suiteStart) });
  }, 120_000);
  afterAll(async () => {
    report("quick: total", { ms: since(suiteStart) });
    refreshing?.setOutage(null);
    await receiver?.down().catch(() => {});
    await rows?.close();
    await bed?.close();
    await scripted?.close();
    await harness?.close();
    await refreshing?.close();
  });

  const tokenRoute = (tenant: Tenant, user: string) =>
    `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${user}/token`;

  async function read(via: LatchkeyProcess, tenant: Tenant, user: string) {
    try {
      const response = await via.call("GET", tokenRoute(tenant, user), {
        token: tenant.serviceKey,
        signal: AbortSignal.timeout(20_000),
      });
      const body = (await response.json()) as { access_token?: string; error?: { code: string } };
      return { status: response.status, retryAfter: response.headers.get("retry-after"), body };
    } catch (error) {
      return { status: 0, retryAfter: null, body: { transport: (error as Error).message } };
    }
  }

  const providerFaults: Record<string, ReturnType<typeof json> | "reset"> = {
    "plain-500": { status: 500, body: "Internal Server Error" },
    "html-502": { status: 502, headers: { "content-type": "text/html" }, body: "<html><h1>502</h1></html>" },
    "malformed-json": { status: 200, headers: { "content-type": "application/json" }, body: '{"access_token": "x' },
    "no-access-token": json(200, { token_type: "bearer", expires_in: 3600, refresh_token: "rt-new" }),
    reset: "reset",
    "dead-grant": json(400, { error: "invalid_grant", error_description: "revoked" }),
  };

  it("provider faults: cached token while valid, then PROVIDER_UNAVAILABLE with Retry-After; needs_reauth only on invalid_grant", async () => {
    const users = Object.keys(providerFaults);
    const results = await Promise.all(
      users.map(async (user) => {
        const redirect = new URL(await initiate(a, scriptedTenant, await userToken(a, scriptedTenant, user)));
        const state = redirect.searchParams.get("state") ?? "";
        expect((await callback(a, new URL(`${callbackUrl}?code=${user}&state=${state}`))).status).toBe(302);
        const connectedAt = performance.now();
        const first = await read(a, scriptedTenant, user);
        if (user === "dead-grant") return { user, first, expired: first };
        await waitFor(async () => since(connectedAt) > faultTokenSeconds * 1000 + 300, 20_000, 100);
        return { user, first, expired: await read(a, scriptedTenant, user) };
      }),
    );
    report(
      "quick: provider faults",
      Object.fromEntries(results.map((r) => [r.user, [r.first.status, r.expired.status]])),
    );
    for (const { user, first, expired } of results) {
      if (user === "dead-grant") {
        expect(first).toMatchObject({ status: 409, body: { error: { code: "CONNECTION_NEEDS_REAUTH" } } });
        expect((await rows.connection(user)).row.status).toBe("needs_reauth");
        continue;
      }
      expect(first, user).toMatchObject({ status: 200, body: { access_token: `at-${user}` } });
      expect(expired, user).toMatchObject({ status: 503, body: { error: { code: "PROVIDER_UNAVAILABLE" } } });
      expect(Number(expired.retryAfter)).toBeGreaterThanOrEqual(1);
      expect((await rows.connection(user)).row.status, user).toBe("active");
      // One refresh attempt: the cooldown kept the provider from being asked again.
      const refreshes = scripted
        .requestsTo("/token")
        .filter((request) => new URLSearchParams(request.body).get("refresh_token") === `rt-${user}`);
      expect(refreshes, user).toHaveLength(1);
    }
    expect(a.output()).not.toContain("unhandled error");
  }, 60_000);

  it("webhook receiver down, answering 500, hanging, then back: every event delivered in order, as signed", async () => {
    const hook = await subscribe(a, oidcTenant, receiver.url);
    const fromSeq = await lastEventSeq(rows);
    await receiver.down();
    await makeEvents([a, k], harness, oidcTenant, ["ada", "bob"]);
    await sleep(800);
    await receiver.up();
    receiver.mode = "error";
    await waitFor(async () => receiver.received.length >= 2, 10_000);
    receiver.mode = "hang";
    await waitFor(async () => receiver.hung >= 2, 10_000);
    const okFrom = receiver.received.length;
    const back = performance.now();
    receiver.mode = "ok";
    await waitFor(() => outboxEmpty(rows, hook.id), 20_000, 100);
    const check = await expectAllDelivered(rows, hook, receiver.received.slice(okFrom), fromSeq);
    report("quick: webhooks", { ...check, delivered_ms_after_back: since(back) });
    expect(check.events).toBe(5); // 2 created, 2 updated, 1 deleted
    expect(check.delivered).toBe(5);
    // Later ones queued behind the failing first event of their connection: fewer attempts than events failed.
    expect(check.maxAttempts).toBeGreaterThan(1);
  }, 60_000);

  it("PostgreSQL stopped and started under load: only 503 NOT_READY with Retry-After, serving again within 5 s", async () => {
    await connectUser(a, harness, oidcTenant, await userToken(a, oidcTenant, "cy"), "cy-login");
    const samples: { atMs: number; status: number; code: string | null; retryAfter: string | null }[] = [];
    const failures: string[] = [];
    const start = performance.now();
    let running = true;
    const workers = Array.from({ length: 4 }, async () => {
      while (running) {
        const answer = await read(a, oidcTenant, "cy");
        if (answer.status === 0) failures.push(JSON.stringify(answer.body));
        else {
          const code = "error" in answer.body ? (answer.body.error?.code ?? null) : null;
          samples.push({ atMs: since(start), status: answer.status, code, retryAfter: answer.retryAfter });
        }
        await sleep(20);
      }
    });
    await rows.close();
    await sleep(400);
    const stoppedAt = since(start);
    await bed.pg.stop("fast");
    await sleep(1_500);
    await bed.pg.start();
    const startedAt = since(start);
    await waitFor(async () => samples.filter((s) => s.atMs > startedAt && s.status === 200).length >= 10, 10_000, 50);
    running = false;
    await Promise.all(workers);
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
    const during = samples.filter((s) => s.atMs > stoppedAt && s.atMs <= startedAt);
    const firstOk = samples.find((s) => s.atMs > startedAt && s.status === 200);
    const recoveryMs = firstOk ? firstOk.atMs - startedAt : null;
    report("quick: postgres restart", {
      requests: samples.length,
      during_outage: during.length,
      non_200: samples.filter((s) => s.status !== 200).length,
      recovery_ms: recoveryMs,
    });
    expect(failures).toEqual([]);
    expect(during.length).toBeGreaterThan(3);
    for (const sample of samples.filter((s) => s.status !== 200)) {
      expect(sample).toMatchObject({ status: 503, code: "NOT_READY" });
      expect(Number(sample.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(recoveryMs).not.toBeNull();
    expect(recoveryMs).toBeLessThanOrEqual(5_000);
    expect(a.child.exitCode).toBeNull();
  }, 60_000);

  it("kill -9 of an instance while its refresh waits on the provider: the lock dies with it, a survivor serves", async () => {
    await connectUser(k, refreshing, refreshingTenant, await userToken(k, refreshingTenant, "dee"), "dee-login");
    refreshing.resetCounters();
    refreshing.setOutage("hang");
    const dying = read(k, refreshingTenant, "dee");
    await waitFor(async () => refreshing.counters.tokenRequests === 1, 10_000, 20);
    const held = (await rows.locksOnConnections()).filter((lock) => lock.granted);
    expect(held.length).toBeGreaterThan(0);
    const survivor = read(a, refreshingTenant, "dee");
    await sleep(200);
    k.kill("SIGKILL");
    const killedAt = performance.now();
    refreshing.setOutage(null);
    const served = await survivor;
    const servedMs = since(killedAt);
    const after = await rows.connection("dee");
    report("quick: kill -9", {
      survivor_served_ms_after_kill: servedMs,
      refresh_grants: refreshing.counters.refreshGrants,
    });
    expect((await dying).status).toBe(0);
    expect(served).toMatchObject({ status: 200, body: { access_token: after.accessToken } });
    expect(servedMs).toBeLessThan(5_000);
    expect(refreshing.counters.refreshGrants).toBe(1);
    await waitFor(async () => (await rows.locksOnConnections()).length === 0, 10_000);
  }, 60_000);

  it("SIGTERM under load: requests in flight finish, the refresh is done whole, exit 0", async () => {
    const before = await rows.connection("dee");
    refreshing.resetCounters();
    refreshing.setTokenDelay(1_500);
    const start = performance.now();
    const inFlight = Array.from({ length: 4 }, () => read(a, refreshingTenant, "dee"));
    await waitFor(async () => refreshing.counters.tokenRequests === 1, 10_000, 20);
    a.kill("SIGTERM");
    const signalledAt = since(start);
    const answers = await Promise.all(inFlight);
    const exit = await a.exited;
    refreshing.setTokenDelay(0);
    const after = await rows.connection("dee");
    report("quick: sigterm", {
      statuses: answers.map((answer) => answer.status),
      exit_code: exit.code,
      exit_ms_after_signal: Math.round(exit.atMs - start) - signalledAt,
    });
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(refreshing.counters.refreshGrants).toBe(1);
    expect(after.row.version).toBe(before.row.version + 1);
    for (const answer of answers) expect(answer.body).toMatchObject({ access_token: after.accessToken });
    expect(await refreshing.isRefreshTokenActive(after.refreshToken ?? "")).toBe(true);
  }, 60_000);
});
