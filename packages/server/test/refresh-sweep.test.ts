import { randomBytes } from "node:crypto";
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  UnknownRow,
} from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { usageGrainMs, usageLagMs, usageWriteEveryMs } from "../src/connections/usage-recorder.ts";
import { buildTestApp, TestClock, testKeys, type TestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import { connectTestbed, initiate, json } from "./support/connect-testbed.ts";

const accessTokenTtlSeconds = 3600;
/** Defaults: the hot path refreshes within 300 s of expiry; the sweep (every 60 s) within 360 s. */
const sweepSeconds = 60;
const refreshBeforeSeconds = 300;
/** Expiring in 330 s: not yet for the hot path, already for the sweep. */
const intoSweepWindowMs = (accessTokenTtlSeconds - refreshBeforeSeconds - 30) * 1000;
/** Expiring in 60 s: inside both windows. */
const intoRefreshWindowMs = (accessTokenTtlSeconds - 60) * 1000;

/** Counts the statements an instance's database handle runs that write usage, and its UPDATEs of connections. */
class UsageWriteCounter implements KyselyPlugin {
  count = 0;
  connectionUpdates = 0;
  transformQuery(args: PluginTransformQueryArgs) {
    const node = args.node;
    const table = JSON.stringify(
      node.kind === "InsertQueryNode" ? node.into : node.kind === "UpdateQueryNode" ? node.table : null,
    );
    if (table.includes('"connection_usage"')) this.count++;
    if (node.kind === "UpdateQueryNode" && table.includes('"connections"')) this.connectionUpdates++;
    return node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

describe(`background refresh sweep and pruning (${testDbKind()})`, () => {
  const clock = new TestClock();
  const keys = testKeys();
  const env = { LATCHKEY_REFRESH_SWEEP_SECONDS: String(sweepSeconds) };
  const bed = connectTestbed({ clock, keys, env, provider: { accessTokenTtlSeconds } });
  const { secrets, tokenOf } = bed;

  const namedUserToken = (app: TestApp, userId: string) =>
    app.call(
      "GET",
      `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/${userId}/token`,
      { token: bed.tenant.serviceKey },
    );

  async function readToken(app: TestApp, userId: string): Promise<string> {
    const body = await json<{ access_token: string }>(await namedUserToken(app, userId), 200);
    secrets.add(body.access_token);
    return body.access_token;
  }

  /** Connects the user at the provider (no token read yet). */
  async function connectOnly(userId: string, login: string): Promise<void> {
    const back = await bed.connect(await tokenOf(userId), login);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
  }

  /** Connects the user, reads the token once (the app "uses" it) and writes the usage. */
  async function connectAndUse(userId: string, login: string): Promise<string> {
    await connectOnly(userId, login);
    const token = await readToken(bed.t, userId);
    await bed.t.background.usage.flush();
    return token;
  }

  async function connectionOf(userId: string) {
    return bed.t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("app_id", "=", bed.tenant.appId)
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
  }

  /** The stored last use of the user's connection, null when none is. */
  async function usageOf(userId: string): Promise<Date | null> {
    const row = await bed.t.deps.db
      .selectFrom("connection_usage as u")
      .innerJoin("connections as c", "c.id", "u.connection_id")
      .select("u.last_used_at")
      .where("c.app_id", "=", bed.tenant.appId)
      .where("c.user_id", "=", userId)
      .executeTakeFirst();
    return row?.last_used_at ?? null;
  }

  // Each test's sweep must see that test's connections only: earlier ones would come due as the clock moves on.
  afterEach(async () => {
    bed.harness.setTokenDelay(0);
    await bed.t.deps.db.deleteFrom("connections").execute();
  });

  it("refreshes an expiring, recently used connection before anyone asks for its token", async () => {
    const before = await connectAndUse("alice", "alice-login");
    const used = await connectionOf("alice");
    expect(await usageOf("alice")).not.toBeNull();
    clock.advance(intoSweepWindowMs);
    bed.harness.resetCounters();

    const report = await bed.t.background.sweep.runOnce();

    expect(report.claimed).toBe(1);
    expect(report.outcomes.fresh).toBe(1);
    expect(bed.harness.counters.refreshGrants).toBe(1);
    const row = await connectionOf("alice");
    expect(row.version).toBe(used.version + 1);
    expect(row.expires_at?.getTime()).toBeGreaterThan(clock.now().getTime() + 3000_000);
    // The next request is served as read: the new token, no provider call.
    const after = await readToken(bed.t, "alice");
    expect(after).not.toBe(before);
    expect(await bed.harness.userinfoSub(after)).toBe("alice-login");
    expect(bed.harness.counters.tokenRequests).toBe(1);
    // Refreshed: not due again at the next run.
    expect((await bed.t.background.sweep.runOnce()).claimed).toBe(0);
    expect(bed.harness.counters.tokenRequests).toBe(1);
  });

  it("leaves alone connections never used, or not used within the window, and tokens not yet due", async () => {
    await connectOnly("bob", "bob-login");
    await connectAndUse("carl", "carl-login");
    await connectAndUse("cora", "cora-login");
    bed.harness.resetCounters();
    // cora's token expires in an hour: nothing to do yet.
    expect((await bed.t.background.sweep.runOnce()).claimed).toBe(0);

    // A day and a bit later (past the window widened by the recorder's lag) cora is read again, on
    // another instance, carl is not; every token has expired.
    clock.advance(86_400_000 + usageLagMs(86_400) + 60_000);
    const cora = await connectionOf("cora");
    await bed.t.deps.db
      .updateTable("connection_usage")
      .set({ last_used_at: clock.now() })
      .where("connection_id", "=", cora.id)
      .execute();
    const report = await bed.t.background.sweep.runOnce();

    expect(report.claimed).toBe(1);
    expect(bed.harness.counters.refreshGrants).toBe(1);
    expect((await connectionOf("bob")).version).toBe(0);
    expect(await usageOf("bob")).toBeNull();
    expect((await connectionOf("carl")).refreshed_at).toBeNull();
    expect((await connectionOf("cora")).refreshed_at).not.toBeNull();
  });

  it("refreshes a due connection exactly once when 3 instances sweep the same database at once", async () => {
    const others = [await bed.extraInstance(), await bed.extraInstance()];
    await connectAndUse("dana", "dana-login");
    clock.advance(intoSweepWindowMs);
    bed.harness.resetCounters();
    // A slow token endpoint keeps the refresh in flight while the other instances run their sweeps.
    bed.harness.setTokenDelay(300);

    const reports = await Promise.all([bed.t, ...others].map((instance) => instance.background.sweep.runOnce()));

    expect(reports.map((report) => report.claimed).reduce((a, b) => a + b, 0)).toBe(1);
    expect(bed.harness.counters.tokenRequests).toBe(1);
    expect(bed.harness.counters.refreshGrants).toBe(1);
    const row = await connectionOf("dana");
    expect(row.refreshed_at).not.toBeNull();
    expect(row.sweep_claimed_until?.getTime()).toBeGreaterThan(clock.now().getTime());
  });

  it("makes one provider call when the sweep and concurrent token requests on 3 instances meet", async () => {
    const others = [await bed.extraInstance(), await bed.extraInstance()];
    const instances = [bed.t, ...others];
    await connectAndUse("emma", "emma-login");
    clock.advance(intoRefreshWindowMs);
    bed.harness.resetCounters();
    bed.harness.setTokenDelay(300);

    const [responses, reports] = await Promise.all([
      Promise.all(
        Array.from({ length: 12 }, (_, i) => namedUserToken(instances[i % instances.length] as TestApp, "emma")),
      ),
      Promise.all(instances.map((instance) => instance.background.sweep.runOnce())),
    ]);

    const bodies = await Promise.all(responses.map((response) => json<{ access_token: string }>(response, 200)));
    const tokens = new Set(bodies.map((body) => body.access_token));
    for (const token of tokens) secrets.add(token);
    expect(tokens.size).toBe(1);
    expect(bed.harness.counters.tokenRequests).toBe(1);
    expect(bed.harness.counters.refreshGrants).toBe(1);
    expect(reports.map((report) => report.claimed).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    const [token] = [...tokens];
    expect(await bed.harness.userinfoSub(token ?? "")).toBe("emma-login");
  });

  it("marks a revoked grant needs_reauth in the sweep, so the next request gets 409 without a provider call", async () => {
    await connectAndUse("finn", "finn-login");
    await bed.harness.revokeGrantsOf("finn-login");
    clock.advance(intoSweepWindowMs);
    bed.harness.resetCounters();

    const report = await bed.t.background.sweep.runOnce();

    expect(report.outcomes.needs_reauth).toBe(1);
    const row = await connectionOf("finn");
    expect(row.status).toBe("needs_reauth");
    expect(row.needs_reauth_reason).toBe("invalid_grant");
    expect(bed.harness.counters.tokenRequests).toBe(1);
    const answer = await json<{ error: { code: string } }>(await namedUserToken(bed.t, "finn"), 409);
    expect(answer.error.code).toBe("CONNECTION_NEEDS_REAUTH");
    expect(bed.harness.counters.tokenRequests).toBe(1);
    // Known dead: the sweep does not try again.
    expect((await bed.t.background.sweep.runOnce()).claimed).toBe(0);
  });

  it("keeps a cooling-down connection out of the sweep after a provider outage, then refreshes it", async () => {
    await connectAndUse("gina", "gina-login");
    clock.advance(intoSweepWindowMs);
    bed.harness.resetCounters();
    bed.harness.setOutage("error");
    try {
      const failed = await bed.t.background.sweep.runOnce();
      expect(failed.outcomes.failed).toBe(1);
      expect((await connectionOf("gina")).status).toBe("active");
      // Within the cooldown (and the lease): not claimed again.
      expect((await bed.t.background.sweep.runOnce()).claimed).toBe(0);
      expect(bed.harness.counters.tokenRequests).toBe(1);
    } finally {
      bed.harness.setOutage(null);
    }
    // Past cooldown and lease, still due: refreshed.
    clock.advance(2 * sweepSeconds * 1000);
    const healed = await bed.t.background.sweep.runOnce();
    expect(healed.outcomes.fresh).toBe(1);
    expect(bed.harness.counters.refreshGrants).toBe(1);
    expect((await connectionOf("gina")).refresh_cooldown_until).toBeNull();
  });

  it("prunes expired OAuth states in bounded batches and keeps live ones", async () => {
    const { workspaceId, appId, connectorId } = bed.tenant;
    const expired = Array.from({ length: 1_100 }, () => ({
      state_hash: randomBytes(32).toString("hex"),
      workspace_id: workspaceId,
      app_id: appId,
      connector_id: connectorId,
      owner_type: "user" as const,
      user_id: "abandoned",
      return_to: "https://app.example.test/",
      code_verifier: null,
      nonce: null,
      expires_at: new Date(clock.now().getTime() - 1000),
    }));
    await bed.t.deps.db.insertInto("oauth_states").values(expired).execute();
    // A flow started now is live and stays.
    await initiate(bed.t, bed.tenant, await tokenOf("hugo"));
    const statesOf = async (userId: string) =>
      Number(
        (
          await bed.t.deps.db
            .selectFrom("oauth_states")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .where("user_id", "=", userId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    // Starting that flow pruned a first batch of 100 itself.
    expect(await statesOf("abandoned")).toBe(1_000);

    const report = await bed.t.background.sweep.runOnce();

    expect(report.pruned.oauth_states).toBe(1_000);
    expect(await statesOf("abandoned")).toBe(0);
    expect(await statesOf("hugo")).toBe(1);
    expect(await bed.t.metrics.render()).toMatch(/latchkey_pruned_rows_total\{table="oauth_states"\} 1000/);
  });

  it("keeps a connection read within the window due while its stored use is up to a grain older", async () => {
    await connectAndUse("lena", "lena-login");
    const stored = await usageOf("lena");
    // 50 minutes later (the token not yet in the hot path's refresh window) it is read again: the
    // stored use is within the grain, so it is not written again.
    clock.advance(50 * 60_000);
    await bed.t.background.usage.flush();
    await readToken(bed.t, "lena");
    await bed.t.background.usage.flush();
    expect(await usageOf("lena")).toEqual(stored);

    // Just under a day after that read (the stored use is a day and 49 minutes old), its token long expired.
    clock.advance(86_400_000 - 60_000);
    bed.harness.resetCounters();
    const report = await bed.t.background.sweep.runOnce();

    expect(report.claimed).toBe(1);
    expect(report.outcomes.fresh).toBe(1);
    expect(bed.harness.counters.refreshGrants).toBe(1);
  });

  it("batches usage writes: one UPDATE and one INSERT per flush for many reads, no write within the grain, none to connections", async () => {
    await connectOnly("ivan", "ivan-login");
    await connectOnly("jade", "jade-login");
    const counter = new UsageWriteCounter();
    const database = { ...bed.t.database, db: bed.t.deps.db.withPlugin(counter) };
    // A window of 6,000 s makes the grain 10 minutes: past it, the tokens (1 h) are still served as read.
    const usedWithinSeconds = 6_000;
    const instance = buildTestApp({
      database,
      clock,
      keys,
      env: { ...env, LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS: String(usedWithinSeconds) },
    });
    const readBoth = async (times: number) => {
      for (let i = 0; i < times; i++) await Promise.all([readToken(instance, "ivan"), readToken(instance, "jade")]);
    };

    await readBoth(10);
    expect(counter.count).toBe(0);
    await instance.background.usage.flush();
    expect(counter.count).toBe(2);
    const written = await usageOf("ivan");
    expect(written).not.toBeNull();
    expect(await usageOf("jade")).toEqual(written);

    // Within a minute of the write: more reads, nothing sent.
    await readBoth(10);
    await instance.background.usage.flush();
    expect(counter.count).toBe(2);

    // A minute later, read again: sent (one UPDATE, one INSERT), but the stored use is within the grain.
    clock.advance(usageWriteEveryMs + 1000);
    await instance.background.usage.flush();
    await readBoth(5);
    await instance.background.usage.flush();
    expect(counter.count).toBe(4);
    expect(await usageOf("ivan")).toEqual(written);

    // A grain after the write, read again: written.
    clock.advance(usageGrainMs(usedWithinSeconds));
    await instance.background.usage.flush();
    await readBoth(1);
    await instance.background.usage.flush();
    expect(counter.count).toBe(6);
    expect((await usageOf("ivan"))?.getTime()).toBeGreaterThan(written?.getTime() ?? 0);
    expect(await usageOf("jade")).toEqual(await usageOf("ivan"));

    // Nothing read: nothing written. And no read wrote the connections table.
    await instance.background.usage.flush();
    expect(counter.count).toBe(6);
    expect(counter.connectionUpdates).toBe(0);
    await instance.background.stop();
  });

  it("runs on its own timer once started, and stops cleanly", async () => {
    const instance = await bed.extraInstance({ clock, keys, env: { LATCHKEY_REFRESH_SWEEP_SECONDS: "1" } });
    await connectAndUse("kate", "kate-login");
    // Expiring in 250 s: inside the hot path's window too, but nobody reads it.
    clock.advance((accessTokenTtlSeconds - 250) * 1000);
    bed.harness.resetCounters();

    instance.background.start();
    try {
      const deadline = Date.now() + 10_000;
      while ((await connectionOf("kate")).refreshed_at === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await instance.background.stop();
    }
    expect((await connectionOf("kate")).refreshed_at).not.toBeNull();
    expect(bed.harness.counters.refreshGrants).toBe(1);
    expect(instance.logs.text).toContain("background sweep refreshed and pruned");
  }, 30_000);

  it("writes no token, secret, key or code to the logs", () => {
    const text = bed.t.logs.text;
    expect(text.length).toBeGreaterThan(0);
    expect(secrets.foundIn(text)).toEqual([]);
  });
});
