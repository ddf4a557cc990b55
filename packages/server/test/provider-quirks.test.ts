/**
 * Every provider quirk class through the real flow: a catalog provider's connector points at a
 * local emulator (the connector's `endpoints` override; plain http is allowed there only because
 * it is loopback), the emulator answers as that provider's documentation shows and checks what it
 * receives the way the provider would, and the test asserts both the outcome and the requests.
 */
import { createHmac } from "node:crypto";
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
    const dropboxConnector = await connectorAt(dropbox, dropboxDialect, "dropbox");
    const viaDropbox = await connect(dropbox, dropboxConnector);
    expect(viaDropbox.redirectUrl.searchParams.get("token_access_type")).toBe("offline");
    expect(viaDropbox.back.searchParams.get("latchkey_status")).toBe("connected");
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
});
