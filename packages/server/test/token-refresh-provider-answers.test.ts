/**
 * Refresh against provider answers the oidc-provider harness does not give: no rotated refresh
 * token, no expiry, a refused client. The provider is a scripted fetch (deps.fetch); the database
 * and everything else is real.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decryptAccessToken, decryptRefreshToken, saveConnection } from "../src/connections/connection-store.ts";
import { createTestApp, TestClock } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import { createTenant, json, type Tenant } from "./support/connect-testbed.ts";

const tokenUrl = "https://provider.example/oauth/token";

describe(`token refresh with scripted provider answers (${testDbKind()})`, () => {
  const clock = new TestClock();
  let answer: () => Response = () => Response.json({});
  const requests: URLSearchParams[] = [];
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let tenant: Tenant;

  const providerFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    expect(String(input instanceof Request ? input.url : input)).toBe(tokenUrl);
    requests.push(new URLSearchParams(String(init?.body)));
    return answer();
  };

  beforeAll(async () => {
    t = await createTestApp({ clock, fetch: providerFetch as typeof fetch });
    tenant = await createTenant(t, {
      provider: "oauth2",
      client_id: "scripted-client",
      client_secret: "scripted-secret",
      authorization_url: "https://provider.example/oauth/authorize",
      token_url: tokenUrl,
      scopes: ["read"],
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    requests.length = 0;
  });

  async function connectionExpiringSoon(userId: string) {
    return saveConnection(t.deps, {
      workspaceId: tenant.workspaceId,
      appId: tenant.appId,
      connectorId: tenant.connectorId,
      ownerType: "user",
      userId,
      tokens: {
        accessToken: `old-access-${userId}`,
        refreshToken: `old-refresh-${userId}`,
        tokenType: "bearer",
        expiresAt: new Date(clock.now().getTime() + 60_000),
        scopes: ["read"],
      },
      account: { id: userId, email: null, name: null },
      connectionConfig: { instance_url: "https://instance.example" },
    });
  }

  const tokenOf = (userId: string) =>
    t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${userId}/token`, {
      token: tenant.serviceKey,
    });

  const rowOf = (id: string) =>
    t.deps.db.selectFrom("connections").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

  it("keeps the refresh token when the provider does not rotate it, and an expiry-less token never expires", async () => {
    const saved = await connectionExpiringSoon("uma");
    answer = () => Response.json({ access_token: "new-access-uma", token_type: "bearer", scope: "read write" });
    const body = await json<{
      access_token: string;
      expires_at: string | null;
      scopes: string[];
      connection_config: unknown;
    }>(await tokenOf("uma"), 200);
    expect(body).toMatchObject({
      access_token: "new-access-uma",
      expires_at: null,
      scopes: ["read", "write"],
      connection_config: { instance_url: "https://instance.example" },
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.get("grant_type")).toBe("refresh_token");
    expect(requests[0]?.get("refresh_token")).toBe("old-refresh-uma");
    const row = await rowOf(saved.id);
    expect(decryptRefreshToken(t.deps.vault, row)).toBe("old-refresh-uma");
    expect(decryptAccessToken(t.deps.vault, row)).toBe("new-access-uma");
    expect(row.version).toBe(saved.version + 1);
    expect(row.account).toEqual({ id: "uma", email: null, name: null });

    clock.advance(365 * 24 * 3600 * 1000);
    await json(await tokenOf("uma"), 200);
    expect(requests).toHaveLength(1);
  });

  it("answers 502 PROVIDER_ERROR (not needs_reauth) when the provider refuses the client, once the token has expired", async () => {
    const saved = await connectionExpiringSoon("vic");
    answer = () =>
      Response.json({ error: "invalid_client", error_description: "bad secret scripted-secret" }, { status: 401 });
    // Still valid: served, and a cooldown starts.
    expect((await json<{ access_token: string }>(await tokenOf("vic"), 200)).access_token).toBe("old-access-vic");
    clock.advance(120_000);
    const refused = await tokenOf("vic");
    const body = await json<{ error: { code: string; message: string } }>(refused, 502);
    expect(body.error.code).toBe("PROVIDER_ERROR");
    expect(JSON.stringify(body)).not.toContain("scripted-secret");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(requests).toHaveLength(2);
    const row = await rowOf(saved.id);
    expect(row.status).toBe("active");
    expect(decryptRefreshToken(t.deps.vault, row)).toBe("old-refresh-vic");
  });

  it("treats a 400 invalid_grant as a revoked grant, and a 500 as an outage", async () => {
    const revoked = await connectionExpiringSoon("wes");
    clock.advance(120_000);
    answer = () => Response.json({ error: "invalid_grant" }, { status: 400 });
    expect((await json<{ error: { code: string } }>(await tokenOf("wes"), 409)).error.code).toBe(
      "CONNECTION_NEEDS_REAUTH",
    );
    expect((await rowOf(revoked.id)).status).toBe("needs_reauth");

    const outage = await connectionExpiringSoon("xia");
    clock.advance(120_000);
    answer = () => new Response("<html>down</html>", { status: 500, headers: { "content-type": "text/html" } });
    expect((await json<{ error: { code: string } }>(await tokenOf("xia"), 503)).error.code).toBe(
      "PROVIDER_UNAVAILABLE",
    );
    expect((await rowOf(outage.id)).status).toBe("active");
  });

  it("marks a connection without a refresh token needs_reauth once its token has expired", async () => {
    const saved = await saveConnection(t.deps, {
      workspaceId: tenant.workspaceId,
      appId: tenant.appId,
      connectorId: tenant.connectorId,
      ownerType: "user",
      userId: "yan",
      tokens: {
        accessToken: "short-lived",
        refreshToken: null,
        tokenType: "bearer",
        expiresAt: new Date(clock.now().getTime() + 60_000),
        scopes: [],
      },
      account: null,
      connectionConfig: null,
    });
    expect((await json<{ access_token: string }>(await tokenOf("yan"), 200)).access_token).toBe("short-lived");
    clock.advance(120_000);
    await json(await tokenOf("yan"), 409);
    const row = await rowOf(saved.id);
    expect(row.status).toBe("needs_reauth");
    expect(row.needs_reauth_reason).toBe("expired_without_refresh_token");
    expect(requests).toHaveLength(0);
  });

  it("writes no token or secret to the logs", () => {
    for (const secret of ["old-refresh-uma", "new-access-uma", "scripted-secret", "short-lived", tenant.serviceKey]) {
      expect(t.logs.text).not.toContain(secret);
    }
  });
});
