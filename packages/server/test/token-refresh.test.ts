import { describe, expect, it } from "vitest";
import { decryptRefreshToken } from "../src/connections/connection-store.ts";
import { TestClock, testKeys, type TestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import { connectTestbed, json } from "./support/connect-testbed.ts";

const accessTokenTtlSeconds = 3600;
/** LATCHKEY_REFRESH_BEFORE_SECONDS is 300 by default: 60 s before expiry is inside the window. */
const intoRefreshWindowMs = (accessTokenTtlSeconds - 60) * 1000;

describe(`token refresh (${testDbKind()})`, () => {
  const clock = new TestClock();
  const keys = testKeys();
  /** Every token, key and secret seen is in bed.secrets, to prove none of them reached a log line. */
  const bed = connectTestbed({ clock, keys, provider: { accessTokenTtlSeconds } });
  const { secrets, tokenOf } = bed;
  /** Other instances on the same database, as more `latchkey start` processes would be. */
  const extras: TestApp[] = [];

  const namedUserToken = (app: TestApp, userId: string) =>
    app.call(
      "GET",
      `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/${userId}/token`,
      {
        token: bed.tenant.serviceKey,
      },
    );

  async function connect(userId: string, login: string): Promise<string> {
    const token = await tokenOf(userId);
    const back = await bed.connect(token, login);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    const body = await json<{ access_token: string }>(await namedUserToken(bed.t, userId), 200);
    secrets.add(body.access_token);
    return body.access_token;
  }

  async function connectionOf(userId: string) {
    return bed.t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("app_id", "=", bed.tenant.appId)
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
  }

  it("refreshes once when 50 callers on 3 instances ask for an expiring token, and the rotated grant stays valid", async () => {
    const before = await connect("carol", "carol-login");
    const versionBefore = (await connectionOf("carol")).version;
    for (let i = 0; i < 2; i++) extras.push(await bed.extraInstance());
    const instances = [bed.t, ...extras];
    clock.advance(intoRefreshWindowMs);
    bed.harness.resetCounters();
    // A slow token endpoint keeps the refresh in flight while every instance's callers pile up.
    bed.harness.setTokenDelay(300);

    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => namedUserToken(instances[i % instances.length] as TestApp, "carol")),
    ).finally(() => bed.harness.setTokenDelay(0));
    const bodies = await Promise.all(responses.map((response) => json<{ access_token: string }>(response, 200)));
    const tokens = new Set(bodies.map((body) => body.access_token));

    expect(bed.harness.counters.refreshGrants).toBe(1);
    expect(bed.harness.counters.tokenRequests).toBe(1);
    expect(tokens.size).toBe(1);
    if (testDbKind() === "postgres") {
      // Each instance has its own pool and single-flight map here: the row lock made the others wait and re-read.
      const waitedOnLock = extras.filter((extra) =>
        extra.logs.text.includes("token already refreshed by another caller"),
      );
      expect(
        waitedOnLock.length + (bed.t.logs.text.includes("token already refreshed by another caller") ? 1 : 0),
      ).toBe(2);
    }
    const [refreshed] = [...tokens];
    expect(refreshed).not.toBe(before);
    secrets.add(refreshed ?? "");
    expect(await bed.harness.userinfoSub(refreshed ?? "")).toBe("carol-login");

    const row = await connectionOf("carol");
    expect(row.version).toBe(versionBefore + 1);
    expect(row.refreshed_at).not.toBeNull();
    const refreshToken = decryptRefreshToken(bed.t.deps.vault, row) ?? "";
    secrets.add(refreshToken);
    expect(await bed.harness.isRefreshTokenActive(refreshToken)).toBe(true);

    // Later callers get the stored token: no second refresh.
    const again = await json<{ access_token: string }>(await namedUserToken(extras[0] ?? bed.t, "carol"), 200);
    expect(again.access_token).toBe(refreshed);
    expect(bed.harness.counters.refreshGrants).toBe(1);
  }, 60_000);

  it("marks the connection needs_reauth when the provider revoked the grant, answers 409, and a reconnect heals it", async () => {
    await connect("dave", "dave-login");
    await bed.harness.revokeGrantsOf("dave-login");
    clock.advance(intoRefreshWindowMs);
    bed.harness.resetCounters();

    const first = await json<{ error: { code: string } }>(await namedUserToken(bed.t, "dave"), 409);
    expect(first.error.code).toBe("CONNECTION_NEEDS_REAUTH");
    const row = await connectionOf("dave");
    expect(row.status).toBe("needs_reauth");
    expect(row.needs_reauth_reason).toBe("invalid_grant");
    expect(row.needs_reauth_at).not.toBeNull();

    // Known to need reauthorization: no more provider calls.
    await json(await namedUserToken(bed.t, "dave"), 409);
    expect(bed.harness.counters.tokenRequests).toBe(1);

    const token = await tokenOf("dave");
    const listed = await json<{ connections: { status: string }[] }>(
      await bed.t.call("GET", `/api/apps/${bed.tenant.appId}/app-user-auth/connections`, { token }),
      200,
    );
    expect(listed.connections.map((c) => c.status)).toEqual(["needs_reauth"]);

    const fresh = await connect("dave", "dave-login");
    expect(await bed.harness.userinfoSub(fresh)).toBe("dave-login");
    const healed = await connectionOf("dave");
    expect(healed.status).toBe("active");
    expect(healed.needs_reauth_reason).toBeNull();
  });

  it("serves the current token during a provider outage while it is valid, then 503 with Retry-After and a cooldown", async () => {
    const current = await connect("erin", "erin-login");
    clock.advance(intoRefreshWindowMs);
    bed.harness.setOutage("error");
    bed.harness.resetCounters();
    try {
      const cached = await json<{ access_token: string }>(await namedUserToken(bed.t, "erin"), 200);
      expect(cached.access_token).toBe(current);
      expect(bed.harness.counters.outageResponses).toBe(1);
      const cooldownUntil = (await connectionOf("erin")).refresh_cooldown_until;
      expect(cooldownUntil?.getTime()).toBeGreaterThan(clock.now().getTime());

      // Within the cooldown: no new attempt, still the valid token.
      await json(await namedUserToken(bed.t, "erin"), 200);
      expect(bed.harness.counters.tokenRequests).toBe(1);

      // Past expiry and past the cooldown: one more attempt, then 503 with Retry-After.
      clock.advance(120_000);
      const unavailable = await namedUserToken(bed.t, "erin");
      const body = await json<{ error: { code: string } }>(unavailable, 503);
      expect(body.error.code).toBe("PROVIDER_UNAVAILABLE");
      const retryAfter = Number(unavailable.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(30);
      expect(bed.harness.counters.tokenRequests).toBe(2);

      await json(await namedUserToken(bed.t, "erin"), 503);
      expect(bed.harness.counters.tokenRequests).toBe(2);
      expect((await connectionOf("erin")).status).toBe("active");
    } finally {
      bed.harness.setOutage(null);
    }

    clock.advance(31_000);
    const recovered = await json<{ access_token: string }>(await namedUserToken(bed.t, "erin"), 200);
    secrets.add(recovered.access_token);
    expect(recovered.access_token).not.toBe(current);
    expect(bed.harness.counters.refreshGrants).toBe(1);
    const row = await connectionOf("erin");
    expect(row.status).toBe("active");
    expect(row.refresh_cooldown_until).toBeNull();
  });

  it("gives up on a hanging provider after the timeout, without marking the connection needs_reauth", async () => {
    await connect("frank", "frank-login");
    clock.advance((accessTokenTtlSeconds + 10) * 1000);
    bed.harness.setOutage("hang");
    try {
      const started = Date.now();
      const body = await json<{ error: { code: string } }>(await namedUserToken(bed.t, "frank"), 503);
      expect(body.error.code).toBe("PROVIDER_UNAVAILABLE");
      expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    } finally {
      bed.harness.setOutage(null);
    }
    expect((await connectionOf("frank")).status).toBe("active");
  }, 60_000);

  it("writes no token, secret, key or code to the logs of any instance", async () => {
    const instances = [bed.t, ...extras];
    for (const instance of instances) {
      const text = instance.logs.text;
      expect(text.length).toBeGreaterThan(0);
      expect(secrets.foundIn(text)).toEqual([]);
    }
  });
});
