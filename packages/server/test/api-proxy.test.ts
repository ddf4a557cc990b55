/**
 * The API proxy (Base44 `callApi`) on the real server: connections made through the real
 * authorization server harness, calls sent to a small local API emulator that records exactly
 * what reached it; and the unmodified @base44/sdk's callApi against a listening Latchkey.
 */
import { randomBytes } from "node:crypto";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "@base44/sdk";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { createTestApp, TestClock, testKeys, type TestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  callback,
  callbackUrl,
  connectionsSnapshot,
  connectUser,
  createTenant,
  json,
  tableCounts,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";
import { extraInstance, type ExtraInstance } from "./support/multi-instance.ts";

const accessTokenTtlSeconds = 3600;
/** LATCHKEY_REFRESH_BEFORE_SECONDS is 300 by default: 60 s before expiry is inside the window. */
const intoRefreshWindowMs = (accessTokenTtlSeconds - 60) * 1000;
const maxResponseBytes = 2048;
const png = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489", "hex");

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A provider API on loopback that records every request it gets. */
interface Emulator {
  url: string;
  received: Received[];
  /** Access tokens it answers 401 to. */
  rejected: Set<string>;
  /** Answers 401 to every token. */
  settings: { rejectAll: boolean };
  close(): Promise<void>;
}

async function startEmulator(): Promise<Emulator> {
  const received: Received[] = [];
  const rejected = new Set<string>();
  const settings = { rejectAll: false };
  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
    const path = new URL(req.url ?? "/", "http://emulator").pathname;
    const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    if (settings.rejectAll || rejected.has(bearer)) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: "invalid_token" }));
    }
    switch (path) {
      case "/v1/echo":
        res.writeHead(200, {
          "content-type": "application/json; charset=utf-8",
          "x-ratelimit-remaining": "42",
          "x-internal-secret": "not for callers",
          "set-cookie": "session=abc",
        });
        return res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
      case "/v1/text":
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        return res.end("plain words");
      case "/v1/image":
        res.writeHead(200, { "content-type": "image/png" });
        return res.end(png);
      case "/v1/redirect":
        res.writeHead(302, { location: "/v1/stolen" });
        return res.end();
      case "/v1/fail":
        res.writeHead(500, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: "boom" }));
      case "/v1/big":
        res.writeHead(200, { "content-type": "text/plain" });
        return res.end("x".repeat(maxResponseBytes * 2));
      case "/v1/slow":
        setTimeout(() => {
          if (!res.destroyed) res.end("late");
        }, 3_000).unref();
        return;
      case "/v1/reset":
        return req.socket.destroy();
      default:
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: "not_found" }));
    }
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    rejected,
    settings,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function closedPortUrl(): Promise<string> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

interface Answer {
  success: boolean;
  phase: string;
  status_code: number | null;
  data: unknown;
  data_base64: string | null;
  content_type: string | null;
  headers: Record<string, string>;
  credits_charged: number;
}

describe(`the API proxy (${testDbKind()})`, () => {
  const clock = new TestClock();
  const keys = testKeys();
  let harness: AuthorizationServer;
  let emulator: Emulator;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let tenant: Tenant;
  let aliceToken: string;
  const extras: ExtraInstance[] = [];
  const secrets = new Set<string>();

  const sharedPath = () => `/api/apps/${tenant.appId}/connectors/oidc/call`;
  const currentUserPath = () => `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/call`;
  const namedUserPath = (userId = "alice") =>
    `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${encodeURIComponent(userId)}/call`;

  const callShared = (body: unknown, app: TestApp = t) =>
    app.call("POST", sharedPath(), { token: tenant.serviceKey, body });
  const callAsAlice = (body: unknown) =>
    t.call("POST", currentUserPath(), {
      token: tenant.serviceKey,
      body,
      headers: { "on-behalf-of": `Bearer ${aliceToken}` },
    });

  const tokenOf = async (path: string) => {
    const body = await json<{ access_token: string }>(await t.call("GET", path, { token: tenant.serviceKey }), 200);
    secrets.add(body.access_token);
    return body.access_token;
  };
  const sharedToken = () => tokenOf(`/api/apps/${tenant.appId}/external-auth/tokens/connectors/${tenant.connectorId}`);
  const aliceAccessToken = () =>
    tokenOf(`/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/alice/token`);

  const setApiBaseUrl = async (apiBaseUrl: string | null) =>
    json(
      await t.call("PATCH", `/api/workspaces/${tenant.workspaceId}/connectors/${tenant.connectorId}`, {
        token: tenant.adminKey,
        body: { options: { endpoints: apiBaseUrl === null ? null : { api_base_url: apiBaseUrl } } },
      }),
      200,
    );

  beforeAll(async () => {
    harness = await startAuthorizationServer({ accessTokenTtlSeconds });
    emulator = await startEmulator();
    t = await createTestApp({
      clock,
      keys,
      env: { LATCHKEY_PROXY_TIMEOUT_SECONDS: "1", LATCHKEY_PROXY_MAX_RESPONSE_BYTES: String(maxResponseBytes) },
    });
    tenant = await createTenant(t, harness);
    for (const value of [tenant.serviceKey, tenant.adminKey, tenant.clientSecret]) secrets.add(value);
    await setApiBaseUrl(`${emulator.url}/`);

    // The app's shared connection, connected by an admin; and alice's own.
    const initiated = await json<{ redirect_url: string }>(
      await t.call(
        "POST",
        `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}/connectors/${tenant.connectorId}/initiate`,
        { token: tenant.adminKey },
      ),
      200,
    );
    const back = await callback(t, await harness.authorize(initiated.redirect_url, { login: "shared-login" }));
    expect(back.status).toBe(302);
    aliceToken = await userToken(t, tenant, "alice");
    secrets.add(aliceToken);
    const connected = await connectUser(t, harness, tenant, aliceToken, "alice-login", secrets);
    expect(connected.searchParams.get("latchkey_status")).toBe("connected");
  }, 90_000);

  afterAll(async () => {
    for (const extra of extras) await extra.close();
    await t?.close();
    await emulator?.close();
    await harness?.close();
  });

  beforeEach(() => {
    emulator.received.length = 0;
    emulator.rejected.clear();
    emulator.settings.rejectAll = false;
  });

  it("calls the declared host with the shared connection's token and hands back the provider's answer", async () => {
    const token = await sharedToken();
    const answer = await json<Answer>(
      await callShared({ method: "GET", path: "/v1/echo?a=1", query: { q: "x y", n: 2, flag: true, ids: ["p", 7] } }),
      200,
    );
    expect(answer).toEqual({
      success: true,
      phase: "responded",
      status_code: 200,
      data: { ok: true, method: "GET", url: "/v1/echo?a=1&q=x%20y&n=2&flag=true&ids=p&ids=7" },
      data_base64: null,
      content_type: null,
      headers: { "x-ratelimit-remaining": "42" },
      credits_charged: 0,
    });
    expect(emulator.received).toHaveLength(1);
    expect(emulator.received[0]?.headers.authorization).toBe(`Bearer ${token}`);
    expect(await harness.userinfoSub(token)).toBe("shared-login");
  });

  it("matches the shared connection by the connector's integration_type, as getConnection does", async () => {
    const patchOptions = async (options: Record<string, unknown>) =>
      json(
        await t.call("PATCH", `/api/workspaces/${tenant.workspaceId}/connectors/${tenant.connectorId}`, {
          token: tenant.adminKey,
          body: { options },
        }),
        200,
      );
    await patchOptions({ integration_type: "acme_crm" });
    try {
      const token = await sharedToken();
      const answer = await json<Answer>(
        await t.call("POST", `/api/apps/${tenant.appId}/connectors/acme_crm/call`, {
          token: tenant.serviceKey,
          body: { path: "/v1/echo" },
        }),
        200,
      );
      expect(answer).toMatchObject({ success: true, status_code: 200 });
      expect(emulator.received.map((request) => request.headers.authorization)).toEqual([`Bearer ${token}`]);
    } finally {
      await patchOptions({ integration_type: null });
    }
  });

  it("uses the user's own connection on the app-user routes (on-behalf-of and named user)", async () => {
    const token = await aliceAccessToken();
    for (const response of [
      await callAsAlice({ path: "/v1/echo" }),
      await t.call("POST", namedUserPath(), { token: tenant.serviceKey, body: { path: "/v1/echo" } }),
    ]) {
      const answer = await json<Answer>(response, 200);
      expect(answer.success).toBe(true);
    }
    expect(emulator.received.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${token}`,
      `Bearer ${token}`,
    ]);
    expect(await harness.userinfoSub(token)).toBe("alice-login");
  });

  it("forwards only allowed headers: never the caller's Authorization, Cookie or Host, nor unlisted ones", async () => {
    const token = await sharedToken();
    await json<Answer>(
      await callShared({
        method: "POST",
        path: "/v1/echo",
        headers: {
          Accept: "application/vnd.test+json",
          "If-None-Match": '"v1"',
          Authorization: "Bearer stolen",
          Cookie: "session=stolen",
          Host: "evil.example",
          "X-Forwarded-For": "10.0.0.1",
          "X-Custom": "dropped",
        },
        body: { name: "Ada", tags: ["a"] },
      }),
      200,
    );
    const [request] = emulator.received;
    expect(request?.headers.accept).toBe("application/vnd.test+json");
    expect(request?.headers["if-none-match"]).toBe('"v1"');
    expect(request?.headers.authorization).toBe(`Bearer ${token}`);
    expect(request?.headers.cookie).toBeUndefined();
    expect(request?.headers.host).toBe(new URL(emulator.url).host);
    expect(request?.headers["x-forwarded-for"]).toBeUndefined();
    expect(request?.headers["x-custom"]).toBeUndefined();
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual({ name: "Ada", tags: ["a"] });
  });

  it("ignores the body of GET and HEAD", async () => {
    await json<Answer>(await callShared({ method: "GET", path: "/v1/echo", body: { ignored: true } }), 200);
    const head = await json<Answer>(
      await callShared({ method: "HEAD", path: "/v1/echo", body: { ignored: true } }),
      200,
    );
    expect(head).toMatchObject({ success: true, status_code: 200, data: null });
    expect(emulator.received.map((request) => [request.method, request.body, request.headers["content-type"]])).toEqual(
      [
        ["GET", "", undefined],
        ["HEAD", "", undefined],
      ],
    );
  });

  it("returns a redirect as the answer and never follows it", async () => {
    const answer = await json<Answer>(await callShared({ path: "/v1/redirect" }), 200);
    expect(answer).toMatchObject({ success: false, phase: "responded", status_code: 302 });
    expect(emulator.received.map((request) => request.url)).toEqual(["/v1/redirect"]);
  });

  it("hands back binary bodies in data_base64 and text as text", async () => {
    const image = await json<Answer>(await callShared({ path: "/v1/image" }), 200);
    expect(image).toMatchObject({ success: true, data: null, content_type: "image/png" });
    expect(Buffer.from(image.data_base64 ?? "", "base64").equals(png)).toBe(true);
    const text = await json<Answer>(await callShared({ path: "/v1/text" }), 200);
    expect(text).toMatchObject({ success: true, data: "plain words", data_base64: null, content_type: null });
  });

  it("answers a provider 5xx, a timeout, a lost connection and a refused connection with success false and their phase", async () => {
    const failed = await json<Answer>(await callShared({ path: "/v1/fail" }), 200);
    expect(failed).toMatchObject({ success: false, phase: "responded", status_code: 500, data: { error: "boom" } });

    const slow = await json<Answer>(await callShared({ path: "/v1/slow" }), 200);
    expect(slow).toMatchObject({
      success: false,
      phase: "timed_out",
      status_code: null,
      data: { error: { code: "TIMEOUT" } },
    });

    const reset = await json<Answer>(await callShared({ method: "POST", path: "/v1/reset", body: { a: 1 } }), 200);
    expect(reset).toMatchObject({ success: false, phase: "sent_unconfirmed", status_code: null });

    await setApiBaseUrl(await closedPortUrl());
    try {
      const refused = await json<Answer>(await callShared({ path: "/v1/echo" }), 200);
      expect(refused).toMatchObject({
        success: false,
        phase: "not_sent",
        status_code: null,
        data: { error: { code: "CONNECT_FAILED" } },
      });
    } finally {
      await setApiBaseUrl(`${emulator.url}/`);
    }
  });

  it("caps the answer's size with a clear answer", async () => {
    const answer = await json<Answer>(await callShared({ path: "/v1/big" }), 200);
    expect(answer).toMatchObject({
      success: false,
      phase: "responded",
      status_code: 200,
      data: { error: { code: "RESPONSE_TOO_LARGE" } },
    });
    expect(JSON.stringify(answer.data)).toContain(String(maxResponseBytes));
  });

  it("refreshes an expiring token before the call", async () => {
    const before = await aliceAccessToken();
    clock.advance(intoRefreshWindowMs);
    harness.resetCounters();
    const answer = await json<Answer>(await callAsAlice({ path: "/v1/echo" }), 200);
    expect(answer.success).toBe(true);
    expect(harness.counters.refreshGrants).toBe(1);
    const after = await aliceAccessToken();
    expect(after).not.toBe(before);
    expect(emulator.received.map((request) => request.headers.authorization)).toEqual([`Bearer ${after}`]);
    expect(await harness.userinfoSub(after)).toBe("alice-login");
  });

  it("refreshes once after a 401 and retries once with the new token", async () => {
    const before = await aliceAccessToken();
    emulator.rejected.add(before);
    harness.resetCounters();
    const answer = await json<Answer>(await callAsAlice({ path: "/v1/echo" }), 200);
    expect(answer).toMatchObject({ success: true, status_code: 200 });
    expect(harness.counters.refreshGrants).toBe(1);
    const after = await aliceAccessToken();
    expect(after).not.toBe(before);
    expect(emulator.received.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${before}`,
      `Bearer ${after}`,
    ]);
  });

  it("hands the second 401 back: one refresh and one retry at most", async () => {
    const token = await aliceAccessToken();
    emulator.settings.rejectAll = true;
    harness.resetCounters();
    const answer = await json<Answer>(await callAsAlice({ path: "/v1/echo" }), 200);
    expect(answer).toMatchObject({ success: false, phase: "responded", status_code: 401 });
    expect(harness.counters.refreshGrants).toBe(1);
    const renewed = await aliceAccessToken();
    expect(emulator.received.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${token}`,
      `Bearer ${renewed}`,
    ]);
  });

  it("applies the private-network guard: a loopback API is refused and never contacted", async () => {
    // A plain oauth2 connector, so that only the API call meets the guard: an oidc connector's
    // discovery at the loopback issuer would be refused before it.
    const clientId = `guard-${randomBytes(4).toString("hex")}`;
    const clientSecret = randomBytes(16).toString("hex");
    harness.addClient({
      clientId,
      clientSecret,
      redirectUris: [callbackUrl],
      tokenEndpointAuthMethod: "client_secret_basic",
    });
    const created = await json<{ connector: { id: string } }>(
      await t.call("POST", `/api/workspaces/${tenant.workspaceId}/connectors`, {
        token: tenant.adminKey,
        body: {
          provider: "oauth2",
          client_id: clientId,
          client_secret: clientSecret,
          authorization_url: harness.authorizationEndpoint,
          token_url: harness.tokenEndpoint,
          scopes: ["openid", "api:read"],
          endpoints: { api_base_url: `${emulator.url}/` },
        },
      }),
      201,
    );
    const initiated = await json<{ redirect_url: string }>(
      await t.call(
        "POST",
        `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}/connectors/${created.connector.id}/initiate`,
        { token: tenant.adminKey },
      ),
      200,
    );
    expect((await callback(t, await harness.authorize(initiated.redirect_url, { login: "guard-login" }))).status).toBe(
      302,
    );
    const call = (app: TestApp) =>
      app.call("POST", `/api/apps/${tenant.appId}/connectors/oauth2/call`, {
        token: tenant.serviceKey,
        body: { path: "/v1/echo" },
      });
    // Without the guard the same call reaches the emulator: the guard alone refuses it below.
    expect(await json<Answer>(await call(t), 200)).toMatchObject({ success: true, status_code: 200 });
    emulator.received.length = 0;

    const guarded = await extraInstance(t, { clock, keys, env: { LATCHKEY_DENY_PRIVATE_NETWORK: "true" } });
    extras.push(guarded);
    const answer = await json<Answer>(await call(guarded.app), 200);
    expect(answer).toMatchObject({ success: false, phase: "not_sent", data: { error: { code: "BLOCKED" } } });
    expect(emulator.received).toEqual([]);
  });

  it("keeps tokens and bodies out of the logs", async () => {
    await json<Answer>(
      await callShared({ method: "POST", path: "/v1/echo", body: { secret_note: "do-not-log" } }),
      200,
    );
    const logs = t.logs.text;
    expect(logs).toContain("provider API called through the proxy");
    expect(logs).not.toContain("do-not-log");
    for (const secret of secrets) if (secret) expect(logs).not.toContain(secret);
  });

  describe("bad input: a 4xx with a stable code, the emulator never contacted, nothing changed", () => {
    const badBodies: Array<[string, unknown]> = [
      ["no path", {}],
      ["an empty path", { path: "" }],
      ["an absolute URL", { path: "https://evil.example/steal" }],
      ["a scheme-relative URL", { path: "//evil.example/steal" }],
      ["a relative path without /", { path: "v1/echo" }],
      ["a .. segment", { path: "/v1/../admin" }],
      ["an encoded .. segment", { path: "/v1/%2e%2E/admin" }],
      ["an encoded ../", { path: "/v1/..%2Fadmin" }],
      ["a backslash", { path: "/v1\\..\\admin" }],
      ["whitespace", { path: "/v1/echo x" }],
      ["a fragment", { path: "/v1/echo#frag" }],
      ["a malformed escape", { path: "/v1/%zz" }],
      ["an unknown host", { path: "/v1/echo", host: "elsewhere" }],
      ["an unknown method", { method: "TRACE", path: "/v1/echo" }],
      ["a lower-case method", { method: "get", path: "/v1/echo" }],
      ["a nested query value", { path: "/v1/echo", query: { a: { b: 1 } } }],
      ["a header value with a line break", { path: "/v1/echo", headers: { Accept: "a\r\nX-Evil: 1" } }],
      ["a header name that is not a token", { path: "/v1/echo", headers: { "Bad Header": "x" } }],
      ["an unknown field", { path: "/v1/echo", url: "https://evil.example" }],
      ["a body that is not an object", ["/v1/echo"]],
    ];

    const routes = () => [
      { name: "shared", path: sharedPath(), headers: {} },
      { name: "on-behalf-of", path: currentUserPath(), headers: { "on-behalf-of": `Bearer ${aliceToken}` } },
      { name: "named user", path: namedUserPath(), headers: {} },
    ];

    it("refuses malformed calls on every route", async () => {
      const counts = await tableCounts(t);
      const snapshot = await connectionsSnapshot(t);
      for (const route of routes()) {
        for (const [name, body] of badBodies) {
          const response = await t.call("POST", route.path, { token: tenant.serviceKey, body, headers: route.headers });
          const answer = await json<{ error: { code: string } }>(response, 400);
          expect(answer.error.code, `${route.name}: ${name}`).toBe("INVALID_REQUEST");
        }
        const notJson = await t.call("POST", route.path, {
          token: tenant.serviceKey,
          body: "{not json",
          headers: route.headers,
        });
        expect((await json<{ error: { code: string } }>(notJson, 400)).error.code).toBe("INVALID_REQUEST");
        const wrongType = await t.call("POST", route.path, {
          token: tenant.serviceKey,
          body: "path=/v1/echo",
          headers: { ...route.headers, "content-type": "application/x-www-form-urlencoded" },
        });
        expect((await json<{ error: { code: string } }>(wrongType, 415)).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      }
      expect(emulator.received).toEqual([]);
      expect(await tableCounts(t)).toEqual(counts);
      expect(await connectionsSnapshot(t)).toEqual(snapshot);
    });

    it("refuses missing or wrong credentials and unknown connections", async () => {
      const counts = await tableCounts(t);
      const snapshot = await connectionsSnapshot(t);
      const body = { path: "/v1/echo" };
      const cases: Array<[string, Promise<Response>, number, string]> = [
        ["no service key", t.call("POST", sharedPath(), { body }), 401, "UNAUTHENTICATED"],
        [
          "a user token as service key",
          t.call("POST", sharedPath(), { token: aliceToken, body }),
          401,
          "UNAUTHENTICATED",
        ],
        [
          "X-App-Id of another app",
          t.call("POST", sharedPath(), { token: tenant.serviceKey, body, headers: { "x-app-id": "app_other" } }),
          400,
          "INVALID_REQUEST",
        ],
        [
          "no on-behalf-of",
          t.call("POST", currentUserPath(), { token: tenant.serviceKey, body }),
          401,
          "INVALID_USER_TOKEN",
        ],
        [
          "a garbage on-behalf-of",
          t.call("POST", currentUserPath(), {
            token: tenant.serviceKey,
            body,
            headers: { "on-behalf-of": "Bearer not.a.token" },
          }),
          401,
          "INVALID_USER_TOKEN",
        ],
        [
          "an unknown integration type",
          t.call("POST", `/api/apps/${tenant.appId}/connectors/nosuchprovider/call`, {
            token: tenant.serviceKey,
            body,
          }),
          404,
          "CONNECTION_NOT_FOUND",
        ],
        [
          "a user without a connection",
          t.call("POST", namedUserPath("nobody"), { token: tenant.serviceKey, body }),
          404,
          "CONNECTION_NOT_FOUND",
        ],
        [
          "an unknown connector",
          t.call("POST", `/api/apps/${tenant.appId}/app-user-auth/connectors/con_nope/users/alice/call`, {
            token: tenant.serviceKey,
            body,
          }),
          404,
          "CONNECTION_NOT_FOUND",
        ],
        [
          "a user id with a control character",
          t.call("POST", namedUserPath("a\u0001b"), { token: tenant.serviceKey, body }),
          400,
          "INVALID_REQUEST",
        ],
        ["GET instead of POST", t.call("GET", sharedPath(), { token: tenant.serviceKey }), 404, "NOT_FOUND"],
      ];
      for (const [name, pending, status, code] of cases) {
        const answer = await json<{ error: { code: string } }>(await pending, status);
        expect(answer.error.code, name).toBe(code);
      }
      expect(emulator.received).toEqual([]);
      expect(await tableCounts(t)).toEqual(counts);
      expect(await connectionsSnapshot(t)).toEqual(snapshot);
    });

    it("refuses an http API base URL that is not on this machine when the connector is changed", async () => {
      const response = await t.call("PATCH", `/api/workspaces/${tenant.workspaceId}/connectors/${tenant.connectorId}`, {
        token: tenant.adminKey,
        body: { options: { endpoints: { api_base_url: "http://api.example.com" } } },
      });
      expect((await json<{ error: { code: string } }>(response, 400)).error.code).toBe("INVALID_REQUEST");
    });
  });

  describe("the unmodified @base44/sdk", () => {
    let server: Server;
    let serverUrl: string;

    beforeAll(async () => {
      await new Promise<void>((resolve) => {
        server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve()) as Server;
      });
      serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("asServiceRole.connectors.callApi calls the provider's API with the shared connection", async () => {
      const client = createClient({ serverUrl, appId: tenant.appId, serviceToken: tenant.serviceKey });
      const token = await sharedToken();
      const res = await client.asServiceRole.connectors.callApi("oidc", {
        method: "POST",
        path: "/v1/echo",
        query: { page: 2 },
        headers: { Accept: "application/json", "X-Custom": "dropped" },
        body: { text: "Shipped!" },
      });
      expect(res).toEqual({
        success: true,
        phase: "responded",
        status: 200,
        data: { ok: true, method: "POST", url: "/v1/echo?page=2" },
        dataBase64: null,
        contentType: null,
        headers: { "x-ratelimit-remaining": "42" },
        creditsCharged: 0,
      });
      expect(emulator.received[0]?.headers.authorization).toBe(`Bearer ${token}`);
      expect(emulator.received[0]?.headers["x-custom"]).toBeUndefined();

      const failed = await client.asServiceRole.connectors.callApi("oidc", { path: "/v1/fail" });
      expect(failed).toMatchObject({ success: false, phase: "responded", status: 500, data: { error: "boom" } });
      const image = await client.asServiceRole.connectors.callApi("oidc", { path: "/v1/image" });
      expect(image).toMatchObject({ success: true, data: null, contentType: "image/png" });
      expect(Buffer.from(image.dataBase64 ?? "", "base64").equals(png)).toBe(true);
      // The SDK logs the errors it throws outside production; this one is expected.
      const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
      try {
        const nonce = randomBytes(4).toString("hex");
        await expect(
          client.asServiceRole.connectors.callApi("oidc", { path: "/v1/echo", host: `nohost${nonce}` }),
        ).rejects.toMatchObject({ status: 400, code: "INVALID_REQUEST" });
      } finally {
        quiet.mockRestore();
      }
      expect(emulator.received).toHaveLength(3);
    });
  });
});
