import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createClient } from "../src/index.ts";
import {
  appId,
  mappedProxyAnswer,
  mappedToken,
  proxyAnswer,
  serviceKey,
  tokenAnswer,
  userToken,
} from "./support/fixtures.ts";
import { startRecordingServer, type RecordingServer } from "./support/recording-server.ts";

let server: RecordingServer;
beforeAll(async () => {
  server = await startRecordingServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const frontend = () => createClient({ serverUrl: server.url, appId, token: userToken });
const backend = () => createClient({ serverUrl: server.url, appId, token: userToken, serviceToken: serviceKey });

describe("app user connectors (frontend)", () => {
  it("connectAppUser POSTs initiate with the user token, no body, and resolves to redirect_url", async () => {
    server.respond({ status: 200, body: { redirect_url: "https://accounts.google.com/o/oauth2/auth?state=s1" } });

    const redirectUrl = await frontend().connectors.connectAppUser("con_123");

    expect(redirectUrl).toBe("https://accounts.google.com/o/oauth2/auth?state=s1");
    const request = server.onlyRequest();
    expect(request.method).toBe("POST");
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_123/initiate`);
    expect(request.headers.authorization).toBe(`Bearer ${userToken}`);
    expect(request.headers["x-app-id"]).toBe(appId);
    expect(request.headers["on-behalf-of"]).toBeUndefined();
    expect(request.headers["content-type"]).toBeUndefined();
    expect(request.body).toBe("");
  });

  it("connectAppUser sends returnTo as return_to JSON", async () => {
    server.respond({ status: 200, body: { redirect_url: "https://provider.test/authorize" } });

    await frontend().connectors.connectAppUser("con_123", { returnTo: "https://app.test/settings" });

    const request = server.onlyRequest();
    expect(request.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request.body)).toEqual({ return_to: "https://app.test/settings" });
  });

  it("connectAppUser sends connectionValues as connection_values, with or without returnTo", async () => {
    server.respond({ status: 200, body: { redirect_url: "https://acme.myshopify.com/admin/oauth/authorize" } });

    await frontend().connectors.connectAppUser("con_shop", { connectionValues: { shop: "acme" } });
    await frontend().connectors.connectAppUser("con_shop", {
      returnTo: "https://app.test/settings",
      connectionValues: { shop: "acme" },
    });

    expect(server.requests.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      { connection_values: { shop: "acme" } },
      { return_to: "https://app.test/settings", connection_values: { shop: "acme" } },
    ]);
    expect(server.requests[0]?.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_shop/initiate`);
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${userToken}`);
  });

  it("connectAppUser with an options object of undefined fields sends no body, as without options", async () => {
    server.respond({ status: 200, body: { redirect_url: "https://provider.test/authorize" } });

    await frontend().connectors.connectAppUser("con_1", { returnTo: undefined, connectionValues: undefined });

    expect(server.onlyRequest().body).toBe("");
  });

  it("disconnectAppUser DELETEs the connector path and resolves to undefined on 204", async () => {
    server.respond({ status: 204 });

    await expect(frontend().connectors.disconnectAppUser("con_123")).resolves.toBeUndefined();

    const request = server.onlyRequest();
    expect(request.method).toBe("DELETE");
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_123`);
    expect(request.headers.authorization).toBe(`Bearer ${userToken}`);
    expect(request.body).toBe("");
  });

  it("listAppUserConnections GETs the user's connections and camelCases each one", async () => {
    server.respond({
      status: 200,
      body: {
        connections: [
          {
            connector_id: "con_123",
            integration_type: "google",
            status: "active",
            scopes: ["email"],
            account: { id: "g-1", email: "ada@acme.test" },
            connected_at: "2025-01-02T03:04:05.000Z",
            last_refreshed_at: "2025-01-03T00:00:00.000Z",
          },
        ],
      },
    });

    const connections = await frontend().connectors.listAppUserConnections();

    expect(connections).toEqual([
      {
        connectorId: "con_123",
        integrationType: "google",
        status: "active",
        scopes: ["email"],
        account: { id: "g-1", email: "ada@acme.test" },
        connectedAt: "2025-01-02T03:04:05.000Z",
        lastRefreshedAt: "2025-01-03T00:00:00.000Z",
      },
    ]);
    const request = server.onlyRequest();
    expect(request.method).toBe("GET");
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connections`);
    expect(request.headers.authorization).toBe(`Bearer ${userToken}`);
  });

  it("percent-encodes every path segment so an id cannot reach another route", async () => {
    server.respond({ status: 204 });

    await createClient({ serverUrl: server.url, appId: "app/1", token: userToken }).connectors.disconnectAppUser(
      "../../x?y#z",
    );

    expect(server.onlyRequest().path).toBe("/api/apps/app%2F1/app-user-auth/connectors/..%2F..%2Fx%3Fy%23z");
  });

  it("joins serverUrl with a trailing slash or a base path without doubling slashes", async () => {
    server.respond({ status: 204 });

    await createClient({
      serverUrl: `${server.url}/latchkey///`,
      appId,
      token: userToken,
    }).connectors.disconnectAppUser("con_1");

    expect(server.onlyRequest().path).toBe(`/latchkey/api/apps/${appId}/app-user-auth/connectors/con_1`);
  });

  it("asks a token function for the current token on every call, and setToken replaces it", async () => {
    server.respond({ status: 204 });
    let issued = 0;
    const client = createClient({ serverUrl: server.url, appId, token: async () => `short-lived-${++issued}` });

    await client.connectors.disconnectAppUser("con_1");
    await client.connectors.disconnectAppUser("con_1");
    client.setToken("after-sign-in");
    await client.connectors.disconnectAppUser("con_1");

    expect(server.requests.map((r) => r.headers.authorization)).toEqual([
      "Bearer short-lived-1",
      "Bearer short-lived-2",
      "Bearer after-sign-in",
    ]);
  });
});

describe("service role connectors (backend)", () => {
  beforeEach(() => server.respond({ status: 200, body: tokenAnswer }));

  it("getCurrentAppUserConnection sends the service key as Authorization and the user as on-behalf-of", async () => {
    const connection = await backend().asServiceRole.connectors.getCurrentAppUserConnection("con_123");

    expect(connection).toEqual(mappedToken);
    const request = server.onlyRequest();
    expect(request.method).toBe("GET");
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_123/token`);
    expect(request.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(request.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
    expect(request.headers["x-app-id"]).toBe(appId);
    expect(request.headers.accept).toBe("application/json");
    expect(request.body).toBe("");
  });

  it("getAppUserConnection names the user in the path and sends no on-behalf-of", async () => {
    const client = createClient({ serverUrl: server.url, appId, serviceToken: serviceKey });

    const connection = await client.asServiceRole.connectors.getAppUserConnection("con_123", "user|auth0 42");

    expect(connection).toEqual(mappedToken);
    const request = server.onlyRequest();
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_123/users/user%7Cauth0%2042/token`);
    expect(request.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(request.headers["on-behalf-of"]).toBeUndefined();
  });

  it("getWorkspaceConnection reads the app's shared connection of a connector", async () => {
    const connection = await backend().asServiceRole.connectors.getWorkspaceConnection("con_123");

    expect(connection).toEqual(mappedToken);
    const request = server.onlyRequest();
    expect(request.path).toBe(`/api/apps/${appId}/external-auth/tokens/connectors/con_123`);
    expect(request.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(request.headers["on-behalf-of"]).toBeUndefined();
  });

  it("getConnection reads the app's shared connection of a provider", async () => {
    const connection = await backend().asServiceRole.connectors.getConnection("salesforce");

    expect(connection).toEqual(mappedToken);
    const request = server.onlyRequest();
    expect(request.path).toBe(`/api/apps/${appId}/external-auth/tokens/salesforce`);
    expect(request.headers["on-behalf-of"]).toBeUndefined();
  });

  it("the deprecated Base44 helpers resolve to the access token string", async () => {
    const connectors = backend().asServiceRole.connectors;

    await expect(connectors.getAccessToken("salesforce")).resolves.toBe(tokenAnswer.access_token);
    await expect(connectors.getCurrentAppUserAccessToken("con_123")).resolves.toBe(tokenAnswer.access_token);

    expect(server.requests.map((r) => r.path)).toEqual([
      `/api/apps/${appId}/external-auth/tokens/salesforce`,
      `/api/apps/${appId}/app-user-auth/connectors/con_123/token`,
    ]);
  });

  it("fills the documented defaults when the server sends only Base44's three fields", async () => {
    server.respond({ status: 200, body: { access_token: "t1", integration_type: "github" } });

    const connection = await backend().asServiceRole.connectors.getWorkspaceConnection("con_1");

    expect(connection).toEqual({
      accessToken: "t1",
      integrationType: "github",
      connectionConfig: null,
      tokenType: "bearer",
      expiresAt: null,
      scopes: [],
      account: null,
    });
  });
});

describe("API proxy (backend)", () => {
  beforeEach(() => server.respond({ status: 200, body: proxyAnswer }));

  it("callApi POSTs Base44's body to the shared-connection route with the service key and maps the answer", async () => {
    const answer = await backend().asServiceRole.connectors.callApi("gmail", { path: "/gmail/v1/users/me/profile" });

    expect(answer).toEqual(mappedProxyAnswer);
    const request = server.onlyRequest();
    expect(request.method).toBe("POST");
    expect(request.path).toBe(`/api/apps/${appId}/connectors/gmail/call`);
    expect(request.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(request.headers["on-behalf-of"]).toBeUndefined();
    expect(request.headers["content-type"]).toBe("application/json");
    // Base44's defaults: GET, no host (the provider's first), empty query and headers, null body.
    expect(JSON.parse(request.body)).toEqual({
      method: "GET",
      path: "/gmail/v1/users/me/profile",
      query: {},
      headers: {},
      body: null,
    });
  });

  it("callApi sends method, host, query, headers and body as given", async () => {
    await backend().asServiceRole.connectors.callApi("slack", {
      method: "POST",
      host: "files",
      path: "/api/chat.postMessage?x=1",
      query: { limit: 10, exclude_archived: true, types: ["public_channel", "private_channel"] },
      headers: { "x-slack-retry": "0" },
      body: { channel: "#general", text: "hi" },
    });

    expect(JSON.parse(server.onlyRequest().body)).toEqual({
      method: "POST",
      host: "files",
      path: "/api/chat.postMessage?x=1",
      query: { limit: 10, exclude_archived: true, types: ["public_channel", "private_channel"] },
      headers: { "x-slack-retry": "0" },
      body: { channel: "#general", text: "hi" },
    });
  });

  it("callApi leaves host out when it is null, as untyped Base44 callers write it", async () => {
    const untyped = { path: "/user", host: null } as unknown as { path: string };

    await backend().asServiceRole.connectors.callApi("github", untyped);

    expect(JSON.parse(server.onlyRequest().body)).not.toHaveProperty("host");
  });

  it("a provider error is an answer (success false), not a thrown error", async () => {
    server.respond({
      status: 200,
      body: { ...proxyAnswer, success: false, status_code: 429, data: { message: "slow down" } },
    });

    const answer = await backend().asServiceRole.connectors.callApi("github", { path: "/user" });

    expect(answer).toMatchObject({ success: false, phase: "responded", status: 429, data: { message: "slow down" } });
  });

  it("a binary answer comes as dataBase64 and contentType, with data null", async () => {
    server.respond({
      status: 200,
      body: { ...proxyAnswer, data: null, data_base64: "JVBERi0=", content_type: "application/pdf" },
    });

    const answer = await backend().asServiceRole.connectors.callApi("googledrive", { path: "/files/1" });

    expect(answer).toMatchObject({ data: null, dataBase64: "JVBERi0=", contentType: "application/pdf" });
  });

  it("fills Base44's defaults when the answer has only success and phase", async () => {
    server.respond({ status: 200, body: { success: false, phase: "not_sent" } });

    const answer = await backend().asServiceRole.connectors.callApi("github", { path: "/user" });

    expect(answer).toEqual({
      success: false,
      phase: "not_sent",
      status: null,
      data: null,
      dataBase64: null,
      contentType: null,
      headers: {},
      creditsCharged: 0,
    });
  });

  it("callAppUserApi without userId calls as the current user: service key plus on-behalf-of", async () => {
    const answer = await backend().asServiceRole.connectors.callAppUserApi("con_123", {
      method: "DELETE",
      path: "/calendar/v3/calendars/primary/events/e1",
    });

    expect(answer).toEqual(mappedProxyAnswer);
    const request = server.onlyRequest();
    expect(request.method).toBe("POST");
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_123/call`);
    expect(request.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(request.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
    expect(JSON.parse(request.body)).toMatchObject({
      method: "DELETE",
      path: "/calendar/v3/calendars/primary/events/e1",
    });
  });

  it("callAppUserApi with userId names the user in the path and sends no on-behalf-of", async () => {
    const client = createClient({ serverUrl: server.url, appId, serviceToken: serviceKey });

    await client.asServiceRole.connectors.callAppUserApi("con_123", { path: "/user" }, { userId: "user|auth0 42" });

    const request = server.onlyRequest();
    expect(request.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_123/users/user%7Cauth0%2042/call`);
    expect(request.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(request.headers["on-behalf-of"]).toBeUndefined();
  });

  it("percent-encodes the integration type so it cannot reach another route", async () => {
    await backend().asServiceRole.connectors.callApi("x/../../users", { path: "/2/tweets" });

    expect(server.onlyRequest().path).toBe(`/api/apps/${appId}/connectors/x%2F..%2F..%2Fusers/call`);
  });
});
