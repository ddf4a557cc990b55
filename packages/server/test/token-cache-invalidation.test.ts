import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessTokenContext, decryptAccessToken } from "../src/connections/connection-store.ts";
import { rotateKeys } from "../src/vault/rotate-keys.ts";
import { Vault } from "../src/vault/vault.ts";
import { connectShared, connectTestbed, json, type Tenant } from "./support/connect-testbed.ts";
import { extraInstance, type ExtraInstance } from "./support/multi-instance.ts";
import { parseExposition } from "./support/prometheus-text.ts";
import { TestClock, type TestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";

/**
 * Issue 12: every instance keeps token answers in memory, and every change that must be seen
 * reaches every instance through the database (LISTEN/NOTIFY on PostgreSQL, each extra instance
 * with its own pool and listener as a separate process would have). Instance 1 makes the
 * changes; instances 2 and 3 must have been serving from their caches before, and must answer
 * the changed state within 100 ms (p99). Caches are on: service keys for 300 s here, so only
 * the change feed can make a revocation visible in time.
 */
describe(`token cache invalidation across 3 instances (${testDbKind()})`, () => {
  const clock = new TestClock();
  // Instances encrypt with k1 and can read k2: key rotation moves values to k2 under them.
  const k1 = { id: "k1", key: randomBytes(32) };
  const k2 = { id: "k2", key: randomBytes(32) };
  const keys = [k1, k2];
  const cached = { LATCHKEY_SERVICE_KEY_CACHE_SECONDS: "300" };
  // Instance 1 refreshes any token older than a second on read, so a read there is a real refresh.
  const bed = connectTestbed({
    clock,
    keys,
    env: { ...cached, LATCHKEY_REFRESH_BEFORE_SECONDS: "3599" },
    provider: { accessTokenTtlSeconds: 3600 },
  });
  const extras: ExtraInstance[] = [];
  let readers: TestApp[] = [];
  const latencies: number[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) extras.push(await extraInstance(bed.t, { clock, keys, env: cached }));
    readers = extras.map((extra) => extra.app);
  }, 60_000);
  afterAll(async () => {
    for (const extra of extras) await extra.close();
  });

  const tokenPath = (tenant: Tenant, userId: string) =>
    `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${userId}/token`;

  /** What a token answer says: `200:<token>` or `<status>:<code>`. */
  async function summary(response: Response): Promise<string> {
    const body = (await response.json()) as { access_token?: string; error?: { code?: string } };
    return `${response.status}:${body.access_token ?? body.error?.code ?? "?"}`;
  }

  /** What an instance answers for a user's token. */
  async function answer(app: TestApp, userId: string, tenant = bed.tenant, serviceKey = tenant.serviceKey) {
    return summary(await app.call("GET", tokenPath(tenant, userId), { token: serviceKey }));
  }

  async function cacheFigure(app: TestApp, name: string, result?: string): Promise<number> {
    const family = parseExposition(await app.metrics.render()).get(name);
    const sample = family?.samples.find((s) => result === undefined || s.labels.result === result);
    return sample?.value ?? 0;
  }

  /**
   * Each reader answers `expected`, and soon from its cache: a read that filled it is followed by
   * a hit. (A fill is skipped when any change arrives during its read, such as the notifications
   * of the writes just made, so it may take a few reads.)
   */
  async function expectServedFromCache(probe: (app: TestApp) => Promise<string>, expected: string) {
    for (const app of readers) {
      const hits = await cacheFigure(app, "latchkey_token_cache_lookups", "hit");
      for (let read = 0; ; read++) {
        expect(await probe(app)).toBe(expected);
        if ((await cacheFigure(app, "latchkey_token_cache_lookups", "hit")) > hits) break;
        expect(read, "no cache hit after 50 reads").toBeLessThan(50);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
  }

  /**
   * Makes the change on instance 1, then reads on every reader until it answers what the change
   * says it must (yielding to the event loop between reads, where notifications arrive). Records
   * the time from the change's commit to the first such answer, per reader.
   */
  async function visibleOnEveryReader(
    change: () => Promise<string>,
    probe: (app: TestApp) => Promise<string>,
  ): Promise<number[]> {
    const expected = await change();
    // From the writer's commit acknowledged: what another instance's client could observe.
    const started = performance.now();
    const seen = await Promise.all(
      readers.map(async (app) => {
        for (;;) {
          const got = await probe(app);
          if (got === expected) return performance.now() - started;
          if (performance.now() - started > 5_000) throw new Error(`still ${got}, not ${expected}, after 5 s`);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    latencies.push(...seen);
    return seen;
  }

  async function storedToken(tenant: Tenant, userId: string): Promise<string> {
    const row = await bed.t.deps.db
      .selectFrom("connections")
      .select(["id", "access_token"])
      .where("app_id", "=", tenant.appId)
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
    return decryptAccessToken(bed.t.deps.vault, row);
  }

  async function connect(userId: string, login: string, tenant = bed.tenant): Promise<string> {
    const back = await bed.connect(await bed.tokenOf(userId, tenant), login, tenant);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    return storedToken(tenant, userId);
  }

  it("sees a refresh, needs_reauth, a reconnect and a disconnect made on another instance", async () => {
    const first = await connect("alice", "alice-login");
    const alice = (app: TestApp) => answer(app, "alice");
    await expectServedFromCache(alice, `200:${first}`);

    // Refresh: a read on instance 1, where the token is inside its refresh window.
    clock.advance(2_000);
    await visibleOnEveryReader(async () => {
      const refreshed = await answer(bed.t, "alice");
      expect(refreshed).not.toBe(`200:${first}`);
      return refreshed;
    }, alice);
    const second = await storedToken(bed.tenant, "alice");
    expect(second).not.toBe(first);
    await expectServedFromCache(alice, `200:${second}`);

    // needs_reauth: the provider revoked the grant; the next refresh on instance 1 finds out.
    await bed.harness.revokeGrantsOf("alice-login");
    clock.advance(2_000);
    await visibleOnEveryReader(async () => {
      expect(await answer(bed.t, "alice")).toBe("409:CONNECTION_NEEDS_REAUTH");
      return "409:CONNECTION_NEEDS_REAUTH";
    }, alice);

    // Reconnect: active again with a new token.
    let third = "";
    await visibleOnEveryReader(async () => {
      third = await connect("alice", "alice-login");
      return `200:${third}`;
    }, alice);
    await expectServedFromCache(alice, `200:${third}`);

    // Disconnect by the user, on instance 1.
    const userToken = await bed.tokenOf("alice");
    await visibleOnEveryReader(async () => {
      const response = await bed.t.call(
        "DELETE",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}`,
        { token: userToken },
      );
      expect(response.status).toBe(204);
      return "404:CONNECTION_NOT_FOUND";
    }, alice);
  });

  it("sees a connector disabled and enabled again", async () => {
    const token = await connect("bob", "bob-login");
    const bob = (app: TestApp) => answer(app, "bob");
    await expectServedFromCache(bob, `200:${token}`);
    const setStatus = async (status: "enabled" | "disabled") => {
      const response = await bed.t.call(
        "PATCH",
        `/api/workspaces/${bed.tenant.workspaceId}/connectors/${bed.tenant.connectorId}`,
        { token: bed.tenant.adminKey, body: { status } },
      );
      await json(response, 200);
    };
    await visibleOnEveryReader(async () => {
      await setStatus("disabled");
      return "404:CONNECTION_NOT_FOUND";
    }, bob);
    await visibleOnEveryReader(async () => {
      await setStatus("enabled");
      return `200:${token}`;
    }, bob);
    await expectServedFromCache(bob, `200:${token}`);
  });

  it("sees an encryption-key rotation rewrite the tokens it holds, and still answers them", async () => {
    const token = await storedToken(bed.tenant, "bob");
    const bob = (app: TestApp) => answer(app, "bob");
    await expectServedFromCache(bob, `200:${token}`);
    for (const app of readers) expect(await cacheFigure(app, "latchkey_token_cache_entries")).toBeGreaterThan(0);
    const report = await rotateKeys({ db: bed.t.deps.db, vault: new Vault([k2, k1]), logger: bed.t.deps.logger });
    const started = performance.now();
    expect(report.find((column) => column.column === "connections.access_token")?.rewrapped).toBeGreaterThan(0);
    for (const app of readers) {
      while ((await cacheFigure(app, "latchkey_token_cache_entries")) > 0) {
        expect(performance.now() - started).toBeLessThan(5_000);
        await new Promise((resolve) => setImmediate(resolve));
      }
      latencies.push(performance.now() - started);
    }
    const stored = await bed.t.deps.db
      .selectFrom("connections")
      .select("access_token")
      .where("app_id", "=", bed.tenant.appId)
      .where("user_id", "=", "bob")
      .executeTakeFirstOrThrow();
    expect(stored.access_token).toContain("k2");
    await expectServedFromCache(bob, `200:${token}`);
  });

  it("sees a service key revoked, although verified keys are cached for 300 s", async () => {
    const keysPath = `/api/workspaces/${bed.tenant.workspaceId}/apps/${bed.tenant.appId}/service-keys`;
    const created = await json<{ service_key: string; key: { id: string } }>(
      await bed.t.call("POST", keysPath, { token: bed.tenant.adminKey, body: { name: "soon revoked" } }),
      201,
    );
    bed.secrets.add(created.service_key);
    const token = await storedToken(bed.tenant, "bob");
    const withKey = (app: TestApp) => answer(app, "bob", bed.tenant, created.service_key);
    await expectServedFromCache(withKey, `200:${token}`);
    await visibleOnEveryReader(async () => {
      const response = await bed.t.call("DELETE", `${keysPath}/${created.key.id}`, { token: bed.tenant.adminKey });
      expect(response.status).toBe(204);
      return "401:UNAUTHENTICATED";
    }, withKey);
  });

  it("sees an app's identity and origins changed: the old user tokens stop working on-behalf-of", async () => {
    const tenant = await bed.newTenant();
    bed.secrets.add(tenant.serviceKey, tenant.adminKey, tenant.clientSecret);
    const token = await connect("carol", "carol-login", tenant);
    const userToken = await bed.tokenOf("carol", tenant);
    const onBehalfOf = async (app: TestApp) => {
      const response = await app.call(
        "GET",
        `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/token`,
        { token: tenant.serviceKey, headers: { "on-behalf-of": `Bearer ${userToken}` } },
      );
      return summary(response);
    };
    await expectServedFromCache(onBehalfOf, `200:${token}`);
    await visibleOnEveryReader(async () => {
      const response = await bed.t.call("PATCH", `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}`, {
        token: tenant.adminKey,
        body: {
          identity: { type: "hs256", secret: randomBytes(32).toString("base64url") },
          allowed_return_origins: ["https://elsewhere.example.test"],
        },
      });
      await json(response, 200);
      return "401:INVALID_USER_TOKEN";
    }, onBehalfOf);
  });

  it("sees a connector deleted with its connections", async () => {
    const tenant = await bed.newTenant();
    bed.secrets.add(tenant.serviceKey, tenant.adminKey, tenant.clientSecret);
    const token = await connect("dave", "dave-login", tenant);
    const dave = (app: TestApp) => answer(app, "dave", tenant);
    await expectServedFromCache(dave, `200:${token}`);
    await visibleOnEveryReader(async () => {
      const response = await bed.t.call(
        "DELETE",
        `/api/workspaces/${tenant.workspaceId}/connectors/${tenant.connectorId}`,
        { token: tenant.adminKey },
      );
      expect(response.status).toBe(204);
      return "404:CONNECTION_NOT_FOUND";
    }, dave);
  });

  it("sees the shared connection a provider name picks (Base44 getConnection) reconnected and disconnected", async () => {
    const tenant = await bed.newTenant();
    bed.secrets.add(tenant.serviceKey, tenant.adminKey, tenant.clientSecret);
    const byProvider = async (app: TestApp) => {
      const response = await app.call("GET", `/api/apps/${tenant.appId}/external-auth/tokens/oidc`, {
        token: tenant.serviceKey,
      });
      return summary(response);
    };
    await connectShared(bed.t, bed.harness, tenant, "shared-one");
    await expectServedFromCache(byProvider, `200:${await storedToken(tenant, "")}`);
    await visibleOnEveryReader(async () => {
      await connectShared(bed.t, bed.harness, tenant, "shared-two");
      return `200:${await storedToken(tenant, "")}`;
    }, byProvider);
    await expectServedFromCache(byProvider, `200:${await storedToken(tenant, "")}`);
    await visibleOnEveryReader(async () => {
      const response = await bed.t.call(
        "DELETE",
        `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}/connectors/${tenant.connectorId}/connection`,
        { token: tenant.adminKey },
      );
      expect(response.status).toBe(204);
      return "404:CONNECTION_NOT_FOUND";
    }, byProvider);
  });

  it("makes every change visible on every instance within 100 ms at p99, over many changes", async () => {
    const tenant = await bed.newTenant();
    bed.secrets.add(tenant.serviceKey, tenant.adminKey, tenant.clientSecret);
    const original = await connect("erin", "erin-login", tenant);
    const erin = (app: TestApp) => answer(app, "erin", tenant);
    const row = await bed.t.deps.db
      .selectFrom("connections")
      .select("id")
      .where("app_id", "=", tenant.appId)
      .where("user_id", "=", "erin")
      .executeTakeFirstOrThrow();
    const hitsBefore = await Promise.all(readers.map((app) => cacheFigure(app, "latchkey_token_cache_lookups", "hit")));
    const rounds = 40;
    const setStatus = async (status: "enabled" | "disabled") =>
      json(
        await bed.t.call("PATCH", `/api/workspaces/${tenant.workspaceId}/connectors/${tenant.connectorId}`, {
          token: tenant.adminKey,
          body: { status },
        }),
        200,
      );
    for (let round = 0; round < rounds; round++) {
      // A new token, written as a refresh would write it.
      const next = `tok-${round}-${randomBytes(8).toString("hex")}`;
      await visibleOnEveryReader(async () => {
        await bed.t.deps.db
          .updateTable("connections")
          .set({ access_token: bed.t.deps.vault.encrypt(next, accessTokenContext(row.id)) })
          .where("id", "=", row.id)
          .execute();
        return `200:${next}`;
      }, erin);
      // Read again so the next change finds it in the caches.
      for (const app of readers) await erin(app);
      await visibleOnEveryReader(async () => {
        await setStatus("disabled");
        return "404:CONNECTION_NOT_FOUND";
      }, erin);
      await visibleOnEveryReader(async () => {
        await setStatus("enabled");
        return `200:${next}`;
      }, erin);
      for (const app of readers) await erin(app);
    }
    expect(original).not.toBe(await storedToken(tenant, "erin"));
    const hitsAfter = await Promise.all(readers.map((app) => cacheFigure(app, "latchkey_token_cache_lookups", "hit")));
    readers.forEach((_, i) => {
      expect((hitsAfter[i] ?? 0) - (hitsBefore[i] ?? 0)).toBeGreaterThanOrEqual(rounds / 2);
    });

    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
    console.log(
      `[token cache] change → visible on 2 other instances (${testDbKind()}): ${sorted.length} samples, ` +
        `p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${at(1).toFixed(1)} ms`,
    );
    expect(sorted.length).toBeGreaterThanOrEqual(rounds * 3 * readers.length);
    // The bound of issue 12 is for separate instances on PostgreSQL. Embedded, the instances share
    // one database handle and its feed, so a change is dropped from every cache synchronously;
    // what the figure measures there is the re-read queued on PGlite's single connection.
    if (testDbKind() === "postgres") expect(at(0.99)).toBeLessThan(100);
  }, 120_000);

  it.skipIf(testDbKind() !== "postgres")(
    "bypasses the cache while its LISTEN connection is down (pg_terminate_backend) and serves nothing stale",
    async () => {
      const extra = extras[0];
      if (!extra) throw new Error("no extra instance");
      const reader = extra.app;
      const feed = extra.database.changes;
      const listener = extra.database.listener;
      const tenant = await bed.newTenant();
      bed.secrets.add(tenant.serviceKey, tenant.adminKey, tenant.clientSecret);
      const before = await connect("frank", "frank-login", tenant);
      const frankOn = (app: TestApp) => answer(app, "frank", tenant);
      const frank = () => frankOn(reader);
      expect(await frank()).toBe(`200:${before}`);
      expect(await frank()).toBe(`200:${before}`);
      const pid = listener?.pid;
      expect(pid).toBeTypeOf("number");
      const row = await bed.t.deps.db
        .selectFrom("connections")
        .select("id")
        .where("app_id", "=", tenant.appId)
        .where("user_id", "=", "frank")
        .executeTakeFirstOrThrow();

      const terminated = await sql<{ ok: boolean }>`select pg_terminate_backend(${pid}) as ok`.execute(bed.t.deps.db);
      expect(terminated.rows[0]?.ok).toBe(true);
      const waitUntil = async (condition: () => boolean) => {
        const started = performance.now();
        while (!condition()) {
          expect(performance.now() - started).toBeLessThan(5_000);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      };
      await waitUntil(() => !feed.live);
      // Written while that instance cannot hear it: its cache must not answer the old token now.
      const after = `tok-after-drop-${randomBytes(8).toString("hex")}`;
      await bed.t.deps.db
        .updateTable("connections")
        .set({ access_token: bed.t.deps.vault.encrypt(after, accessTokenContext(row.id)) })
        .where("id", "=", row.id)
        .execute();
      const bypassedBefore = await cacheFigure(reader, "latchkey_token_cache_lookups", "bypass");
      const answers = new Set<string>();
      while (!feed.live) {
        answers.add(await frank());
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      expect(answers).toEqual(new Set([`200:${after}`]));
      expect(await cacheFigure(reader, "latchkey_token_cache_lookups", "bypass")).toBeGreaterThan(bypassedBefore);
      expect(await cacheFigure(reader, "latchkey_change_feed_losses")).toBe(1);
      expect(listener?.pid).not.toBe(pid);

      // Listening again: the cache serves again, and sees the next change.
      await expectServedFromCache(frankOn, `200:${after}`);
      await visibleOnEveryReader(async () => {
        const next = `tok-after-resubscribe-${randomBytes(8).toString("hex")}`;
        await bed.t.deps.db
          .updateTable("connections")
          .set({ access_token: bed.t.deps.vault.encrypt(next, accessTokenContext(row.id)) })
          .where("id", "=", row.id)
          .execute();
        return `200:${next}`;
      }, frankOn);
    },
    30_000,
  );
});
