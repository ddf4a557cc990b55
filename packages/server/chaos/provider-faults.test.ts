/**
 * Provider faults at refresh, against a real Latchkey process and a scripted provider: 5xx,
 * timeouts, connection reset, HTML error pages, malformed JSON, a slow drip body, a token answer
 * without `access_token`. Never a 500; the cached token is served while it is valid; after it
 * expires, PROVIDER_UNAVAILABLE with Retry-After (the connection is cooling down); the provider is not asked again during the cooldown; needs_reauth only on a real
 * dead-grant answer. Each fault has its own user, connection and refresh token; they run at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callback,
  callbackUrl,
  createTenant,
  initiate,
  type Tenant,
  userToken,
} from "../test/support/connect-testbed.ts";
import { json, type Script, type ScriptedProvider, startScriptedProvider } from "../test/support/scripted-provider.ts";
import { type ChaosBed, report, since, startChaosBed, waitFor } from "./support/chaos-bed.ts";
import type { LatchkeyProcess } from "./support/latchkey-process.ts";
import { openRows, type Rows } from "./support/rows.ts";

interface Fault {
  user: string;
  answer: ReturnType<Script>;
  /** Lifetime of the token issued at connect: longer than the provider timeout (10 s) for the slow faults. */
  expiresIn: number;
}

const tokenBody = JSON.stringify({ access_token: "dripped", token_type: "bearer", expires_in: 3600 });

const faults: Fault[] = [
  { user: "plain-500", answer: { status: 500, body: "Internal Server Error" }, expiresIn: 6 },
  {
    user: "oauth-503",
    answer: json(503, { error: "temporarily_unavailable" }, { "retry-after": "120" }),
    expiresIn: 6,
  },
  {
    user: "html-502",
    answer: { status: 502, headers: { "content-type": "text/html" }, body: "<html><h1>502 Bad Gateway</h1></html>" },
    expiresIn: 6,
  },
  {
    user: "html-200",
    answer: { status: 200, headers: { "content-type": "text/html" }, body: "<html>Down for maintenance</html>" },
    expiresIn: 6,
  },
  {
    user: "malformed-json",
    answer: { status: 200, headers: { "content-type": "application/json" }, body: '{"access_token": "x", "tok' },
    expiresIn: 6,
  },
  {
    user: "no-access-token",
    answer: json(200, { token_type: "bearer", expires_in: 3600, refresh_token: "rt-new" }),
    expiresIn: 6,
  },
  { user: "reset", answer: "reset", expiresIn: 6 },
  { user: "timeout", answer: "hang", expiresIn: 16 },
  {
    user: "slow-drip",
    answer: { status: 200, headers: { "content-type": "application/json" }, body: tokenBody, dripMs: 500 },
    expiresIn: 16,
  },
  // Refused, but not a dead grant: the client's credentials, not the user's grant.
  { user: "invalid-client", answer: json(401, { error: "invalid_client" }), expiresIn: 6 },
];

describe.concurrent("provider faults at refresh (real process, scripted provider)", () => {
  let bed: ChaosBed;
  let provider: ScriptedProvider;
  let latchkey: LatchkeyProcess;
  let tenant: Tenant;
  let rows: Rows;
  const answers: Record<string, { status: number; retryAfter: string | null }[]> = {};

  beforeAll(async () => {
    bed = await startChaosBed();
    provider = await startScriptedProvider();
    const byUser = new Map(faults.map((fault) => [fault.user, fault]));
    provider.answer("/token", (request) => {
      const params = new URLSearchParams(request.body);
      if (params.get("grant_type") === "authorization_code") {
        const user = params.get("code") ?? "";
        return json(200, {
          access_token: `at-${user}`,
          refresh_token: `rt-${user}`,
          token_type: "bearer",
          expires_in: byUser.get(user)?.expiresIn ?? 6,
          scope: "read",
        });
      }
      const user = (params.get("refresh_token") ?? "").replace(/^rt-/, "");
      if (user === "dead-grant") return json(400, { error: "invalid_grant", error_description: "revoked" });
      return byUser.get(user)?.answer ?? json(400, { error: "invalid_request" });
    });
    latchkey = await bed.instance("a");
    tenant = await createTenant(latchkey, {
      provider: "oauth2",
      client_id: "chaos-client",
      client_secret: "chaos-client-secret",
      authorization_url: `${provider.origin}/authorize`,
      token_url: `${provider.origin}/token`,
      scopes: ["read"],
    });
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
  }, 120_000);
  afterAll(async () => {
    report("provider faults: answers per fault", answers);
    await rows?.close();
    await bed?.close();
    await provider?.close();
  });

  /** The connect flow, with the scripted provider's "consent" being a code equal to the user's name. */
  async function connect(user: string): Promise<void> {
    const redirect = new URL(await initiate(latchkey, tenant, await userToken(latchkey, tenant, user)));
    const state = redirect.searchParams.get("state") ?? "";
    const response = await callback(latchkey, new URL(`${callbackUrl}?code=${user}&state=${state}`));
    expect(response.status).toBe(302);
  }

  async function read(user: string) {
    const response = await latchkey.call(
      "GET",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${user}/token`,
      { token: tenant.serviceKey, signal: AbortSignal.timeout(30_000) },
    );
    const body = (await response.json()) as { access_token?: string; error?: { code: string } };
    const answer = { status: response.status, retryAfter: response.headers.get("retry-after"), body };
    answers[user] = [...(answers[user] ?? []), { status: answer.status, retryAfter: answer.retryAfter }];
    return answer;
  }

  const refreshesOf = (user: string) =>
    provider
      .requestsTo("/token")
      .filter((request) => new URLSearchParams(request.body).get("refresh_token") === `rt-${user}`).length;

  for (const fault of faults) {
    it(`${fault.user}: cached token while valid, cooldown, then PROVIDER_UNAVAILABLE with Retry-After`, async () => {
      await connect(fault.user);
      const connectedAt = performance.now();
      const first = await read(fault.user);
      expect(first).toMatchObject({ status: 200, body: { access_token: `at-${fault.user}` } });
      expect(refreshesOf(fault.user)).toBe(1);
      // Cooling down: the provider is not asked again.
      expect(await read(fault.user)).toMatchObject({ status: 200, body: { access_token: `at-${fault.user}` } });
      expect(refreshesOf(fault.user)).toBe(1);
      await waitFor(async () => since(connectedAt) > fault.expiresIn * 1000 + 500, 30_000, 200);
      const expired = await read(fault.user);
      // Whatever the fault was, the connection is cooling down: the provider is unavailable to it.
      expect(expired).toMatchObject({ status: 503, body: { error: { code: "PROVIDER_UNAVAILABLE" } } });
      expect(Number(expired.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(expired.retryAfter)).toBeLessThanOrEqual(30);
      expect(refreshesOf(fault.user)).toBe(1);
      const { row } = await rows.connection(fault.user);
      expect(row.status).toBe("active");
      expect(row.refresh_cooldown_until?.getTime() ?? 0).toBeGreaterThan(Date.now());
    }, 90_000);
  }

  it("dead-grant: the provider's invalid_grant, and only that, makes the connection needs_reauth", async () => {
    await connect("dead-grant");
    expect(await read("dead-grant")).toMatchObject({
      status: 409,
      body: { error: { code: "CONNECTION_NEEDS_REAUTH" } },
    });
    expect(refreshesOf("dead-grant")).toBe(1);
    expect((await rows.connection("dead-grant")).row).toMatchObject({
      status: "needs_reauth",
      needs_reauth_reason: "invalid_grant",
    });
  }, 90_000);

  it("after every fault: no 500 was answered, nothing was logged as unhandled, the process is alive", async () => {
    // Runs alongside the others: wait until they all got their last answer.
    await waitFor(async () => faults.every((fault) => (answers[fault.user]?.length ?? 0) >= 3), 60_000, 200);
    const all = Object.values(answers).flat();
    expect(all.filter((answer) => answer.status >= 500 && answer.status !== 503)).toEqual([]);
    expect(latchkey.output()).not.toContain("unhandled error");
    expect(latchkey.child.exitCode).toBeNull();
    expect((await latchkey.call("GET", "/readyz")).status).toBe(200);
  }, 90_000);
});
