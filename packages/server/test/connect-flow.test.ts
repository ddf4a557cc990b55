import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptRefreshToken } from "../src/connections/connection-store.ts";
import { testOperatorKey } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  appOrigin,
  callback,
  connectorScopes,
  connectShared,
  connectTestbed,
  createConnector,
  initiate,
  json,
  otherOrigin,
  tokenFor,
  type Tenant,
} from "./support/connect-testbed.ts";

describe(`connect flow (${testDbKind()})`, () => {
  const bed = connectTestbed();
  const { secrets, tokenOf } = bed;

  async function accessTokenFor(
    userToken: string,
    target: Pick<Tenant, "appId" | "connectorId" | "serviceKey"> = bed.tenant,
  ) {
    const body = await json<{ access_token: string; integration_type: string; token_type: string; scopes: string[] }>(
      await tokenFor(bed.t, target, userToken),
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
      const back = await bed.connect(user, login);
      expect(back.origin).toBe(appOrigin);
      expect(back.searchParams.get("latchkey_status")).toBe("connected");
      expect(back.searchParams.get("latchkey_connector")).toBe(bed.tenant.connectorId);
      expect(back.searchParams.has("latchkey_error")).toBe(false);
    }
    const aliceToken = await accessTokenFor(alice);
    const bobToken = await accessTokenFor(bob);
    expect(await bed.harness.userinfoSub(aliceToken.access_token)).toBe("alice-login");
    expect(await bed.harness.userinfoSub(bobToken.access_token)).toBe("bob-login");
    expect(aliceToken).toMatchObject({ integration_type: "oidc", token_type: "Bearer" });
    expect(aliceToken.scopes).toEqual(expect.arrayContaining(["openid", "api:read"]));

    const namedResponse = await bed.t.call(
      "GET",
      `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/bob/token`,
      { token: bed.tenant.serviceKey, headers: { "x-request-id": "token-read-1" } },
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
    const row = await bed.t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("app_id", "=", bed.tenant.appId)
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

    const mine = await bed.t.call("GET", `/api/apps/${bed.tenant.appId}/app-user-auth/connections`, { token: alice });
    const mineText = await mine.text();
    expect(mine.status).toBe(200);
    expect(mineText).not.toContain(access_token);
    const listed = JSON.parse(mineText) as { connections: Record<string, unknown>[] };
    expect(listed.connections).toEqual([
      {
        connector_id: bed.tenant.connectorId,
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

    const workspace = await bed.t.call(
      "GET",
      `/api/workspaces/${bed.tenant.workspaceId}/connections?app_id=${bed.tenant.appId}`,
      {
        token: bed.tenant.adminKey,
      },
    );
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
      await bed.t.call("GET", `/api/workspaces/${bed.tenant.workspaceId}/connections?limit=1`, {
        token: bed.tenant.adminKey,
      }),
      200,
    );
    expect(paged.connections).toHaveLength(1);
    const rest = await json<{ connections: unknown[]; next_cursor: null }>(
      await bed.t.call(
        "GET",
        `/api/workspaces/${bed.tenant.workspaceId}/connections?limit=1&cursor=${paged.next_cursor}`,
        {
          token: bed.tenant.adminKey,
        },
      ),
      200,
    );
    expect(rest.connections).toHaveLength(1);
    expect(rest.next_cursor).toBeNull();
  });

  it("replaces the tokens on a reconnect, keeping one connection", async () => {
    const alice = await tokenOf("alice");
    const before = await accessTokenFor(alice);
    const rowBefore = await bed.t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("user_id", "=", "alice")
      .executeTakeFirstOrThrow();
    await bed.connect(alice, "alice-login");
    const after = await accessTokenFor(alice);
    expect(after.access_token).not.toBe(before.access_token);
    const rows = await bed.t.deps.db.selectFrom("connections").selectAll().where("user_id", "=", "alice").execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id).toBe(rowBefore.id);
    expect(rows[0]?.version).toBe(rowBefore.version + 1);
  });

  it("builds the authorization URL with the connector's scopes, PKCE S256, a nonce and a hashed single-use state", async () => {
    const carol = await tokenOf("carol");
    const url = new URL(await initiate(bed.t, bed.tenant, carol));
    expect(`${url.origin}${url.pathname}`).toBe(bed.harness.authorizationEndpoint);
    expect(url.searchParams.get("client_id")).toBe(bed.tenant.clientId);
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

    const stored = await bed.t.deps.db
      .selectFrom("oauth_states")
      .selectAll()
      .where("state_hash", "=", createHash("sha256").update(state).digest("hex"))
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({
      app_id: bed.tenant.appId,
      connector_id: bed.tenant.connectorId,
      user_id: "carol",
      owner_type: "user",
    });
    expect(stored.code_verifier?.startsWith("lk1.")).toBe(true);
    expect(stored.expires_at.getTime() - stored.created_at.getTime()).toBe(10 * 60 * 1000);
    const everything = JSON.stringify(await bed.t.deps.db.selectFrom("oauth_states").selectAll().execute());
    expect(everything).not.toContain(state);
  });

  it("returns to the request's Origin when allowed, else the app's first origin, else a given return_to", async () => {
    const dave = await tokenOf("dave");
    const returnOf = async (body: unknown, headers: Record<string, string> = {}) => {
      const url = new URL(await initiate(bed.t, bed.tenant, dave, body, headers));
      const state = url.searchParams.get("state") ?? "";
      const row = await bed.t.deps.db
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
    const url = await initiate(bed.t, bed.tenant, dave, { return_to: `${appOrigin}/settings?tab=2` });
    const response = await callback(bed.t, await bed.harness.authorize(url, { login: "dave-login" }));
    expect(response.status).toBe(302);
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    const back = new URL(response.headers.get("location") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(`${appOrigin}/settings`);
    expect(back.searchParams.get("tab")).toBe("2");
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
  });

  it("passes a provider error (access_denied) back to the app and stores nothing", async () => {
    const erin = await tokenOf("erin");
    const url = await initiate(bed.t, bed.tenant, erin);
    const response = await callback(bed.t, await bed.harness.authorize(url, { login: "erin-login", deny: true }));
    expect(response.status).toBe(302);
    const back = new URL(response.headers.get("location") ?? "");
    expect(back.searchParams.get("latchkey_status")).toBe("error");
    expect(back.searchParams.get("latchkey_error")).toBe("access_denied");
    expect(back.searchParams.get("latchkey_connector")).toBe(bed.tenant.connectorId);
    await json(await tokenFor(bed.t, bed.tenant, erin), 404);
  });

  it("disconnects idempotently and revokes the grant at the provider", async () => {
    const frank = await tokenOf("frank");
    await bed.connect(frank, "frank-login");
    const row = await bed.t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("user_id", "=", "frank")
      .executeTakeFirstOrThrow();
    const refreshToken = decryptRefreshToken(bed.t.deps.vault, row) ?? "";
    secrets.add(refreshToken);
    expect(await bed.harness.isRefreshTokenActive(refreshToken)).toBe(true);
    const revocationsBefore = bed.harness.counters.revocations;

    const path = `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}`;
    const headers = { "content-type": "application/json", "x-app-id": bed.tenant.appId };
    const first = await bed.t.call("DELETE", path, { token: frank, headers });
    expect(first.status).toBe(204);
    expect(await first.text()).toBe("");
    expect((await bed.t.call("DELETE", path, { token: frank, headers })).status).toBe(204);

    expect(bed.harness.counters.revocations).toBe(revocationsBefore + 1);
    expect(await bed.harness.isRefreshTokenActive(refreshToken)).toBe(false);
    const body = await json<{ error: { code: string } }>(await tokenFor(bed.t, bed.tenant, frank), 404);
    expect(body.error.code).toBe("CONNECTION_NOT_FOUND");
    // The other users keep theirs.
    await accessTokenFor(await tokenOf("alice"));
  });

  it("answers 404 CONNECTION_NOT_FOUND for a user who never connected", async () => {
    const body = await json<{ error: { code: string } }>(
      await tokenFor(bed.t, bed.tenant, await tokenOf("nobody")),
      404,
    );
    expect(body.error.code).toBe("CONNECTION_NOT_FOUND");
  });

  it("keeps serving existing connections after a plan downgrade, but refuses new app-user connects (402)", async () => {
    const target = await bed.newTenant("pro");
    const gina = await bed.tokenOf("gina", target);
    secrets.add(target.serviceKey);
    await bed.connect(gina, "gina-login", target);

    await json(
      await bed.t.call("PATCH", `/api/operator/workspaces/${target.workspaceId}`, {
        token: testOperatorKey,
        body: { plan: "free" },
      }),
      200,
    );
    const served = await json<{ access_token: string }>(await tokenFor(bed.t, target, gina), 200);
    expect(await bed.harness.userinfoSub(served.access_token)).toBe("gina-login");
    const refused = await json<{ error: { code: string; details: { required_plan: string } } }>(
      await bed.t.call("POST", `/api/apps/${target.appId}/app-user-auth/connectors/${target.connectorId}/initiate`, {
        token: gina,
      }),
      402,
    );
    expect(refused.error.code).toBe("PLAN_REQUIRED");
    expect(refused.error.details.required_plan).toBe("builder");
  });

  it("connects the app's shared connection on any plan and serves it by connector and by provider", async () => {
    const shared = await bed.newTenant("free", { authMethod: "client_secret_post" });
    secrets.add(shared.serviceKey, shared.clientSecret);
    const response = await connectShared(bed.t, bed.harness, shared, "service-account", {
      return_to: `${otherOrigin}/admin`,
    });
    const back = new URL(response.headers.get("location") ?? "");
    expect(back.origin).toBe(otherOrigin);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");

    // The Base44 SDK sends on-behalf-of whenever its client has a user token: shared routes ignore it.
    const headers = { "on-behalf-of": "Bearer not-even-a-token", "x-app-id": shared.appId };
    const byConnector = await json<{ access_token: string; integration_type: string }>(
      await bed.t.call("GET", `/api/apps/${shared.appId}/external-auth/tokens/connectors/${shared.connectorId}`, {
        token: shared.serviceKey,
        headers,
      }),
      200,
    );
    secrets.add(byConnector.access_token);
    expect(await bed.harness.userinfoSub(byConnector.access_token)).toBe("service-account");
    const byProvider = await json<{ access_token: string }>(
      await bed.t.call("GET", `/api/apps/${shared.appId}/external-auth/tokens/oidc`, {
        token: shared.serviceKey,
        headers,
      }),
      200,
    );
    expect(byProvider.access_token).toBe(byConnector.access_token);
    await json(
      await bed.t.call("GET", `/api/apps/${shared.appId}/external-auth/tokens/google`, { token: shared.serviceKey }),
      404,
    );

    const listed = await json<{ connections: { owner_type: string; user_id: string | null }[] }>(
      await bed.t.call("GET", `/api/workspaces/${shared.workspaceId}/connections?owner_type=app`, {
        token: shared.adminKey,
      }),
      200,
    );
    expect(listed.connections).toEqual([expect.objectContaining({ owner_type: "app", user_id: null })]);

    const path = `/api/workspaces/${shared.workspaceId}/apps/${shared.appId}/connectors/${shared.connectorId}/connection`;
    const revocations = bed.harness.counters.revocations;
    expect((await bed.t.call("DELETE", path, { token: shared.adminKey })).status).toBe(204);
    expect((await bed.t.call("DELETE", path, { token: shared.adminKey })).status).toBe(204);
    expect(bed.harness.counters.revocations).toBe(revocations + 1);
    await json(
      await bed.t.call("GET", `/api/apps/${shared.appId}/external-auth/tokens/connectors/${shared.connectorId}`, {
        token: shared.serviceKey,
      }),
      404,
    );
  });

  it("picks the oldest shared connection when several connectors of one provider have one", async () => {
    const shared = await bed.newTenant("free");
    const second = await createConnector(bed.t, bed.harness, shared);
    secrets.add(shared.serviceKey);
    await connectShared(bed.t, bed.harness, { ...shared, connectorId: second.connectorId }, "older-account");
    await connectShared(bed.t, bed.harness, shared, "newer-account");
    for (let i = 0; i < 3; i++) {
      const body = await json<{ access_token: string }>(
        await bed.t.call("GET", `/api/apps/${shared.appId}/external-auth/tokens/oidc`, { token: shared.serviceKey }),
        200,
      );
      secrets.add(body.access_token);
      expect(await bed.harness.userinfoSub(body.access_token)).toBe("older-account");
    }
  });

  it("writes no token, secret, code, state or key to the logs", () => {
    const text = bed.t.logs.text;
    expect(text).toContain("oauth callback");
    expect(secrets.foundIn(text)).toEqual([]);
  });
});
