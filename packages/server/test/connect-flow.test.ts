import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptRefreshToken } from "../src/connections/connection-store.ts";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { createTestApp, testOperatorKey } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  appOrigin,
  callback,
  connectorScopes,
  connectUser,
  createConnector,
  createLatchkeyApp,
  createTenant,
  createWorkspace,
  initiate,
  json,
  otherOrigin,
  tokenFor,
  userToken,
  type Tenant,
} from "./connect-fixture.ts";

describe(`connect flow (${testDbKind()})`, () => {
  let harness: AuthorizationServer;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let tenant: Tenant;
  const secrets = new Set<string>();

  beforeAll(async () => {
    harness = await startAuthorizationServer();
    t = await createTestApp();
    tenant = await createTenant(t, harness);
    for (const value of [tenant.serviceKey, tenant.adminKey, tenant.clientSecret]) secrets.add(value);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await harness?.close();
  });

  async function tokenOf(userId: string): Promise<string> {
    const token = await userToken(t, tenant, userId);
    secrets.add(token);
    return token;
  }

  async function accessTokenFor(
    userToken: string,
    target: Pick<Tenant, "appId" | "connectorId" | "serviceKey"> = tenant,
  ) {
    const body = await json<{ access_token: string; integration_type: string; token_type: string; scopes: string[] }>(
      await tokenFor(t, target, userToken),
      200,
    );
    secrets.add(body.access_token);
    return body;
  }

  it("connects two users through the real provider; each backend call returns only its own user's token", async () => {
    const alice = await tokenOf("alice");
    const bob = await tokenOf("bob");
    for (const [user, login] of [
      [alice, "alice-login"],
      [bob, "bob-login"],
    ] as const) {
      const back = await connectUser(t, harness, tenant, user, login, secrets);
      expect(back.origin).toBe(appOrigin);
      expect(back.searchParams.get("latchkey_status")).toBe("connected");
      expect(back.searchParams.get("latchkey_connector")).toBe(tenant.connectorId);
      expect(back.searchParams.has("latchkey_error")).toBe(false);
    }
    const aliceToken = await accessTokenFor(alice);
    const bobToken = await accessTokenFor(bob);
    expect(await harness.userinfoSub(aliceToken.access_token)).toBe("alice-login");
    expect(await harness.userinfoSub(bobToken.access_token)).toBe("bob-login");
    expect(aliceToken).toMatchObject({ integration_type: "oidc", token_type: "Bearer" });
    expect(aliceToken.scopes).toEqual(expect.arrayContaining(["openid", "api:read"]));

    const namedResponse = await t.call(
      "GET",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/bob/token`,
      { token: tenant.serviceKey, headers: { "x-request-id": "token-read-1" } },
    );
    // The hot path writes its headers itself (http/response-headers.ts): all of them must be there.
    expect(Object.fromEntries(namedResponse.headers)).toMatchObject({
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-request-id": "token-read-1",
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "X-Request-Id,Retry-After",
    });
    const named = await json<{ access_token: string }>(namedResponse, 200);
    expect(named.access_token).toBe(bobToken.access_token);
  });

  it("stores tokens encrypted and the provider account, and lists connections without tokens", async () => {
    const alice = await tokenOf("alice");
    const row = await t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("app_id", "=", tenant.appId)
      .where("user_id", "=", "alice")
      .executeTakeFirstOrThrow();
    const { access_token } = await accessTokenFor(alice);
    expect(row.access_token).not.toContain(access_token);
    expect(row.access_token.startsWith("lk1.")).toBe(true);
    expect(row.refresh_token?.startsWith("lk1.")).toBe(true);
    expect(row.account).toEqual({
      id: "alice-login",
      email: "alice-login@example.test",
      name: "Test User alice-login",
    });

    const mine = await t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connections`, { token: alice });
    const mineText = await mine.text();
    expect(mine.status).toBe(200);
    expect(mineText).not.toContain(access_token);
    const listed = JSON.parse(mineText) as { connections: Record<string, unknown>[] };
    expect(listed.connections).toEqual([
      {
        connector_id: tenant.connectorId,
        integration_type: "oidc",
        status: "active",
        scopes: expect.arrayContaining(["openid"]),
        account: { id: "alice-login", email: "alice-login@example.test", name: "Test User alice-login" },
        connection_config: null,
        expires_at: expect.any(String),
        connected_at: expect.any(String),
        updated_at: expect.any(String),
      },
    ]);

    const workspace = await t.call("GET", `/api/workspaces/${tenant.workspaceId}/connections?app_id=${tenant.appId}`, {
      token: tenant.adminKey,
    });
    const workspaceText = await workspace.text();
    expect(workspace.status).toBe(200);
    expect(workspaceText).not.toContain(access_token);
    expect(workspaceText).not.toContain("lk1.");
    const all = JSON.parse(workspaceText) as {
      connections: { user_id: string; owner_type: string }[];
      next_cursor: null;
    };
    expect(all.connections.map((c) => c.user_id).sort()).toEqual(["alice", "bob"]);
    expect(all.next_cursor).toBeNull();

    const paged = await json<{ connections: unknown[]; next_cursor: string }>(
      await t.call("GET", `/api/workspaces/${tenant.workspaceId}/connections?limit=1`, { token: tenant.adminKey }),
      200,
    );
    expect(paged.connections).toHaveLength(1);
    const rest = await json<{ connections: unknown[]; next_cursor: null }>(
      await t.call("GET", `/api/workspaces/${tenant.workspaceId}/connections?limit=1&cursor=${paged.next_cursor}`, {
        token: tenant.adminKey,
      }),
      200,
    );
    expect(rest.connections).toHaveLength(1);
    expect(rest.next_cursor).toBeNull();
  });

  it("replaces the tokens on a reconnect, keeping one connection", async () => {
    const alice = await tokenOf("alice");
    const before = await accessTokenFor(alice);
    const rowBefore = await t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("user_id", "=", "alice")
      .executeTakeFirstOrThrow();
    await connectUser(t, harness, tenant, alice, "alice-login", secrets);
    const after = await accessTokenFor(alice);
    expect(after.access_token).not.toBe(before.access_token);
    const rows = await t.deps.db.selectFrom("connections").selectAll().where("user_id", "=", "alice").execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id).toBe(rowBefore.id);
    expect(rows[0]?.version).toBe(rowBefore.version + 1);
  });

  it("builds the authorization URL with the connector's scopes, PKCE S256, a nonce and a hashed single-use state", async () => {
    const carol = await tokenOf("carol");
    const url = new URL(await initiate(t, tenant, carol));
    expect(`${url.origin}${url.pathname}`).toBe(harness.authorizationEndpoint);
    expect(url.searchParams.get("client_id")).toBe(tenant.clientId);
    expect(url.searchParams.get("redirect_uri")).toBe("http://latchkey.test/oauth/callback");
    expect(url.searchParams.get("response_type")).toBe("code");
    expect(url.searchParams.get("scope")).toBe(connectorScopes.join(" "));
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.has("code_verifier")).toBe(false);
    const state = url.searchParams.get("state") ?? "";
    secrets.add(state);
    expect(Buffer.from(state, "base64url")).toHaveLength(32);

    const stored = await t.deps.db
      .selectFrom("oauth_states")
      .selectAll()
      .where("state_hash", "=", createHash("sha256").update(state).digest("hex"))
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({
      app_id: tenant.appId,
      connector_id: tenant.connectorId,
      user_id: "carol",
      owner_type: "user",
    });
    expect(stored.code_verifier?.startsWith("lk1.")).toBe(true);
    expect(stored.expires_at.getTime() - stored.created_at.getTime()).toBe(10 * 60 * 1000);
    const everything = JSON.stringify(await t.deps.db.selectFrom("oauth_states").selectAll().execute());
    expect(everything).not.toContain(state);
  });

  it("returns to the request's Origin when allowed, else the app's first origin, else a given return_to", async () => {
    const dave = await tokenOf("dave");
    const returnOf = async (body: unknown, headers: Record<string, string> = {}) => {
      const url = new URL(await initiate(t, tenant, dave, body, headers));
      const state = url.searchParams.get("state") ?? "";
      const row = await t.deps.db
        .selectFrom("oauth_states")
        .select("return_to")
        .where("state_hash", "=", createHash("sha256").update(state).digest("hex"))
        .executeTakeFirstOrThrow();
      return row.return_to;
    };
    expect(await returnOf(undefined, { origin: otherOrigin })).toBe(`${otherOrigin}/`);
    expect(await returnOf(undefined, { origin: "https://evil.example" })).toBe(appOrigin);
    expect(await returnOf(undefined)).toBe(appOrigin);
    expect(await returnOf("", { "content-type": "application/json" })).toBe(appOrigin);
    expect(await returnOf({ return_to: `${appOrigin}/settings/integrations?tab=2` })).toBe(
      `${appOrigin}/settings/integrations?tab=2`,
    );

    // The callback goes back to exactly that URL, with the result appended.
    const url = await initiate(t, tenant, dave, { return_to: `${appOrigin}/settings?tab=2` });
    const response = await callback(t, await harness.authorize(url, { login: "dave-login" }));
    expect(response.status).toBe(302);
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    const back = new URL(response.headers.get("location") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(`${appOrigin}/settings`);
    expect(back.searchParams.get("tab")).toBe("2");
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
  });

  it("passes a provider error (access_denied) back to the app and stores nothing", async () => {
    const erin = await tokenOf("erin");
    const url = await initiate(t, tenant, erin);
    const response = await callback(t, await harness.authorize(url, { login: "erin-login", deny: true }));
    expect(response.status).toBe(302);
    const back = new URL(response.headers.get("location") ?? "");
    expect(back.searchParams.get("latchkey_status")).toBe("error");
    expect(back.searchParams.get("latchkey_error")).toBe("access_denied");
    expect(back.searchParams.get("latchkey_connector")).toBe(tenant.connectorId);
    await json(await tokenFor(t, tenant, erin), 404);
  });

  it("disconnects idempotently and revokes the grant at the provider", async () => {
    const frank = await tokenOf("frank");
    await connectUser(t, harness, tenant, frank, "frank-login", secrets);
    const row = await t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("user_id", "=", "frank")
      .executeTakeFirstOrThrow();
    const refreshToken = decryptRefreshToken(t.deps.vault, row) ?? "";
    secrets.add(refreshToken);
    expect(await harness.isRefreshTokenActive(refreshToken)).toBe(true);
    const revocationsBefore = harness.counters.revocations;

    const path = `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}`;
    const headers = { "content-type": "application/json", "x-app-id": tenant.appId };
    const first = await t.call("DELETE", path, { token: frank, headers });
    expect(first.status).toBe(204);
    expect(await first.text()).toBe("");
    expect((await t.call("DELETE", path, { token: frank, headers })).status).toBe(204);

    expect(harness.counters.revocations).toBe(revocationsBefore + 1);
    expect(await harness.isRefreshTokenActive(refreshToken)).toBe(false);
    const body = await json<{ error: { code: string } }>(await tokenFor(t, tenant, frank), 404);
    expect(body.error.code).toBe("CONNECTION_NOT_FOUND");
    // The other users keep theirs.
    await accessTokenFor(await tokenOf("alice"));
  });

  it("answers 404 CONNECTION_NOT_FOUND for a user who never connected", async () => {
    const body = await json<{ error: { code: string } }>(await tokenFor(t, tenant, await tokenOf("nobody")), 404);
    expect(body.error.code).toBe("CONNECTION_NOT_FOUND");
  });

  it("keeps serving existing connections after a plan downgrade, but refuses new app-user connects (402)", async () => {
    const workspace = await createWorkspace(t, "pro");
    const app = await createLatchkeyApp(t, workspace);
    const connector = await createConnector(t, harness, workspace);
    const target = { ...app, ...connector };
    const gina = await userToken(t, app, "gina");
    secrets.add(app.serviceKey);
    await connectUser(t, harness, target, gina, "gina-login", secrets);

    await json(
      await t.call("PATCH", `/api/operator/workspaces/${workspace.workspaceId}`, {
        token: testOperatorKey,
        body: { plan: "free" },
      }),
      200,
    );
    const served = await json<{ access_token: string }>(await tokenFor(t, target, gina), 200);
    expect(await harness.userinfoSub(served.access_token)).toBe("gina-login");
    const refused = await json<{ error: { code: string; details: { required_plan: string } } }>(
      await t.call("POST", `/api/apps/${app.appId}/app-user-auth/connectors/${connector.connectorId}/initiate`, {
        token: gina,
      }),
      402,
    );
    expect(refused.error.code).toBe("PLAN_REQUIRED");
    expect(refused.error.details.required_plan).toBe("builder");
  });

  it("connects the app's shared connection on any plan and serves it by connector and by provider", async () => {
    const workspace = await createWorkspace(t, "free");
    const app = await createLatchkeyApp(t, workspace);
    const connector = await createConnector(t, harness, workspace, { authMethod: "client_secret_post" });
    secrets.add(app.serviceKey);
    secrets.add(connector.clientSecret);
    const initiated = await json<{ redirect_url: string }>(
      await t.call(
        "POST",
        `/api/workspaces/${workspace.workspaceId}/apps/${app.appId}/connectors/${connector.connectorId}/initiate`,
        { token: workspace.adminKey, body: { return_to: `${otherOrigin}/admin` } },
      ),
      200,
    );
    const response = await callback(t, await harness.authorize(initiated.redirect_url, { login: "service-account" }));
    const back = new URL(response.headers.get("location") ?? "");
    expect(back.origin).toBe(otherOrigin);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");

    // The Base44 SDK sends on-behalf-of whenever its client has a user token: shared routes ignore it.
    const headers = { "on-behalf-of": "Bearer not-even-a-token", "x-app-id": app.appId };
    const byConnector = await json<{ access_token: string; integration_type: string }>(
      await t.call("GET", `/api/apps/${app.appId}/external-auth/tokens/connectors/${connector.connectorId}`, {
        token: app.serviceKey,
        headers,
      }),
      200,
    );
    secrets.add(byConnector.access_token);
    expect(await harness.userinfoSub(byConnector.access_token)).toBe("service-account");
    const byProvider = await json<{ access_token: string }>(
      await t.call("GET", `/api/apps/${app.appId}/external-auth/tokens/oidc`, { token: app.serviceKey, headers }),
      200,
    );
    expect(byProvider.access_token).toBe(byConnector.access_token);
    await json(
      await t.call("GET", `/api/apps/${app.appId}/external-auth/tokens/google`, { token: app.serviceKey }),
      404,
    );

    const listed = await json<{ connections: { owner_type: string; user_id: string | null }[] }>(
      await t.call("GET", `/api/workspaces/${workspace.workspaceId}/connections?owner_type=app`, {
        token: workspace.adminKey,
      }),
      200,
    );
    expect(listed.connections).toEqual([expect.objectContaining({ owner_type: "app", user_id: null })]);

    const path = `/api/workspaces/${workspace.workspaceId}/apps/${app.appId}/connectors/${connector.connectorId}/connection`;
    const revocations = harness.counters.revocations;
    expect((await t.call("DELETE", path, { token: workspace.adminKey })).status).toBe(204);
    expect((await t.call("DELETE", path, { token: workspace.adminKey })).status).toBe(204);
    expect(harness.counters.revocations).toBe(revocations + 1);
    await json(
      await t.call("GET", `/api/apps/${app.appId}/external-auth/tokens/connectors/${connector.connectorId}`, {
        token: app.serviceKey,
      }),
      404,
    );
  });

  it("picks the oldest shared connection when several connectors of one provider have one", async () => {
    const workspace = await createWorkspace(t, "free");
    const app = await createLatchkeyApp(t, workspace);
    const first = await createConnector(t, harness, workspace);
    const second = await createConnector(t, harness, workspace);
    secrets.add(app.serviceKey);
    const connectShared = async (connectorId: string, login: string) => {
      const initiated = await json<{ redirect_url: string }>(
        await t.call(
          "POST",
          `/api/workspaces/${workspace.workspaceId}/apps/${app.appId}/connectors/${connectorId}/initiate`,
          {
            token: workspace.adminKey,
          },
        ),
        200,
      );
      expect((await callback(t, await harness.authorize(initiated.redirect_url, { login }))).status).toBe(302);
    };
    await connectShared(second.connectorId, "older-account");
    await connectShared(first.connectorId, "newer-account");
    for (let i = 0; i < 3; i++) {
      const body = await json<{ access_token: string }>(
        await t.call("GET", `/api/apps/${app.appId}/external-auth/tokens/oidc`, { token: app.serviceKey }),
        200,
      );
      secrets.add(body.access_token);
      expect(await harness.userinfoSub(body.access_token)).toBe("older-account");
    }
  });

  it("writes no token, secret, code, state or key to the logs", () => {
    const text = t.logs.text;
    expect(text).toContain("oauth callback");
    for (const secret of secrets) {
      if (secret.length >= 8) expect(text).not.toContain(secret);
    }
  });
});
