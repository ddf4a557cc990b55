/**
 * THREATS.md, "Floods": rate limits per key and per IP on connect and sign-in, and a lockout for
 * addresses that keep failing authentication. Real app, real database, real authorization server;
 * a TestClock moves time. Each test builds its own app instance (own, in-memory limits) on one
 * shared database, with the limits under test turned on.
 */
import { describe, expect, it } from "vitest";
import type { Clock } from "../src/kernel/clock.ts";
import { buildTestApp, testKeys, testOperatorKey, type TestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  appOrigin,
  callback,
  connectTestbed,
  connectUser,
  createLatchkeyIdentityApp,
  json,
  tableCounts,
  tokenFor,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";

const attacker = "203.0.113.66";
const bystander = "198.51.100.7";

/** Time moves only when told to, so a slow database cannot refill an allowance mid-test. */
class StoppedClock implements Clock {
  #ms = Date.now();
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
}

describe(`rate limits (${testDbKind()})`, () => {
  const keys = testKeys();
  /** Sets tenants up with every limit off; the instances under test share its database and keys. */
  const bed = connectTestbed({ keys });

  /** Another app instance with these limits (unset ones stay off, as in every test config). */
  function instance(limits: Record<string, string>): { t: TestApp; clock: StoppedClock } {
    const clock = new StoppedClock();
    return { t: buildTestApp({ database: bed.t.database, keys, clock, env: limits }), clock };
  }

  const initiatePath = (tenant: Pick<Tenant, "appId" | "connectorId">) =>
    `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/initiate`;
  const sharedInitiatePath = (tenant: Tenant) =>
    `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}/connectors/${tenant.connectorId}/initiate`;
  const from = (ip: string) => ({ "x-forwarded-for": ip });

  async function expectRateLimited(response: Response, retryAfterSeconds: number): Promise<void> {
    const body = await json<{ error: { code: string; message: string } }>(response, 429);
    expect(body.error.code).toBe("RATE_LIMITED");
    expect(body.error.message).toMatch(/try again in \d+ s$/);
    expect(response.headers.get("retry-after")).toBe(String(retryAfterSeconds));
  }

  async function initiateTimes(t: TestApp, path: string, token: string, times: number, headers = {}): Promise<void> {
    for (let i = 0; i < times; i++) await json(await t.call("POST", path, { token, headers }), 200);
  }

  describe("connect, per app user and app", () => {
    it("refuses the 31st connect in a minute with 429 and Retry-After, and writes nothing", async () => {
      const { t } = instance({ LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "30" });
      const tenant = await bed.newTenant();
      const alice = await userToken(bed.t, tenant, "alice");
      await initiateTimes(t, initiatePath(tenant), alice, 30);
      const before = await tableCounts(t);
      // 30 a minute: the next unit is back 2 s after the burst.
      const refused = await t.call("POST", initiatePath(tenant), { token: alice, headers: { origin: appOrigin } });
      await expectRateLimited(refused, 2);
      // A browser frontend may read the wait.
      expect(refused.headers.get("access-control-allow-origin")).toBe("*");
      expect(refused.headers.get("access-control-expose-headers")).toContain("Retry-After");
      await expectRateLimited(
        await t.call("POST", initiatePath(tenant), { token: alice, body: { return_to: "x" } }),
        2,
      );
      expect(await tableCounts(t)).toEqual(before);
    });

    it("leaves another user of the same app, and the same user on another app, unaffected", async () => {
      const { t } = instance({ LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "3" });
      const tenant = await bed.newTenant();
      const otherApp = { ...tenant, ...(await createLatchkeyIdentityApp(bed.t, tenant)) };
      const alice = await userToken(bed.t, tenant, "alice");
      await initiateTimes(t, initiatePath(tenant), alice, 3);
      await expectRateLimited(await t.call("POST", initiatePath(tenant), { token: alice }), 20);
      await initiateTimes(t, initiatePath(tenant), await userToken(bed.t, tenant, "bob"), 3);
      await initiateTimes(t, initiatePath(otherApp), await userToken(bed.t, otherApp, "alice"), 3);
    });

    it("works again after Retry-After, and gives the whole allowance back after a minute", async () => {
      const { t, clock } = instance({ LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "30" });
      const tenant = await bed.newTenant();
      const alice = await userToken(bed.t, tenant, "alice");
      await initiateTimes(t, initiatePath(tenant), alice, 30);
      const refused = await t.call("POST", initiatePath(tenant), { token: alice });
      await expectRateLimited(refused, 2);
      clock.advance(2_000);
      await initiateTimes(t, initiatePath(tenant), alice, 1);
      await expectRateLimited(await t.call("POST", initiatePath(tenant), { token: alice }), 2);
      clock.advance(60_000);
      await initiateTimes(t, initiatePath(tenant), alice, 30);
      await expectRateLimited(await t.call("POST", initiatePath(tenant), { token: alice }), 2);
    });

    it("limits an admin starting the app's shared connection the same way", async () => {
      const { t } = instance({ LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "2" });
      const tenant = await bed.newTenant();
      await initiateTimes(t, sharedInitiatePath(tenant), tenant.adminKey, 2);
      const before = await tableCounts(t);
      await expectRateLimited(await t.call("POST", sharedInitiatePath(tenant), { token: tenant.adminKey }), 30);
      expect(await tableCounts(t)).toEqual(before);
      // The admin's allowance is their own: the app's users still connect.
      await initiateTimes(t, initiatePath(tenant), await userToken(bed.t, tenant, "alice"), 2);
    });

    it("keeps limits per instance: with two instances a user gets up to twice the allowance", async () => {
      const first = instance({ LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "2" });
      const second = instance({ LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "2" });
      const tenant = await bed.newTenant();
      const alice = await userToken(bed.t, tenant, "alice");
      await initiateTimes(first.t, initiatePath(tenant), alice, 2);
      await expectRateLimited(await first.t.call("POST", initiatePath(tenant), { token: alice }), 30);
      await initiateTimes(second.t, initiatePath(tenant), alice, 2);
      await expectRateLimited(await second.t.call("POST", initiatePath(tenant), { token: alice }), 30);
    });
  });

  describe("per client IP on connect, callback and sign-in", () => {
    const perIp = { LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "4", LATCHKEY_TRUST_PROXY: "true" };

    it("counts initiate, callback and user-token minting together, per address", async () => {
      const { t } = instance(perIp);
      const tenant = await bed.newTenant();
      const mint = () =>
        t.call("POST", `/api/apps/${tenant.appId}/users/alice/token`, {
          token: tenant.serviceKey,
          headers: from(attacker),
        });
      const alice = await json<{ token: string }>(await mint(), 201);
      await initiateTimes(t, initiatePath(tenant), alice.token, 2, from(attacker));
      expect((await t.call("GET", "/oauth/callback?state=unknown", { headers: from(attacker) })).status).toBe(400);
      const before = await tableCounts(t);
      await expectRateLimited(await mint(), 15);
      await expectRateLimited(
        await t.call("POST", initiatePath(tenant), { token: alice.token, headers: from(attacker) }),
        15,
      );
      await expectRateLimited(await t.call("GET", "/oauth/callback?state=unknown", { headers: from(attacker) }), 15);
      expect(await tableCounts(t)).toEqual(before);
      await initiateTimes(t, initiatePath(tenant), alice.token, 1, from(bystander));
      expect((await t.call("GET", "/oauth/callback?state=unknown", { headers: from(bystander) })).status).toBe(400);
    });

    it("refuses a flooding address before authenticating it: a bad key gets 429, not 401", async () => {
      const { t } = instance(perIp);
      const tenant = await bed.newTenant();
      for (let i = 0; i < 4; i++) {
        await json(await t.call("POST", initiatePath(tenant), { token: "not-a-token", headers: from(attacker) }), 401);
      }
      await expectRateLimited(
        await t.call("POST", initiatePath(tenant), { token: "not-a-token", headers: from(attacker) }),
        15,
      );
    });

    it("lets a real connect finish through the callback while under the limit", async () => {
      const { t } = instance({ ...perIp, LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "30" });
      const tenant = await bed.newTenant();
      const back = await connectUser(t, bed.harness, tenant, await userToken(bed.t, tenant, "alice"), "alice-login");
      expect(back.searchParams.get("latchkey_status")).toBe("connected");
    });

    it("ignores X-Forwarded-For unless LATCHKEY_TRUST_PROXY is on, so it cannot be used to dodge the limit", async () => {
      const { t } = instance({ LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "2" });
      for (const ip of ["192.0.2.1", "192.0.2.2"]) {
        expect((await t.call("GET", "/oauth/callback?state=unknown", { headers: from(ip) })).status).toBe(400);
      }
      await expectRateLimited(await t.call("GET", "/oauth/callback?state=unknown", { headers: from("192.0.2.3") }), 30);
    });
  });

  describe("user tokens, per service key", () => {
    it("refuses minting past the allowance, without affecting another app's key", async () => {
      const { t } = instance({ LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: "3" });
      const tenant = await bed.newTenant();
      const other = await bed.newTenant();
      const mint = (target: Tenant, userId: string) =>
        t.call("POST", `/api/apps/${target.appId}/users/${userId}/token`, { token: target.serviceKey });
      for (const user of ["u1", "u2", "u3"]) await json(await mint(tenant, user), 201);
      await expectRateLimited(await mint(tenant, "u4"), 20);
      await json(await mint(other, "u1"), 201);
    });
  });

  describe("failed authentication, per client IP", () => {
    const lockout = { LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "30", LATCHKEY_TRUST_PROXY: "true" };

    it("after 30 bad service keys, refuses the address even with a good key until the minute has passed", async () => {
      const { t, clock } = instance(lockout);
      const tenant = await bed.newTenant();
      const alice = await userToken(bed.t, tenant, "alice");
      await connectUser(bed.t, bed.harness, tenant, alice, "alice-login");
      const tokenRoute = (serviceKey: string, ip: string) =>
        t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/token`, {
          token: serviceKey,
          headers: { ...from(ip), "on-behalf-of": `Bearer ${alice}` },
        });
      const wrongKey = `${tenant.serviceKey.slice(0, -4)}XXXX`;
      for (let i = 0; i < 30; i++) await json(await tokenRoute(wrongKey, attacker), 401);
      expect(t.logs.text).toContain(`"client":"${attacker}"`);
      expect(t.logs.text).toContain("too many failed authentications");
      expect(t.logs.text).not.toContain(wrongKey);

      await expectRateLimited(await tokenRoute(tenant.serviceKey, attacker), 60);
      await expectRateLimited(await tokenRoute(wrongKey, attacker), 60);
      // Every authenticated route, whatever the credential kind.
      await expectRateLimited(
        await t.call("GET", `/api/workspaces/${tenant.workspaceId}`, {
          token: tenant.adminKey,
          headers: from(attacker),
        }),
        60,
      );
      await json(await tokenRoute(tenant.serviceKey, bystander), 200);

      clock.advance(30_000);
      await expectRateLimited(await tokenRoute(tenant.serviceKey, attacker), 30);
      clock.advance(30_000);
      await json(await tokenRoute(tenant.serviceKey, attacker), 200);
    });

    it("counts 401s from every kind of credential: operator, admin key, service key and user token", async () => {
      const { t } = instance({ ...lockout, LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "4" });
      const tenant = await bed.newTenant();
      const headers = from(attacker);
      const wrongOperatorKey = `${testOperatorKey.slice(0, -4)}XXXX`;
      await json(await t.call("POST", "/api/operator/workspaces", { token: wrongOperatorKey, headers, body: {} }), 401);
      await json(
        await t.call("GET", `/api/workspaces/${tenant.workspaceId}`, { token: "lk_admin_wrong", headers }),
        401,
      );
      await json(await t.call("POST", `/api/apps/${tenant.appId}/users/alice/token`, { headers }), 401);
      await json(await t.call("POST", initiatePath(tenant), { token: "eyJ.bad.token", headers }), 401);
      await expectRateLimited(
        await t.call("POST", `/api/operator/workspaces`, { token: testOperatorKey, headers, body: {} }),
        60,
      );
    });

    it("does not count a bad on-behalf-of user token: the caller proved its service key", async () => {
      const { t } = instance({ ...lockout, LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "2" });
      const tenant = await bed.newTenant();
      const alice = await userToken(bed.t, tenant, "alice");
      await connectUser(bed.t, bed.harness, tenant, alice, "alice-login");
      for (let i = 0; i < 5; i++) {
        const response = await t.call(
          "GET",
          `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/token`,
          {
            token: tenant.serviceKey,
            headers: { ...from(attacker), "on-behalf-of": "Bearer expired.or.forged" },
          },
        );
        expect((await json<{ error: { code: string } }>(response, 401)).error.code).toBe("INVALID_USER_TOKEN");
      }
      await json(await tokenFor(t, tenant, alice), 200);
    });

    it("never limits successful token requests, with every limit at its lowest", async () => {
      const { t } = instance({
        LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "1",
        LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "1",
        LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "1",
        LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: "1",
      });
      const tenant = await bed.newTenant();
      const alice = await userToken(bed.t, tenant, "alice");
      await connectUser(bed.t, bed.harness, tenant, alice, "alice-login");
      for (let i = 0; i < 200; i++) expect((await tokenFor(t, tenant, alice)).status).toBe(200);
    });
  });

  describe("turned off with 0", () => {
    it("allows any number of connects and bad keys", async () => {
      const { t } = instance({
        LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "0",
        LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "0",
        LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "0",
        LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: "0",
      });
      const tenant = await bed.newTenant();
      const alice = await userToken(t, tenant, "alice");
      await initiateTimes(t, initiatePath(tenant), alice, 40);
      for (let i = 0; i < 40; i++)
        await json(await t.call("POST", initiatePath(tenant), { token: "not-a-token" }), 401);
      for (let i = 0; i < 40; i++)
        await json(
          await t.call("POST", `/api/apps/${tenant.appId}/users/u${i}/token`, { token: tenant.serviceKey }),
          201,
        );
      await initiateTimes(t, initiatePath(tenant), alice, 1);
      expect((await callback(t, new URL("http://latchkey.test/oauth/callback?state=unknown"))).status).toBe(400);
    });
  });
});
