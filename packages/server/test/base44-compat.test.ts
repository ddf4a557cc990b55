/**
 * The compatibility promise, checked with the real thing: the unmodified @base44/sdk (0.8.50),
 * pointed at a Latchkey server listening on a real port, connects a user through a real
 * authorization server and hands the backend that user's token — and the app's shared
 * connection — with the SDK's own calls, headers and error handling.
 */
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import { Base44Error, createClient } from "@base44/sdk";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { createTestApp, testOperatorKey } from "./support/test-app.ts";

/** Creating a test database and starting the provider can take seconds on a busy machine. */
const setupMs = 90_000;
const appOrigin = "https://app.example.test";
const scopes = ["openid", "email", "offline_access"];

type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

interface Tenant {
  workspaceId: string;
  adminKey: string;
  appId: string;
  serviceKey: string;
  connectorId: string;
}

/** The public URL is configuration, so the port is chosen before the app is built. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function listen(t: OpenTestApp, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: t.app.fetch, port, hostname: "127.0.0.1" }, () => {
      server.off("error", reject);
      resolve(server as Server);
    });
    server.once("error", reject);
  });
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // axios keeps connections alive; they must not hold the test open.
  server.closeAllConnections();
  await closed;
}

/** The SDK logs every error it throws outside production; the tests check those errors instead. */
function silenceSdkErrorLog(): MockInstance<typeof console.error> {
  const original = console.error.bind(console);
  return vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    const first = args[0];
    if (typeof first === "string" && (first.startsWith("[Base44 SDK Error]") || first.startsWith("Error data:")))
      return;
    original(...args);
  });
}

async function rejection(promise: Promise<unknown>): Promise<Base44Error> {
  const error: unknown = await promise.then(
    () => {
      throw new Error("expected the SDK call to reject");
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Base44Error);
  return error as Base44Error;
}

async function expectBase44Error(promise: Promise<unknown>, status: number, code: string): Promise<Base44Error> {
  const error = await rejection(promise);
  expect({ status: error.status, code: error.code }).toEqual({ status, code });
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

describe("the unmodified @base44/sdk against a real Latchkey server", () => {
  let harness: AuthorizationServer;
  let t: OpenTestApp;
  let server: Server;
  let serverUrl: string;
  let tenant: Tenant;
  let consoleError: MockInstance<typeof console.error>;

  /** Plain HTTP against the listening server, for what the Base44 SDK does not do (setup, admin). */
  async function api<T>(method: string, path: string, token: string, body?: unknown, status = 201): Promise<T> {
    const res = await fetch(`${serverUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { "content-type": "application/json" }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(status);
    return (text === "" ? {} : JSON.parse(text)) as T;
  }

  async function createTenant(plan: "builder" | "free"): Promise<Tenant> {
    const workspace = await api<{ workspace: { id: string }; admin_api_key: string }>(
      "POST",
      "/api/operator/workspaces",
      testOperatorKey,
      { name: `b44 ${plan}`, plan, admin_email: "admin@example.test" },
    );
    const workspaceId = workspace.workspace.id;
    const adminKey = workspace.admin_api_key;
    const app = await api<{ app: { id: string }; service_key: string }>(
      "POST",
      `/api/workspaces/${workspaceId}/apps`,
      adminKey,
      {
        name: "Base44 app",
        allowed_return_origins: [appOrigin],
        identity: { type: "latchkey" },
      },
    );
    const clientId = `b44-${randomBytes(4).toString("hex")}`;
    const clientSecret = randomBytes(24).toString("hex");
    harness.addClient({ clientId, clientSecret, redirectUris: [`${serverUrl}/oauth/callback`] });
    const connector = await api<{ connector: { id: string; callback_url: string } }>(
      "POST",
      `/api/workspaces/${workspaceId}/connectors`,
      adminKey,
      { provider: "oidc", issuer: harness.issuer, client_id: clientId, client_secret: clientSecret, scopes },
    );
    expect(connector.connector.callback_url).toBe(`${serverUrl}/oauth/callback`);
    return {
      workspaceId,
      adminKey,
      appId: app.app.id,
      serviceKey: app.service_key,
      connectorId: connector.connector.id,
    };
  }

  async function userToken(userId: string, of: Tenant = tenant): Promise<string> {
    const minted = await api<{ token: string }>("POST", `/api/apps/${of.appId}/users/${userId}/token`, of.serviceKey, {
      expires_in: 3600,
    });
    return minted.token;
  }

  /** The browser's part: log in at the provider, then follow its redirect to Latchkey's callback. */
  async function completeAtProvider(redirectUrl: string, login: string): Promise<URL> {
    expect(redirectUrl.startsWith(`${harness.authorizationEndpoint}?`)).toBe(true);
    const providerRedirect = await harness.authorize(redirectUrl, { login });
    expect(`${providerRedirect.origin}${providerRedirect.pathname}`).toBe(`${serverUrl}/oauth/callback`);
    const res = await fetch(providerRedirect, { redirect: "manual" });
    expect(res.status).toBe(302);
    return new URL(res.headers.get("location") ?? "");
  }

  function expectConnectedBack(back: URL, connectorId = tenant.connectorId): void {
    expect(back.origin).toBe(appOrigin);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    expect(back.searchParams.get("latchkey_connector")).toBe(connectorId);
    expect(back.searchParams.get("latchkey_error")).toBeNull();
  }

  function expectConnectionConfig(config: unknown): void {
    if (config === null) return;
    expect(typeof config).toBe("object");
    for (const value of Object.values(config as Record<string, unknown>)) expect(typeof value).toBe("string");
  }

  function clientFor(options: { token?: string; serviceToken?: string; appId?: string } = {}) {
    return createClient({
      serverUrl,
      appId: options.appId ?? tenant.appId,
      ...(options.token !== undefined && { token: options.token }),
      ...(options.serviceToken !== undefined && { serviceToken: options.serviceToken }),
      analytics: { enabled: false },
    });
  }

  /** A user connected through connectAppUser, end to end. */
  async function connectWithSdk(userId: string, login: string, of: Tenant = tenant): Promise<string> {
    const token = await userToken(userId, of);
    const redirectUrl = await clientFor({ token, appId: of.appId }).connectors.connectAppUser(of.connectorId);
    expectConnectedBack(await completeAtProvider(redirectUrl, login), of.connectorId);
    return token;
  }

  beforeAll(async () => {
    consoleError = silenceSdkErrorLog();
    harness = await startAuthorizationServer();
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    t = await createTestApp({ env: { LATCHKEY_PUBLIC_URL: serverUrl } });
    server = await listen(t, port);
    tenant = await createTenant("builder");
  }, setupMs);

  afterAll(async () => {
    if (server) await closeServer(server);
    await t?.close();
    await harness?.close();
    consoleError?.mockRestore();
  }, setupMs);

  it("connectAppUser returns the provider's URL, and the callback sends the user back to the app connected", async () => {
    const alice = await userToken("alice");
    const redirectUrl = await clientFor({ token: alice }).connectors.connectAppUser(tenant.connectorId);
    expect(typeof redirectUrl).toBe("string");
    const authorize = new URL(redirectUrl);
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${serverUrl}/oauth/callback`);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expectConnectedBack(await completeAtProvider(redirectUrl, "alice-login"));
  });

  it("getCurrentAppUserConnection returns the on-behalf-of user's own token; the deprecated call returns it too", async () => {
    const bob = await connectWithSdk("bob", "bob-login");
    const backend = clientFor({ token: bob, serviceToken: tenant.serviceKey });
    const connection = await backend.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId);
    expect(Object.keys(connection).sort()).toEqual(["accessToken", "connectionConfig"]);
    expect(await harness.userinfoSub(connection.accessToken)).toBe("bob-login");
    expectConnectionConfig(connection.connectionConfig);

    const deprecated = await backend.asServiceRole.connectors.getCurrentAppUserAccessToken(tenant.connectorId);
    expect(deprecated).toBe(connection.accessToken);
  });

  it("keeps each user's connection to themselves: another user's token gets 404 CONNECTION_NOT_FOUND", async () => {
    const carol = await connectWithSdk("carol", "carol-login");
    const dave = await userToken("dave");
    const asDave = clientFor({ token: dave, serviceToken: tenant.serviceKey });
    await expectBase44Error(
      asDave.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId),
      404,
      "CONNECTION_NOT_FOUND",
    );
    const asCarol = clientFor({ token: carol, serviceToken: tenant.serviceKey });
    const own = await asCarol.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId);
    expect(await harness.userinfoSub(own.accessToken)).toBe("carol-login");
  });

  it("hands out the app's shared connection (connected by an admin) through getWorkspaceConnection, getConnection and getAccessToken", async () => {
    const initiated = await api<{ redirect_url: string }>(
      "POST",
      `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}/connectors/${tenant.connectorId}/initiate`,
      tenant.adminKey,
      undefined,
      200,
    );
    expectConnectedBack(await completeAtProvider(initiated.redirect_url, "shared-login"));

    const erin = await connectWithSdk("erin", "erin-login");
    const clients = {
      "service key only": clientFor({ serviceToken: tenant.serviceKey }),
      "with a user token (sends on-behalf-of)": clientFor({ token: erin, serviceToken: tenant.serviceKey }),
      "with a garbage user token (on-behalf-of is ignored)": clientFor({
        token: "not.a.token",
        serviceToken: tenant.serviceKey,
      }),
    };
    for (const [name, client] of Object.entries(clients)) {
      const byConnector = await client.asServiceRole.connectors.getWorkspaceConnection(tenant.connectorId);
      expect(await harness.userinfoSub(byConnector.accessToken), name).toBe("shared-login");
      expectConnectionConfig(byConnector.connectionConfig);
      const byProvider = await client.asServiceRole.connectors.getConnection("oidc");
      expect(byProvider.accessToken, name).toBe(byConnector.accessToken);
      expect(await client.asServiceRole.connectors.getAccessToken("oidc"), name).toBe(byConnector.accessToken);
    }

    // The user's own connection is still theirs, not the shared one.
    const own = await clients[
      "with a user token (sends on-behalf-of)"
    ].asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId);
    expect(await harness.userinfoSub(own.accessToken)).toBe("erin-login");
  });

  it("disconnectAppUser resolves, the token route then answers 404 CONNECTION_NOT_FOUND, and the grant is revoked at the provider", async () => {
    const frank = await connectWithSdk("frank", "frank-login");
    const backend = clientFor({ token: frank, serviceToken: tenant.serviceKey });
    const { accessToken } = await backend.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId);
    expect(await harness.userinfoSub(accessToken)).toBe("frank-login");
    const revocationsBefore = harness.counters.revocations;

    await expect(clientFor({ token: frank }).connectors.disconnectAppUser(tenant.connectorId)).resolves.toBeUndefined();

    await expectBase44Error(
      backend.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId),
      404,
      "CONNECTION_NOT_FOUND",
    );
    expect(harness.counters.revocations).toBe(revocationsBefore + 1);
    await expect(harness.userinfoSub(accessToken)).rejects.toThrow();
    // DELETE is idempotent.
    await expect(clientFor({ token: frank }).connectors.disconnectAppUser(tenant.connectorId)).resolves.toBeUndefined();
    expect(harness.counters.revocations).toBe(revocationsBefore + 1);
  });

  it("surfaces a bad service key as Base44Error 401 UNAUTHENTICATED", async () => {
    const gina = await userToken("gina");
    for (const serviceToken of ["sk_not_a_real_key", "garbage"]) {
      const client = clientFor({ token: gina, serviceToken });
      await expectBase44Error(
        client.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId),
        401,
        "UNAUTHENTICATED",
      );
      await expectBase44Error(
        client.asServiceRole.connectors.getWorkspaceConnection(tenant.connectorId),
        401,
        "UNAUTHENTICATED",
      );
    }
  });

  it("surfaces a bad or missing user token as Base44Error 401 INVALID_USER_TOKEN", async () => {
    await expectBase44Error(
      clientFor({ token: "not.a.token" }).connectors.connectAppUser(tenant.connectorId),
      401,
      "INVALID_USER_TOKEN",
    );
    await expectBase44Error(
      clientFor({ token: "not.a.token" }).connectors.disconnectAppUser(tenant.connectorId),
      401,
      "INVALID_USER_TOKEN",
    );
    const withoutUser = clientFor({ serviceToken: tenant.serviceKey });
    await expectBase44Error(
      withoutUser.asServiceRole.connectors.getCurrentAppUserConnection(tenant.connectorId),
      401,
      "INVALID_USER_TOKEN",
    );
  });

  it("surfaces unknown connectors, providers and apps as 404s, including ids the SDK percent-encodes", async () => {
    const henry = await userToken("henry");
    const user = clientFor({ token: henry, serviceToken: tenant.serviceKey });
    await expectBase44Error(user.connectors.connectAppUser("con_unknown"), 404, "NOT_FOUND");
    await expectBase44Error(user.connectors.connectAppUser("con/../x?y#z"), 404, "NOT_FOUND");
    await expectBase44Error(
      user.asServiceRole.connectors.getCurrentAppUserConnection("con/1"),
      404,
      "CONNECTION_NOT_FOUND",
    );
    await expectBase44Error(
      user.asServiceRole.connectors.getConnection("no-such-provider"),
      404,
      "CONNECTION_NOT_FOUND",
    );
    await expectBase44Error(
      user.asServiceRole.connectors.getWorkspaceConnection("con_unknown"),
      404,
      "CONNECTION_NOT_FOUND",
    );
    const otherApp = clientFor({ appId: "app_someone_else", serviceToken: tenant.serviceKey });
    await expectBase44Error(
      otherApp.asServiceRole.connectors.getWorkspaceConnection(tenant.connectorId),
      404,
      "NOT_FOUND",
    );
  });

  it("gives another tenant's service key a 404, never the first tenant's tokens", async () => {
    const other = await createTenant("builder");
    const intruder = clientFor({ appId: tenant.appId, serviceToken: other.serviceKey });
    await expectBase44Error(
      intruder.asServiceRole.connectors.getWorkspaceConnection(tenant.connectorId),
      404,
      "NOT_FOUND",
    );
    await expectBase44Error(intruder.asServiceRole.connectors.getConnection("oidc"), 404, "NOT_FOUND");
  });

  it("surfaces a plan without app-user connectors as Base44Error 402 PLAN_REQUIRED", async () => {
    const free = await createTenant("free");
    const token = await userToken("ivy", free);
    const error = await expectBase44Error(
      clientFor({ token, appId: free.appId }).connectors.connectAppUser(free.connectorId),
      402,
      "PLAN_REQUIRED",
    );
    expect((error.data as { error: { details: unknown } }).error.details).toMatchObject({ current_plan: "free" });
  });
});
