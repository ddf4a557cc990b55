/**
 * Every provider quirk class through the real flow: a catalog provider's connector points at a
 * local emulator (the connector's `endpoints` override; plain http is allowed there only because
 * it is loopback), the emulator answers as that provider's documentation shows and checks what it
 * receives the way the provider would, and the test asserts both the outcome and the requests.
 */
import { createHash, createHmac } from "node:crypto";
import { createClient, LatchkeyError } from "@latchkey/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedQuery } from "../src/providers/callback-hmac.ts";
import { createProviderResolver } from "../src/providers/create-provider-resolver.ts";
import {
  callback,
  createLatchkeyIdentityApp,
  createTenantWorkspace,
  json,
  tableCounts,
  userToken,
} from "./support/connect-testbed.ts";
import {
  formAnswer,
  jsonAnswer,
  startProviderEmulator,
  type EmulatorDialect,
  type ProviderEmulator,
} from "./support/provider-emulator.ts";
import { createTestApp, TestClock } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";

const setupMs = 90_000;

interface Tenant {
  workspaceId: string;
  adminKey: string;
  appId: string;
  serviceKey: string;
}

interface Connected {
  connectorId: string;
  userId: string;
  back: URL;
}

/**
 * A provider's dialect: what most providers do (client_secret_post, a form-encoded token request,
 * PKCE checked when sent, errors as JSON with 400, client `<name>-client` / `<name>-secret`), then
 * that provider's own quirks.
 */
function providerDialect(
  name: string,
  quirks: Partial<EmulatorDialect> & Pick<EmulatorDialect, "tokenAnswer"> & { errorDescription?: string },
): EmulatorDialect {
  const { errorDescription, ...own } = quirks;
  return {
    clientId: `${name}-client`,
    clientSecret: `${name}-secret`,
    clientAuth: "post",
    tokenEncoding: "form",
    pkce: "supported",
    errorAnswer: (failure) =>
      jsonAnswer(
        { error: failure, ...(errorDescription !== undefined && { error_description: errorDescription }) },
        400,
      ),
    ...own,
  };
}

describe(`provider quirks through the real flow (${testDbKind()})`, () => {
  const clock = new TestClock();
  const emulators: ProviderEmulator[] = [];
  /** Hosts of the catalog's own templated URLs, answered by an emulator (no template can name loopback). */
  const routedHosts = new Map<string, ProviderEmulator>();
  const contactedHosts: string[] = [];
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let tenant: Tenant;
  let users = 0;

  const routingFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    contactedHosts.push(url.host);
    const emulator = routedHosts.get(url.host);
    const target = emulator ? `${emulator.origin}${url.pathname}${url.search}` : url.href;
    return globalThis.fetch(target, init);
  };

  beforeAll(async () => {
    t = await createTestApp({ clock, fetch: routingFetch as typeof fetch });
    const workspace = await createTenantWorkspace(t, "builder");
    tenant = { ...workspace, ...(await createLatchkeyIdentityApp(t, workspace)) };
  }, setupMs);
  afterAll(async () => {
    for (const emulator of emulators) await emulator.close();
    await t?.close();
  });

  async function emulate(dialect: EmulatorDialect, tokenPath?: string): Promise<ProviderEmulator> {
    const emulator = await startProviderEmulator(dialect, tokenPath === undefined ? {} : { tokenPath });
    emulators.push(emulator);
    return emulator;
  }

  async function createConnector(body: Record<string, unknown>): Promise<string> {
    const created = await json<{ connector: { id: string } }>(
      await t.call("POST", `/api/workspaces/${tenant.workspaceId}/connectors`, { token: tenant.adminKey, body }),
      201,
    );
    return created.connector.id;
  }

  /** A connector of a catalog provider, every endpoint overridden to the emulator. */
  function connectorAt(
    emulator: ProviderEmulator,
    dialect: EmulatorDialect,
    provider: string,
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    return createConnector({
      provider,
      client_id: dialect.clientId,
      client_secret: dialect.clientSecret,
      endpoints: {
        authorization_url: `${emulator.origin}/authorize`,
        token_url: `${emulator.origin}/token`,
        // Never the real provider: an unanswered userinfo only leaves the account empty.
        userinfo_url: `${emulator.origin}/userinfo`,
        ...(extra.endpoints as Record<string, string> | undefined),
      },
      ...Object.fromEntries(Object.entries(extra).filter(([name]) => name !== "endpoints")),
    });
  }

  async function initiateFor(connectorId: string, userId: string, body?: unknown): Promise<Response> {
    const token = await userToken(t, tenant, userId);
    return t.call("POST", `/api/apps/${tenant.appId}/app-user-auth/connectors/${connectorId}/initiate`, {
      token,
      ...(body !== undefined && { body }),
    });
  }

  /** Initiate, consent at the emulator, come back through the callback. */
  async function connect(
    emulator: ProviderEmulator,
    connectorId: string,
    options: { body?: unknown; extra?: Record<string, string>; sign?: (callback: URL) => void } = {},
  ): Promise<Connected & { redirectUrl: URL }> {
    users += 1;
    const userId = `user-${users}`;
    const { redirect_url } = await json<{ redirect_url: string }>(
      await initiateFor(connectorId, userId, options.body),
      200,
    );
    const providerRedirect = emulator.authorize(redirect_url, options.extra);
    options.sign?.(providerRedirect);
    const response = await callback(t, providerRedirect);
    expect(response.status).toBe(302);
    return {
      connectorId,
      userId,
      back: new URL(response.headers.get("location") ?? ""),
      redirectUrl: new URL(redirect_url),
    };
  }

  const tokenOf = (connected: Pick<Connected, "connectorId" | "userId">) =>
    t.call(
      "GET",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${connected.connectorId}/users/${connected.userId}/token`,
      { token: tenant.serviceKey },
    );

  interface TokenAnswer {
    access_token: string;
    integration_type: string;
    connection_config: Record<string, string> | null;
    expires_at: string | null;
    scopes: string[];
    account: { id: string | null; email: string | null; name: string | null } | null;
  }

  const connectionCount = async (connectorId: string) =>
    (await t.deps.db.selectFrom("connections").select("id").where("connector_id", "=", connectorId).execute()).length;

  it("Slack: user_scope joined by commas, nested authed_user tokens, ok:false with HTTP 200 is an error, rotating refresh", async () => {
    const dialect = providerDialect("slack", {
      rotatesRefreshTokens: true,
      // https://docs.slack.dev/authentication/installing-with-oauth: the bot token at the top, the user's under authed_user.
      tokenAnswer: (tokens) =>
        jsonAnswer({
          ok: true,
          app_id: "A0KRD7HC3",
          access_token: "xoxb-bot-token-not-the-users",
          token_type: "bot",
          scope: "commands",
          team: { id: "T9TK3CUKW", name: "Slack Softball Team" },
          enterprise: null,
          authed_user: {
            id: "U1234",
            scope: "channels:read,chat:write",
            access_token: tokens.accessToken,
            refresh_token: tokens.refreshToken,
            expires_in: 43200,
            token_type: "user",
          },
        }),
      errorAnswer: (failure) =>
        jsonAnswer({ ok: false, error: failure === "invalid_grant" ? "invalid_refresh_token" : failure }),
    });
    const emulator = await emulate(dialect);
    const connectorId = await connectorAt(emulator, dialect, "slack", {
      scopes: ["channels:read", "chat:write"],
    });

    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(connected.redirectUrl.searchParams.get("user_scope")).toBe("channels:read,chat:write");
    expect(connected.redirectUrl.searchParams.has("scope")).toBe(false);
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    const [exchange] = emulator.requestsTo("/token");
    expect(exchange?.params.client_secret).toBe("slack-secret");
    expect(answer.access_token).toMatch(/^at-1-/);
    expect(answer.integration_type).toBe("slack");
    expect(answer.scopes).toEqual(["channels:read", "chat:write"]);
    expect(answer.account?.id).toBe("U1234");
    expect(answer.connection_config).toEqual({ team_id: "T9TK3CUKW", team_name: "Slack Softball Team" });

    // A refresh near expiry spends the refresh token once and keeps the rotated one.
    clock.advance(43_000 * 1000);
    const refreshed = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(refreshed.access_token).toMatch(/^at-2-/);
    const firstRefresh = emulator.requestsTo("/token")[1];
    expect(firstRefresh?.params.grant_type).toBe("refresh_token");
    expect(firstRefresh?.params.refresh_token).toMatch(/^rt-1-/);
    clock.advance(43_000 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token).toMatch(/^at-3-/);
    expect(emulator.requestsTo("/token")[2]?.params.refresh_token).toMatch(/^rt-2-/);

    // Slack's dead grant is ok:false with HTTP 200 and its own error name: the user must reconnect.
    emulator.revokeGrants();
    clock.advance(43_000 * 1000);
    const dead = await json<{ error: { code: string } }>(await tokenOf(connected), 409);
    expect(dead.error.code).toBe("CONNECTION_NEEDS_REAUTH");

    // ok:false with HTTP 200 at the code exchange is an error, not a connection.
    const failing = await emulate({ ...dialect, tokenAnswer: () => jsonAnswer({ ok: false, error: "invalid_code" }) });
    const failingConnector = await connectorAt(failing, dialect, "slack");
    const refused = await connect(failing, failingConnector);
    expect(refused.back.searchParams.get("latchkey_status")).toBe("error");
    expect(refused.back.searchParams.get("latchkey_error")).toBe("token_exchange_failed");
    expect(await connectionCount(failingConnector)).toBe(0);
    expect([...emulator.problems, ...failing.problems]).toEqual([]);
  });

  it("GitHub: Accept application/json, form-encoded errors with HTTP 200, revocation by DELETE with Basic", async () => {
    const dialect = providerDialect("gh", {
      // Without Accept: application/json GitHub answers form-encoded; Latchkey must ask for JSON.
      tokenHeaders: { Accept: /^application\/json$/ },
      tokenAnswer: (tokens) =>
        jsonAnswer({ access_token: tokens.accessToken, scope: "repo,gist", token_type: "bearer" }),
      errorAnswer: (failure) =>
        formAnswer({
          error: failure === "invalid_grant" ? "bad_verification_code" : failure,
          error_description: "The code passed is incorrect or expired.",
          error_uri: "https://docs.github.com/apps/troubleshooting",
        }),
    });
    const emulator = await emulate(dialect);
    emulator.on("/user", (request) =>
      request.headers.authorization?.startsWith("Bearer at-") &&
      request.headers.accept === "application/vnd.github+json"
        ? jsonAnswer({ id: 583231, login: "octocat", email: "octocat@github.com" })
        : jsonAnswer({ message: "Requires authentication" }, 401),
    );
    emulator.on("/applications/gh-client/grant", () => ({ status: 204 }));
    const connectorId = await connectorAt(emulator, dialect, "github", {
      scope_preset: "repo",
      endpoints: {
        userinfo_url: `${emulator.origin}/user`,
        revocation_url: `${emulator.origin}/applications/gh-client/grant`,
      },
    });

    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(connected.redirectUrl.searchParams.get("scope")).toBe("read:user user:email repo");
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.scopes).toEqual(["repo", "gist"]);
    expect(answer.expires_at).toBeNull();
    expect(answer.account).toEqual({ id: "583231", email: "octocat@github.com", name: "octocat" });

    // Disconnect revokes the grant as GitHub documents it: DELETE, JSON {access_token}, Basic client auth.
    const token = await userToken(t, tenant, connected.userId);
    const removed = await t.call("DELETE", `/api/apps/${tenant.appId}/app-user-auth/connectors/${connectorId}`, {
      token,
    });
    expect(removed.status).toBe(204);
    const [revoke] = emulator.requestsTo("/applications/gh-client/grant");
    expect(revoke?.method).toBe("DELETE");
    expect(revoke?.contentType).toBe("application/json");
    expect(JSON.parse(revoke?.raw ?? "{}")).toEqual({ access_token: answer.access_token });
    expect(revoke?.headers.authorization).toBe(`Basic ${Buffer.from("gh-client:gh-secret").toString("base64")}`);

    // An expired code: GitHub says so with HTTP 200 and a form body.
    const expired = await emulate({
      ...dialect,
      tokenAnswer: (_tokens, _grant, request) => dialect.errorAnswer("invalid_grant", request),
    });
    const expiredConnector = await connectorAt(expired, dialect, "github");
    const refused = await connect(expired, expiredConnector);
    expect(refused.back.searchParams.get("latchkey_error")).toBe("token_exchange_failed");
    expect(await connectionCount(expiredConnector)).toBe(0);
    expect([...emulator.problems, ...expired.problems]).toEqual([]);
  });

  it("Notion: HTTP Basic with a JSON token body, no refresh token and no expiry, account from the token answer", async () => {
    const dialect = providerDialect("notion", {
      clientAuth: "basic",
      tokenEncoding: "json",
      // https://developers.notion.com/docs/authorization: the answer names the workspace and the owner.
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          token_type: "bearer",
          bot_id: "b3414d659-1224-5ty7-6ffr-cc9d8773drt601288f",
          workspace_id: "j565j4d7x3-2882-61bs-564a-jj9d9ui-c36hxfr7x",
          workspace_name: "Ada's Notion Workspace",
          owner: {
            type: "user",
            user: { object: "user", id: "4fc8bdf7-0000", name: "Ada", person: { email: "ada@example.com" } },
          },
          duplicated_template_id: null,
        }),
      errorDescription: "bad request",
    });
    const emulator = await emulate(dialect);
    const connectorId = await connectorAt(emulator, dialect, "notion");
    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(connected.redirectUrl.searchParams.get("owner")).toBe("user");
    const exchange = emulator.requestsTo("/token")[0];
    expect(exchange?.contentType).toBe("application/json");
    expect(exchange?.params).toMatchObject({ grant_type: "authorization_code" });
    expect(exchange?.params.client_secret).toBeUndefined();
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.expires_at).toBeNull();
    expect(answer.account).toEqual({ id: "4fc8bdf7-0000", email: "ada@example.com", name: "Ada" });
    expect(answer.connection_config).toMatchObject({ workspace_name: "Ada's Notion Workspace" });
    const row = await t.deps.db
      .selectFrom("connections")
      .select("refresh_token")
      .where("connector_id", "=", connectorId)
      .executeTakeFirstOrThrow();
    expect(row.refresh_token).toBeNull();
    expect(emulator.problems).toEqual([]);
  });

  it("Salesforce: instance_url kept from the token answer, no expires_in, a connector-fixed login host", async () => {
    const dialect = providerDialect("sf", {
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
          signature: "detYU4J3HFdiJAZPL3g4tcE0P3Jtx6RB5kO4vV+Kz08=",
          scope: "refresh_token api openid",
          instance_url: "https://acme.my.salesforce.com",
          id: "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
          token_type: "Bearer",
          issued_at: "1278448101416",
          ...(tokens.idToken !== null && { id_token: tokens.idToken }),
        }),
      errorDescription: "authentication failure",
    });
    const emulator = await emulate(dialect);
    emulator.on("/userinfo", () =>
      jsonAnswer({ user_id: "005xx000001SwiUAAS", email: "admin@acme.test", name: "Admin" }),
    );
    const connectorId = await connectorAt(emulator, dialect, "salesforce", {
      connection_values: { login_host: "test.salesforce.com" },
      endpoints: { userinfo_url: `${emulator.origin}/userinfo` },
    });
    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_error"), emulator.problems.join()).toBeNull();
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.expires_at).toBeNull();
    expect(answer.connection_config).toEqual({
      login_host: "test.salesforce.com",
      instance_url: "https://acme.my.salesforce.com",
      identity_url: "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
    });
    expect(answer.account?.id).toBe("005xx000001SwiUAAS");
    // The API proxy's host comes from the kept instance_url.
    const connector = await t.deps.db
      .selectFrom("connectors")
      .selectAll()
      .where("id", "=", connectorId)
      .executeTakeFirstOrThrow();
    const resolver = createProviderResolver({ fetch: globalThis.fetch, clock, logger: t.deps.logger });
    const resolved = await resolver.resolve(connector, { connection: answer.connection_config });
    expect(resolved.apiHosts.map((host) => [host.name, host.baseUrl])).toEqual([
      ["instance", "https://acme.my.salesforce.com"],
    ]);
    expect(emulator.problems).toEqual([]);
  });

  it("QuickBooks: realmId from the callback into connection_config", async () => {
    const dialect = providerDialect("qb", {
      clientAuth: "basic",
      tokenAnswer: (tokens) =>
        jsonAnswer({
          token_type: "bearer",
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
          expires_in: 3600,
          x_refresh_token_expires_in: 8726400,
          ...(tokens.idToken !== null && { id_token: tokens.idToken }),
        }),
    });
    const emulator = await emulate(dialect);
    const connectorId = await connectorAt(emulator, dialect, "quickbooks");
    const connected = await connect(emulator, connectorId, { extra: { realmId: "4620816365215471234" } });
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.connection_config).toEqual({ realmId: "4620816365215471234" });
    expect(emulator.problems).toEqual([]);
  });

  it("Shopify: the shop from the app user fills the URLs, the callback HMAC is verified, a hostile shop never reaches a host", async () => {
    const dialect = providerDialect("shopify", {
      tokenAnswer: (tokens) => jsonAnswer({ access_token: tokens.accessToken, scope: "read_products,write_orders" }),
      errorDescription: "oauth error",
    });
    const emulator = await emulate(dialect, "/admin/oauth/access_token");
    routedHosts.set("acme-store.myshopify.com", emulator);
    // Shopify's catalog URLs are templates: the connector does not override them.
    const connectorId = await createConnector({
      provider: "shopify",
      client_id: dialect.clientId,
      client_secret: dialect.clientSecret,
      scopes: ["read_products", "write_orders"],
    });
    const sign = (back: URL) => {
      back.searchParams.set("shop", "acme-store.myshopify.com");
      back.searchParams.set("timestamp", "1337178173");
      const hmac = createHmac("sha256", dialect.clientSecret).update(signedQuery(back.searchParams)).digest("hex");
      back.searchParams.set("hmac", hmac);
    };
    const body = { connection_values: { shop: "acme-store" } };
    const connected = await connect(emulator, connectorId, { body, sign });
    expect(connected.redirectUrl.origin).toBe("https://acme-store.myshopify.com");
    expect(connected.redirectUrl.pathname).toBe("/admin/oauth/authorize");
    expect(connected.redirectUrl.searchParams.get("scope")).toBe("read_products,write_orders");
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(contactedHosts).toContain("acme-store.myshopify.com");
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.connection_config).toEqual({ shop: "acme-store" });
    expect(answer.scopes).toEqual(["read_products", "write_orders"]);

    // A forged callback (HMAC not under the client secret) is refused before the code is redeemed.
    const exchanges = emulator.requestsTo("/admin/oauth/access_token").length;
    const forged = await connect(emulator, connectorId, {
      body,
      sign: (back) => back.searchParams.set("hmac", "0".repeat(64)),
    });
    expect(forged.back.searchParams.get("latchkey_error")).toBe("invalid_response");
    expect(emulator.requestsTo("/admin/oauth/access_token")).toHaveLength(exchanges);

    // Hostile or missing shops: 400 INVALID_REQUEST, no flow stored, no host contacted.
    const before = await tableCounts(t);
    const contacted = contactedHosts.length;
    for (const shop of ["evil.example/x", "attacker.com#", "a.b", "ACME", "-x", "", "x".repeat(300)]) {
      const refused = await json<{ error: { code: string } }>(
        await initiateFor(connectorId, "hostile", { connection_values: { shop } }),
        400,
      );
      expect(refused.error.code, shop).toBe("INVALID_REQUEST");
    }
    for (const hostile of [{}, { connection_values: {} }, { connection_values: { shop: "acme", tenant: "x" } }]) {
      const refused = await json<{ error: { code: string } }>(await initiateFor(connectorId, "hostile", hostile), 400);
      expect(refused.error.code).toBe("INVALID_REQUEST");
    }
    expect(await tableCounts(t)).toEqual(before);
    expect(contactedHosts.length).toBe(contacted);
    expect(emulator.problems).toEqual([]);
  });

  it("Smartsheet: code and refresh requests carry hash = SHA-256(secret|code or refresh_token), never the secret", async () => {
    const dialect: EmulatorDialect = {
      clientId: "smartsheet-client",
      clientSecret: "smartsheet-secret",
      clientAuth: "hash",
      tokenEncoding: "form",
      pkce: "supported",
      rotatesRefreshTokens: true,
      // developers.smartsheet.com "Gets or refreshes an access token": a week-long token and a refresh token.
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          token_type: "bearer",
          refresh_token: tokens.refreshToken,
          expires_in: 604799,
        }),
      errorAnswer: (failure) =>
        failure === "invalid_client"
          ? jsonAnswer({ errorCode: 1004, message: "You are not authorized to perform this action.", refId: "x1" }, 403)
          : jsonAnswer({ error: failure, error_description: "Invalid grant" }, 400),
    };
    const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
    const emulator = await emulate(dialect);
    emulator.on("/2.0/users/me", (request) =>
      request.headers.authorization?.startsWith("Bearer at-")
        ? jsonAnswer({ id: 4583173393803140, email: "ada@acme.test", firstName: "Ada", lastName: "Lovelace" })
        : jsonAnswer({ errorCode: 1002, message: "Your Access Token is invalid." }, 401),
    );
    emulator.on("/revoke", () => jsonAnswer({ message: "SUCCESS", resultCode: 0 }));
    const connectorId = await connectorAt(emulator, dialect, "smartsheet", {
      scope_preset: "sheets",
      endpoints: { userinfo_url: `${emulator.origin}/2.0/users/me`, revocation_url: `${emulator.origin}/revoke` },
    });

    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_error"), emulator.problems.join()).toBeNull();
    expect(connected.redirectUrl.searchParams.get("scope")).toBe("READ_SHEETS WRITE_SHEETS");
    const [exchange] = emulator.requestsTo("/token");
    expect(exchange?.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(exchange?.params.grant_type).toBe("authorization_code");
    expect(exchange?.params.client_id).toBe("smartsheet-client");
    expect(exchange?.params.hash).toBe(sha256(`smartsheet-secret|${exchange?.params.code}`));
    expect(exchange?.params.client_secret).toBeUndefined();
    expect(exchange?.headers.authorization).toBeUndefined();
    expect(exchange?.raw).not.toContain("smartsheet-secret");
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.access_token).toMatch(/^at-1-/);
    expect(answer.account).toEqual({ id: "4583173393803140", email: "ada@acme.test", name: "Ada" });

    // Near the end of the week the token is refreshed with the refresh token's hash; the rotated one is used next.
    clock.advance(604_799 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token).toMatch(/^at-2-/);
    clock.advance(604_799 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token).toMatch(/^at-3-/);
    const refreshes = emulator.requestsTo("/token").filter((request) => request.params.grant_type === "refresh_token");
    expect(refreshes).toHaveLength(2);
    for (const refresh of refreshes) {
      expect(refresh.params.client_id).toBe("smartsheet-client");
      expect(refresh.params.hash).toBe(sha256(`smartsheet-secret|${refresh.params.refresh_token}`));
      expect(refresh.params.client_secret).toBeUndefined();
      expect(refresh.params.code).toBeUndefined();
      expect(refresh.headers.authorization).toBeUndefined();
      expect(refresh.raw).not.toContain("smartsheet-secret");
    }
    expect(refreshes.map((request) => request.params.refresh_token?.split("-")[1])).toEqual(["1", "2"]);

    // Disconnect revokes with the access token as a Bearer token, the secret again never sent.
    const token = await userToken(t, tenant, connected.userId);
    const removed = await t.call("DELETE", `/api/apps/${tenant.appId}/app-user-auth/connectors/${connectorId}`, {
      token,
    });
    expect(removed.status).toBe(204);
    const [revoke] = emulator.requestsTo("/revoke");
    expect(revoke?.method).toBe("DELETE");
    expect(revoke?.headers.authorization).toMatch(/^Bearer at-3-/);
    expect(`${revoke?.raw}${revoke?.query.toString()}`).not.toContain("smartsheet-secret");
    expect(emulator.problems).toEqual([]);

    // A connector holding the wrong secret yields a wrong hash: Smartsheet refuses it, nothing is stored.
    const wrong = await emulate(dialect);
    const wrongConnector = await connectorAt(wrong, { ...dialect, clientSecret: "not-the-secret" }, "smartsheet");
    const refused = await connect(wrong, wrongConnector);
    expect(refused.back.searchParams.get("latchkey_error")).toBe("token_exchange_failed");
    expect(await connectionCount(wrongConnector)).toBe(0);
    expect(wrong.problems).toEqual(["client_id / hash missing or wrong in the body"]);
  });

  it("Google and Dropbox: their fixed extra authorization parameters; Google's preset from a Base44 integration type", async () => {
    const dialect = providerDialect("google", {
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
          expires_in: 3599,
          scope: "https://www.googleapis.com/auth/calendar",
          token_type: "Bearer",
          ...(tokens.idToken !== null && { id_token: tokens.idToken }),
        }),
    });
    const google = await emulate(dialect);
    const googleConnector = await connectorAt(google, dialect, "google", {
      integration_type: "googlecalendar",
      endpoints: { userinfo_url: `${google.origin}/userinfo` },
    });
    google.on("/userinfo", () => jsonAnswer({ sub: "1098", email: "ada@gmail.test", name: "Ada" }));
    const connected = await connect(google, googleConnector);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    const params = connected.redirectUrl.searchParams;
    expect(params.get("access_type")).toBe("offline");
    expect(params.get("prompt")).toBe("consent");
    expect(params.get("scope")?.split(" ")).toContain("https://www.googleapis.com/auth/calendar");
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.integration_type).toBe("googlecalendar");

    const dropboxDialect = {
      ...dialect,
      clientId: "dbx-client",
      clientSecret: "dbx-secret",
      clientAuth: "basic" as const,
    };
    const dropbox = await emulate(dropboxDialect);
    // Dropbox reads the account with a POST and no body (users/get_current_account); a GET is refused.
    dropbox.on("/userinfo", (request) =>
      request.method === "POST" && request.raw === "" && request.headers.authorization?.startsWith("Bearer at-")
        ? jsonAnswer({
            account_id: "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            name: { given_name: "Franz", surname: "Ferdinand", display_name: "Franz Ferdinand (Personal)" },
            email: "franz@dropbox.test",
          })
        : { status: 400, headers: { "content-type": "text/plain" }, body: "Error in call to API function" },
    );
    const dropboxConnector = await connectorAt(dropbox, dropboxDialect, "dropbox");
    const viaDropbox = await connect(dropbox, dropboxConnector);
    expect(viaDropbox.redirectUrl.searchParams.get("token_access_type")).toBe("offline");
    expect(viaDropbox.back.searchParams.get("latchkey_status")).toBe("connected");
    expect((await json<TokenAnswer>(await tokenOf(viaDropbox), 200)).account).toEqual({
      id: "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
      email: "franz@dropbox.test",
      name: "Franz Ferdinand (Personal)",
    });
    expect(dropbox.requestsTo("/userinfo").map((request) => request.method)).toEqual(["POST"]);
    expect([...google.problems, ...dropbox.problems]).toEqual([]);
  });

  it("X (Twitter): PKCE required, S256 challenge sent and the verifier redeemed with Basic auth", async () => {
    const dialect = providerDialect("x", {
      clientAuth: "basic",
      pkce: "required",
      rotatesRefreshTokens: true,
      tokenAnswer: (tokens) =>
        jsonAnswer({
          token_type: "bearer",
          expires_in: 7200,
          access_token: tokens.accessToken,
          scope: "tweet.read users.read offline.access",
          refresh_token: tokens.refreshToken,
        }),
      errorDescription: "Value passed was invalid",
    });
    const emulator = await emulate(dialect);
    emulator.on("/2/users/me", () =>
      jsonAnswer({ data: { id: "2244994945", name: "X Dev", username: "XDevelopers" } }),
    );
    const connectorId = await connectorAt(emulator, dialect, "twitter", {
      endpoints: { userinfo_url: `${emulator.origin}/2/users/me` },
    });
    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(connected.redirectUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(emulator.requestsTo("/token")[0]?.params.code_verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.account).toEqual({ id: "2244994945", email: null, name: "XDevelopers" });
    // A connector of a PKCE-requiring provider cannot switch PKCE off.
    const refused = await t.call("POST", `/api/workspaces/${tenant.workspaceId}/connectors`, {
      token: tenant.adminKey,
      body: { provider: "twitter", client_id: "x", client_secret: "y", pkce: false },
    });
    expect(refused.status).toBe(400);
    expect(emulator.problems).toEqual([]);
  });

  it("Reddit: Basic auth, duration=permanent, and the User-Agent Reddit demands", async () => {
    const dialect = providerDialect("reddit", {
      clientAuth: "basic",
      tokenHeaders: { "User-Agent": /^server:latchkey:/ },
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          token_type: "bearer",
          expires_in: 86400,
          scope: "identity",
          refresh_token: tokens.refreshToken,
        }),
      errorAnswer: (failure) => jsonAnswer({ error: failure }, failure === "invalid_client" ? 401 : 400),
    });
    const emulator = await emulate(dialect);
    const connectorId = await connectorAt(emulator, dialect, "reddit");
    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(connected.redirectUrl.searchParams.get("duration")).toBe("permanent");
    // Refresh carries the same User-Agent and Basic auth.
    clock.advance(86_400 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token).toMatch(/^at-2-/);
    expect(emulator.requestsTo("/token")[1]?.headers["user-agent"]).toMatch(/^server:latchkey:/);
    expect(emulator.problems).toEqual([]);
  });

  it("Atlassian: a post-connect lookup fills connection_config; a rotated refresh token is the one used next", async () => {
    const dialect = providerDialect("atl", {
      tokenEncoding: "json",
      rotatesRefreshTokens: true,
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
          expires_in: 3600,
          scope: "read:me offline_access read:jira-work",
          token_type: "Bearer",
        }),
      errorAnswer: (failure) =>
        jsonAnswer({ error: failure, error_description: "Unknown or invalid refresh token." }, 403),
    });
    const emulator = await emulate(dialect);
    // Atlassian's lookup and account URLs are fixed hosts: routed to the emulator like the browser would never be.
    routedHosts.set("api.atlassian.com", emulator);
    emulator.on("/oauth/token/accessible-resources", (request) =>
      request.headers.authorization?.startsWith("Bearer at-")
        ? jsonAnswer([
            {
              id: "1324a887-45db-1bf4-1e99-ef0ff456d421",
              name: "acme",
              url: "https://acme.atlassian.net",
              scopes: ["read:jira-work"],
              avatarUrl: "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/flag.png",
            },
          ])
        : jsonAnswer({ code: 401, message: "Unauthorized" }, 401),
    );
    emulator.on("/me", () =>
      jsonAnswer({ account_id: "5b10ac8d82e05b22cc7d4ef5", email: "ada@acme.test", name: "Ada" }),
    );
    const connectorId = await connectorAt(emulator, dialect, "atlassian", {
      scope_preset: "jira",
      endpoints: { userinfo_url: `${emulator.origin}/me` },
    });
    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(connected.redirectUrl.searchParams.get("audience")).toBe("api.atlassian.com");
    const answer = await json<TokenAnswer>(await tokenOf(connected), 200);
    expect(answer.connection_config).toEqual({
      cloud_id: "1324a887-45db-1bf4-1e99-ef0ff456d421",
      site_url: "https://acme.atlassian.net",
    });
    expect(answer.account?.id).toBe("5b10ac8d82e05b22cc7d4ef5");

    clock.advance(3_600 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token).toMatch(/^at-2-/);
    clock.advance(3_600 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token).toMatch(/^at-3-/);
    const refreshes = emulator.requestsTo("/token").filter((request) => request.params.grant_type === "refresh_token");
    expect(refreshes.map((request) => request.params.refresh_token?.split("-")[1])).toEqual(["1", "2"]);
    expect(refreshes.every((request) => request.contentType === "application/json")).toBe(true);
    expect(emulator.problems).toEqual([]);
  });

  it("a provider's own dead-grant answer (GitHub bad_refresh_token with HTTP 200) marks needs_reauth; a 5xx does not", async () => {
    let outage = false;
    const dialect = providerDialect("gh2", {
      rotatesRefreshTokens: true,
      tokenAnswer: (tokens, grant) =>
        outage && grant === "refresh_token"
          ? { status: 502, body: "<html>Bad gateway</html>" }
          : jsonAnswer({
              access_token: tokens.accessToken,
              expires_in: 28800,
              refresh_token: tokens.refreshToken,
              refresh_token_expires_in: 15811200,
              scope: "",
              token_type: "bearer",
            }),
      errorAnswer: (failure) =>
        jsonAnswer({
          error: failure === "invalid_grant" ? "bad_refresh_token" : failure,
          error_description: "The refresh token passed is incorrect or expired.",
        }),
    });
    const emulator = await emulate(dialect);
    const connectorId = await connectorAt(emulator, dialect, "github", {
      endpoints: { userinfo_url: `${emulator.origin}/user` },
    });
    const connected = await connect(emulator, connectorId);
    expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
    outage = true;
    clock.advance(28_800 * 1000);
    expect((await tokenOf(connected)).status).toBe(503);
    outage = false;
    emulator.revokeGrants();
    clock.advance(60 * 1000);
    const dead = await json<{ error: { code: string } }>(await tokenOf(connected), 409);
    expect(dead.error.code).toBe("CONNECTION_NEEDS_REAUTH");
    const row = await t.deps.db
      .selectFrom("connections")
      .select(["status", "needs_reauth_reason"])
      .where("connector_id", "=", connectorId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("needs_reauth");
    expect(emulator.problems).toEqual([]);
  });

  it("Strava and Square: expiry as Unix seconds and as an RFC 3339 date, the account read from the token answer", async () => {
    const stravaDialect: EmulatorDialect = {
      clientId: "strava-client",
      clientSecret: "strava-secret",
      clientAuth: "post",
      tokenEncoding: "form",
      pkce: "supported",
      rotatesRefreshTokens: true,
      // developers.strava.com/docs/authentication: expires_at in Unix seconds, the athlete beside the tokens.
      tokenAnswer: (tokens, grant) =>
        jsonAnswer({
          token_type: "Bearer",
          expires_at: Math.floor(clock.now().getTime() / 1000) + 21_600,
          expires_in: 21_600,
          refresh_token: tokens.refreshToken,
          access_token: tokens.accessToken,
          ...(grant === "authorization_code" && {
            athlete: { id: 134815, username: "marianne_t", firstname: "Marianne" },
          }),
        }),
      errorAnswer: (failure) =>
        jsonAnswer(
          { message: "Bad Request", errors: [{ resource: "RefreshToken", field: "refresh_token", code: failure }] },
          400,
        ),
    };
    const strava = await emulate(stravaDialect);
    const stravaConnector = await connectorAt(strava, stravaDialect, "strava", { scope_preset: "activities" });
    const viaStrava = await connect(strava, stravaConnector);
    expect(viaStrava.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(viaStrava.redirectUrl.searchParams.get("scope")).toBe("read,activity:read_all");
    const stravaAnswer = await json<TokenAnswer>(await tokenOf(viaStrava), 200);
    const stravaExpiry = Date.parse(stravaAnswer.expires_at ?? "");
    // The absolute time the provider gave, not a lifetime added to some other clock.
    expect(Math.abs(stravaExpiry - (clock.now().getTime() + 21_600_000))).toBeLessThan(2_000);
    expect(stravaAnswer.account).toEqual({ id: "134815", email: null, name: "marianne_t" });
    clock.advance(21_600 * 1000);
    expect((await json<TokenAnswer>(await tokenOf(viaStrava), 200)).access_token).toMatch(/^at-2-/);

    const squareDialect: EmulatorDialect = {
      clientId: "sq0idp-client",
      clientSecret: "sq0csp-secret",
      clientAuth: "post",
      tokenEncoding: "json",
      pkce: "supported",
      rotatesRefreshTokens: true,
      // developer.squareup.com ObtainToken: JSON in, expires_at as an ISO 8601 date, no expires_in.
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          token_type: "bearer",
          expires_at: new Date(clock.now().getTime() + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
          merchant_id: "MLQW2EXAMPLE",
          refresh_token: tokens.refreshToken,
          short_lived: false,
        }),
      errorAnswer: (failure) =>
        jsonAnswer({ errors: [{ category: "AUTHENTICATION_ERROR", code: "UNAUTHORIZED", detail: failure }] }, 401),
    };
    const square = await emulate(squareDialect);
    const squareConnector = await connectorAt(square, squareDialect, "square");
    const viaSquare = await connect(square, squareConnector);
    expect(viaSquare.back.searchParams.get("latchkey_status")).toBe("connected");
    expect(square.requestsTo("/token")[0]?.contentType).toBe("application/json");
    const squareAnswer = await json<TokenAnswer>(await tokenOf(viaSquare), 200);
    expect(
      Math.abs(Date.parse(squareAnswer.expires_at ?? "") - (clock.now().getTime() + 30 * 86_400_000)),
    ).toBeLessThan(2_000);
    expect(squareAnswer.account?.id).toBe("MLQW2EXAMPLE");
    clock.advance(30 * 86_400_000);
    expect((await json<TokenAnswer>(await tokenOf(viaSquare), 200)).access_token).toMatch(/^at-2-/);
    expect(square.requestsTo("/token")[1]?.contentType).toBe("application/json");
    expect([...strava.problems, ...square.problems]).toEqual([]);
  });

  it("Fitbit and Twitch: their own dead-grant dialects (nested errors[0].errorType; a 400 with a message) mean needs_reauth", async () => {
    const fitbitDialect: EmulatorDialect = {
      clientId: "fitbit-client",
      clientSecret: "fitbit-secret",
      clientAuth: "basic",
      tokenEncoding: "form",
      pkce: "supported",
      rotatesRefreshTokens: true,
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          expires_in: 28_800,
          refresh_token: tokens.refreshToken,
          scope: "profile activity",
          token_type: "Bearer",
          user_id: "GGNJL9",
        }),
      // dev.fitbit.com "Authorization errors": a list of errors, each with errorType and message.
      errorAnswer: (failure) =>
        jsonAnswer(
          { errors: [{ errorType: failure, message: `Refresh token invalid: ${failure}` }], success: false },
          failure === "invalid_client" ? 401 : 400,
        ),
    };
    const twitchDialect: EmulatorDialect = {
      clientId: "twitch-client",
      clientSecret: "twitch-secret",
      clientAuth: "post",
      tokenEncoding: "form",
      pkce: "supported",
      rotatesRefreshTokens: true,
      tokenAnswer: (tokens) =>
        jsonAnswer({
          access_token: tokens.accessToken,
          expires_in: 14_124,
          refresh_token: tokens.refreshToken,
          scope: ["openid", "user:read:email"],
          token_type: "bearer",
        }),
      // dev.twitch.tv "Refreshing access tokens": a dead refresh token is HTTP 400 with this message.
      errorAnswer: (failure) =>
        jsonAnswer(
          failure === "invalid_grant"
            ? { status: 400, message: "Invalid refresh token" }
            : { status: 400, message: `invalid ${failure}` },
          400,
        ),
    };
    for (const [provider, dialect, lifetime] of [
      ["fitbit", fitbitDialect, 28_800],
      ["twitch", twitchDialect, 14_124],
    ] as const) {
      const emulator = await emulate(dialect);
      const connectorId = await connectorAt(emulator, dialect, provider);
      const connected = await connect(emulator, connectorId);
      expect(connected.back.searchParams.get("latchkey_status"), provider).toBe("connected");
      clock.advance(lifetime * 1000);
      expect((await json<TokenAnswer>(await tokenOf(connected), 200)).access_token, provider).toMatch(/^at-2-/);
      emulator.revokeGrants();
      clock.advance(lifetime * 1000);
      const dead = await json<{ error: { code: string } }>(await tokenOf(connected), 409);
      expect(dead.error.code, provider).toBe("CONNECTION_NEEDS_REAUTH");
      expect(emulator.problems, provider).toEqual([]);
    }
  });

  describe("the API proxy on catalog hosts", () => {
    interface ProxyAnswer {
      success: boolean;
      status_code: number | null;
      data: unknown;
      data_base64: string | null;
      content_type: string | null;
      headers: Record<string, string>;
    }
    const callAs = (connected: Pick<Connected, "connectorId" | "userId">, body: unknown) =>
      t.call(
        "POST",
        `/api/apps/${tenant.appId}/app-user-auth/connectors/${connected.connectorId}/users/${connected.userId}/call`,
        { token: tenant.serviceKey, body },
      );

    it("Zoho: the region fills the API host, the token goes as Zoho-oauthtoken", async () => {
      const dialect: EmulatorDialect = {
        clientId: "zoho-client",
        clientSecret: "zoho-secret",
        clientAuth: "post",
        tokenEncoding: "form",
        pkce: "supported",
        tokenAnswer: (tokens) =>
          jsonAnswer({
            access_token: tokens.accessToken,
            refresh_token: tokens.refreshToken,
            api_domain: "https://www.zohoapis.eu",
            token_type: "Bearer",
            expires_in: 3600,
          }),
        errorAnswer: (failure) => jsonAnswer({ error: failure === "invalid_grant" ? "invalid_code" : failure }),
      };
      const emulator = await emulate(dialect, "/oauth/v2/token");
      routedHosts.set("accounts.zoho.eu", emulator);
      routedHosts.set("www.zohoapis.eu", emulator);
      emulator.on("/crm/v2/Leads", (request) =>
        /^Zoho-oauthtoken at-/.test(request.headers.authorization ?? "")
          ? jsonAnswer({ data: [{ id: "4150868000000224005" }] })
          : jsonAnswer({ code: "INVALID_TOKEN", message: "invalid oauth token" }, 401),
      );
      const connectorId = await createConnector({
        provider: "zoho",
        client_id: dialect.clientId,
        client_secret: dialect.clientSecret,
        connection_values: { region: "eu" },
      });
      const connected = await connect(emulator, connectorId, { extra: { location: "eu" } });
      expect(connected.redirectUrl.origin).toBe("https://accounts.zoho.eu");
      expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
      const answer = await json<ProxyAnswer>(await callAs(connected, { path: "/crm/v2/Leads" }), 200);
      expect(answer).toMatchObject({
        success: true,
        status_code: 200,
        data: { data: [{ id: "4150868000000224005" }] },
      });
      const [call] = emulator.requestsTo("/crm/v2/Leads");
      expect(call?.headers.authorization).toMatch(/^Zoho-oauthtoken at-1-/);
      expect(call?.headers.host).toBe(new URL(emulator.origin).host);
      expect(contactedHosts).toContain("www.zohoapis.eu");
      expect(emulator.problems).toEqual([]);
    });

    it("Twitch and Notion: the client id header, a default header the caller may replace, exposed rate-limit headers", async () => {
      const twitch: EmulatorDialect = {
        clientId: "twitch-api-client",
        clientSecret: "twitch-api-secret",
        clientAuth: "post",
        tokenEncoding: "form",
        pkce: "supported",
        tokenAnswer: (tokens) =>
          jsonAnswer({ access_token: tokens.accessToken, refresh_token: tokens.refreshToken, expires_in: 14_124 }),
        errorAnswer: () => jsonAnswer({ status: 400, message: "Invalid refresh token" }, 400),
      };
      const emulator = await emulate(twitch);
      routedHosts.set("api.twitch.tv", emulator);
      emulator.on("/helix/users", (request) =>
        request.headers["client-id"] === "twitch-api-client" && request.headers.authorization?.startsWith("Bearer at-")
          ? {
              ...jsonAnswer({ data: [{ id: "141981764", login: "twitchdev" }] }),
              headers: {
                "content-type": "application/json",
                "ratelimit-limit": "800",
                "ratelimit-remaining": "799",
                "x-internal": "hidden",
              },
            }
          : jsonAnswer({ error: "Unauthorized", status: 401, message: "Client ID and OAuth token do not match" }, 401),
      );
      const twitchConnector = await connectorAt(emulator, twitch, "twitch");
      const viaTwitch = await connect(emulator, twitchConnector);
      expect(viaTwitch.back.searchParams.get("latchkey_status")).toBe("connected");
      const twitchAnswer = await json<ProxyAnswer>(
        await callAs(viaTwitch, { path: "/users", headers: { "Client-Id": "forged", "X-Internal": "x" } }),
        200,
      );
      expect(twitchAnswer).toMatchObject({ success: true, status_code: 200 });
      expect(twitchAnswer.headers).toEqual({ "ratelimit-limit": "800", "ratelimit-remaining": "799" });
      expect(emulator.requestsTo("/helix/users")[0]?.headers["client-id"]).toBe("twitch-api-client");

      const notion: EmulatorDialect = {
        clientId: "notion-api-client",
        clientSecret: "notion-api-secret",
        clientAuth: "basic",
        tokenEncoding: "json",
        pkce: "supported",
        tokenAnswer: (tokens) =>
          jsonAnswer({ access_token: tokens.accessToken, token_type: "bearer", bot_id: "b1", workspace_id: "w1" }),
        errorAnswer: (failure) => jsonAnswer({ error: failure }, 400),
      };
      const notionEmulator = await emulate(notion);
      routedHosts.set("api.notion.com", notionEmulator);
      notionEmulator.on("/v1/users/me", (request) => ({
        ...jsonAnswer({ object: "user", version: request.headers["notion-version"] }),
        headers: { "content-type": "application/json", "retry-after": "3" },
      }));
      const notionConnector = await connectorAt(notionEmulator, notion, "notion");
      const viaNotion = await connect(notionEmulator, notionConnector);
      expect(viaNotion.back.searchParams.get("latchkey_status")).toBe("connected");
      const byDefault = await json<ProxyAnswer>(await callAs(viaNotion, { path: "/v1/users/me" }), 200);
      expect(byDefault).toMatchObject({ data: { version: "2022-06-28" }, headers: { "retry-after": "3" } });
      const chosen = await json<ProxyAnswer>(
        await callAs(viaNotion, { path: "/v1/users/me", headers: { "notion-version": "2025-09-03" } }),
        200,
      );
      expect(chosen.data).toEqual({ object: "user", version: "2025-09-03" });
      expect([...emulator.problems, ...notionEmulator.problems]).toEqual([]);
    });

    it("a 401 whose refresh finds the grant dead is 409 CONNECTION_NEEDS_REAUTH; the call was sent once", async () => {
      const dialect: EmulatorDialect = {
        clientId: "twitch-dead-client",
        clientSecret: "twitch-dead-secret",
        clientAuth: "post",
        tokenEncoding: "form",
        pkce: "supported",
        rotatesRefreshTokens: true,
        tokenAnswer: (tokens) =>
          jsonAnswer({ access_token: tokens.accessToken, refresh_token: tokens.refreshToken, expires_in: 14_124 }),
        errorAnswer: () => jsonAnswer({ status: 400, message: "Invalid refresh token" }, 400),
      };
      const emulator = await emulate(dialect);
      routedHosts.set("api.twitch.tv", emulator);
      // The user removed the app at Twitch: the access token is refused and the refresh token is dead.
      emulator.on("/helix/users", () =>
        jsonAnswer({ error: "Unauthorized", status: 401, message: "Invalid OAuth token" }, 401),
      );
      const connectorId = await connectorAt(emulator, dialect, "twitch");
      const connected = await connect(emulator, connectorId);
      expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
      emulator.revokeGrants();
      const refused = await json<{ error: { code: string } }>(await callAs(connected, { path: "/users" }), 409);
      expect(refused.error.code).toBe("CONNECTION_NEEDS_REAUTH");
      expect(emulator.requestsTo("/helix/users")).toHaveLength(1);
      expect(emulator.requestsTo("/token").map((request) => request.params.grant_type)).toEqual([
        "authorization_code",
        "refresh_token",
      ]);
      // Known dead now: the next call is refused before anything is sent.
      expect((await callAs(connected, { path: "/users" })).status).toBe(409);
      expect(emulator.requestsTo("/helix/users")).toHaveLength(1);
      expect(emulator.problems).toEqual([]);
    });

    it("Zendesk through @latchkey/sdk: connectAppUser with the user's subdomain, callAppUserApi on that subdomain's API", async () => {
      const dialect: EmulatorDialect = {
        clientId: "zendesk-client",
        clientSecret: "zendesk-secret",
        clientAuth: "post",
        tokenEncoding: "form",
        pkce: "supported",
        tokenAnswer: (tokens) => jsonAnswer({ access_token: tokens.accessToken, token_type: "bearer", scope: "read" }),
        errorAnswer: (failure) => jsonAnswer({ error: failure, error_description: "invalid" }, 400),
      };
      const emulator = await emulate(dialect, "/oauth/tokens");
      routedHosts.set("acme.zendesk.com", emulator);
      emulator.on("/api/v2/users/me", () => jsonAnswer({ user: { id: 35436, email: "ada@acme.test", name: "Ada" } }));
      emulator.on("/api/v2/tickets.json", (request) =>
        request.headers.authorization?.startsWith("Bearer at-")
          ? {
              ...jsonAnswer({ tickets: [{ id: 35436, subject: "Help" }], query: request.query.get("page") }),
              headers: { "content-type": "application/json", "x-rate-limit-remaining": "699" },
            }
          : jsonAnswer({ error: "Couldn't authenticate you" }, 401),
      );
      const connectorId = await createConnector({
        provider: "zendesk",
        client_id: dialect.clientId,
        client_secret: dialect.clientSecret,
      });
      const userId = "zendesk-user";
      const client = createClient({
        serverUrl: "http://latchkey.test",
        appId: tenant.appId,
        token: await userToken(t, tenant, userId),
        serviceToken: tenant.serviceKey,
        fetch: (input, init) => Promise.resolve(t.app.request(input, init)),
      });

      const redirectUrl = new URL(
        await client.connectors.connectAppUser(connectorId, { connectionValues: { subdomain: "acme" } }),
      );
      expect(`${redirectUrl.origin}${redirectUrl.pathname}`).toBe("https://acme.zendesk.com/oauth/authorizations/new");
      const back = await callback(t, emulator.authorize(redirectUrl.href));
      expect(new URL(back.headers.get("location") ?? "").searchParams.get("latchkey_status")).toBe("connected");

      const asCurrent = await client.asServiceRole.connectors.callAppUserApi(connectorId, {
        path: "/tickets.json",
        query: { page: 2 },
      });
      expect(asCurrent).toMatchObject({
        success: true,
        status: 200,
        data: { tickets: [{ id: 35436, subject: "Help" }], query: "2" },
        headers: { "x-rate-limit-remaining": "699" },
      });
      const asNamed = await client.asServiceRole.connectors.callAppUserApi(
        connectorId,
        { path: "/tickets.json" },
        { userId },
      );
      expect(asNamed.success).toBe(true);
      expect(emulator.requestsTo("/api/v2/tickets.json")).toHaveLength(2);

      // A subdomain that would move the host, or none at all: LatchkeyError 400 INVALID_REQUEST, nothing stored.
      const before = await tableCounts(t);
      for (const connectionValues of [{ subdomain: "evil.example/x" }, { subdomain: "a.b" }, {}]) {
        const refused = await client.connectors.connectAppUser(connectorId, { connectionValues }).catch((e) => e);
        expect(refused).toBeInstanceOf(LatchkeyError);
        expect(refused).toMatchObject({ status: 400, code: "INVALID_REQUEST" });
      }
      expect(await tableCounts(t)).toEqual(before);
      expect(emulator.problems).toEqual([]);
    });

    it("Atlassian: a host whose value the connection lacks (its lookup failed) is 409 CONNECTION_NEEDS_REAUTH, never sent", async () => {
      const dialect: EmulatorDialect = {
        clientId: "atl-proxy-client",
        clientSecret: "atl-proxy-secret",
        clientAuth: "post",
        tokenEncoding: "json",
        pkce: "supported",
        tokenAnswer: (tokens) =>
          jsonAnswer({ access_token: tokens.accessToken, refresh_token: tokens.refreshToken, expires_in: 3600 }),
        errorAnswer: (failure) => jsonAnswer({ error: failure }, 403),
      };
      const emulator = await emulate(dialect);
      routedHosts.set("api.atlassian.com", emulator);
      // The accessible-resources lookup fails at connect time: the connection has no cloud_id.
      emulator.on("/oauth/token/accessible-resources", () => ({ status: 503, body: "unavailable" }));
      emulator.on("/me", () => jsonAnswer({ account_id: "5b10ac8d82e05b22cc7d4ef5", email: "ada@acme.test" }));
      const connectorId = await connectorAt(emulator, dialect, "atlassian", {
        endpoints: { userinfo_url: `${emulator.origin}/me` },
      });
      const connected = await connect(emulator, connectorId);
      expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
      expect((await json<TokenAnswer>(await tokenOf(connected), 200)).connection_config).toBeNull();

      const before = emulator.requests.length;
      const refused = await json<{ error: { code: string; message: string } }>(
        await callAs(connected, { host: "jira", path: "/rest/api/3/myself" }),
        409,
      );
      expect(refused.error.code).toBe("CONNECTION_NEEDS_REAUTH");
      expect(refused.error.message).toContain('"jira"');
      expect(emulator.requests.length).toBe(before);
      // The host that needs no value still works.
      emulator.on("/me/permissions", () => jsonAnswer({ permissions: {} }));
      const fine = await json<ProxyAnswer>(await callAs(connected, { path: "/me/permissions" }), 200);
      expect(fine).toMatchObject({ success: true, status_code: 200 });
      expect(emulator.problems).toEqual([]);
    });

    it("Smartsheet: a declared binary type (a sheet as PDF) comes back in data_base64", async () => {
      const dialect: EmulatorDialect = {
        clientId: "smartsheet-api-client",
        clientSecret: "smartsheet-api-secret",
        clientAuth: "hash",
        tokenEncoding: "form",
        pkce: "supported",
        tokenAnswer: (tokens) =>
          jsonAnswer({
            access_token: tokens.accessToken,
            token_type: "bearer",
            refresh_token: tokens.refreshToken,
            expires_in: 604_799,
          }),
        errorAnswer: (failure) => jsonAnswer({ error: failure }, 400),
      };
      const pdf = Buffer.from("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n");
      const emulator = await emulate(dialect);
      routedHosts.set("api.smartsheet.com", emulator);
      emulator.on("/2.0/sheets/4583173393803140", (request) =>
        request.headers.accept === "application/pdf"
          ? { status: 200, headers: { "content-type": "application/pdf" }, body: pdf.toString() }
          : jsonAnswer({ id: 4583173393803140, name: "Plan" }),
      );
      const connectorId = await connectorAt(emulator, dialect, "smartsheet");
      const connected = await connect(emulator, connectorId);
      expect(connected.back.searchParams.get("latchkey_status")).toBe("connected");
      const answer = await json<ProxyAnswer>(
        await callAs(connected, { path: "/sheets/4583173393803140", headers: { Accept: "application/pdf" } }),
        200,
      );
      expect(answer).toMatchObject({ success: true, data: null, content_type: "application/pdf" });
      expect(Buffer.from(answer.data_base64 ?? "", "base64").equals(pdf)).toBe(true);
      expect(emulator.problems).toEqual([]);
    });
  });

  // Last: every host any test above made the server call was an emulator, never a real provider.
  it("contacted no real provider", () => {
    const real = contactedHosts.filter((host) => !host.startsWith("127.0.0.1:") && !routedHosts.has(host));
    expect(contactedHosts.length).toBeGreaterThan(0);
    expect(real).toEqual([]);
  });
});
