import type { Connector } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace } from "../../test/support/tenants.ts";
import { buildTestApp, createTestApp, type TestApp } from "../../test/support/test-app.ts";
import { newId } from "../kernel/ids.ts";
import { issueSecretKey } from "../access/secret-keys.ts";
import { clientSecretContext } from "./connectors.ts";

const secret = "sEcReT-client-value-4f1d2b9c7e";
const rotatedSecret = "RoTaTeD-client-value-9a8b7c6d5e";

const oauth2Body = {
  provider: "oauth2",
  client_id: "client-123",
  client_secret: secret,
  authorization_url: "https://idp.example/oauth/authorize",
  token_url: "https://idp.example/oauth/token",
};

const oidcBody = { provider: "oidc", client_id: "oidc-client", client_secret: secret, issuer: "https://id.example" };

let t: Awaited<ReturnType<typeof createTestApp>>;
/** Every response body the tests received, to prove no secret was ever returned. */
const responseTexts: string[] = [];

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

interface Workspace {
  id: string;
  adminKey: string;
  path: string;
}

async function newWorkspace(): Promise<Workspace> {
  const created = await createWorkspace(t);
  return { id: created.id, adminKey: created.adminKey, path: `/api/workspaces/${created.id}/connectors` };
}

/** A key of a member with the plain "member" role. */
async function memberKey(workspaceId: string): Promise<string> {
  const key = issueSecretKey("admin");
  const memberId = newId("mem");
  await t.deps.db
    .insertInto("members")
    .values({ id: memberId, workspace_id: workspaceId, email: `${memberId}@example.test`, role: "member" })
    .execute();
  await t.deps.db
    .insertInto("admin_api_keys")
    .values({
      id: newId("key"),
      workspace_id: workspaceId,
      member_id: memberId,
      name: "member key",
      prefix: key.prefix,
      key_hash: key.hash,
    })
    .execute();
  return key.key;
}

async function call(
  app: TestApp,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown> & { error?: { code: string; message: string } } }> {
  const response = await app.call(method, path, options);
  const text = await response.text();
  responseTexts.push(text);
  return { status: response.status, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const api = (method: string, path: string, options?: Parameters<typeof call>[3]) => call(t, method, path, options);

async function createConnector(ws: Workspace, body: Record<string, unknown> = oauth2Body): Promise<Connector> {
  const response = await api("POST", ws.path, { token: ws.adminKey, body });
  expect(response.status, JSON.stringify(response.json)).toBe(201);
  return response.json.connector as Connector;
}

async function connectorRows(workspaceId: string) {
  return t.deps.db.selectFrom("connectors").selectAll().where("workspace_id", "=", workspaceId).orderBy("id").execute();
}

/** Runs a request that must be refused, and checks that it changed no connector. */
async function expectRefused(
  ws: Workspace,
  request: () => ReturnType<typeof call>,
  status: number,
  code: string,
): Promise<{ code: string; message: string }> {
  const before = await connectorRows(ws.id);
  const response = await request();
  expect(response.status, JSON.stringify(response.json)).toBe(status);
  expect(response.json.error?.code).toBe(code);
  expect(await connectorRows(ws.id)).toEqual(before);
  return response.json.error as { code: string; message: string };
}

describe("POST /api/workspaces/{workspaceId}/connectors", () => {
  it("registers a generic oauth2 connector and returns it without the secret", async () => {
    const ws = await newWorkspace();
    const response = await api("POST", ws.path, {
      token: ws.adminKey,
      body: {
        ...oauth2Body,
        name: "Internal IdP",
        scopes: ["read", "write", "read"],
        userinfo_url: "https://idp.example/me",
      },
    });
    expect(response.status).toBe(201);
    const connector = response.json.connector as Connector;
    expect(connector).toEqual({
      id: expect.stringMatching(/^con_[0-9a-z]{20}$/),
      workspace_id: ws.id,
      provider: "oauth2",
      name: "Internal IdP",
      client_id: "client-123",
      scopes: ["read", "write"],
      status: "enabled",
      callback_url: "http://latchkey.test/oauth/callback",
      options: {
        authorization_url: "https://idp.example/oauth/authorize",
        token_url: "https://idp.example/oauth/token",
        userinfo_url: "https://idp.example/me",
      },
      has_client_secret: true,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(Object.keys(connector)).not.toContain("client_secret");
  });

  it("registers an oidc connector named after the provider by default", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws, { ...oidcBody, pkce: false, authorize_params: { prompt: "consent" } });
    expect(connector).toMatchObject({
      provider: "oidc",
      name: "OpenID Connect",
      scopes: [],
      has_client_secret: true,
      options: { issuer: "https://id.example", pkce: false, authorize_params: { prompt: "consent" } },
    });
  });

  it("registers a public client (token_endpoint_auth_method none) without a secret", async () => {
    const ws = await newWorkspace();
    const { client_secret: _omitted, ...publicClient } = oidcBody;
    const connector = await createConnector(ws, { ...publicClient, token_endpoint_auth_method: "none" });
    expect(connector.has_client_secret).toBe(false);
    const [row] = await connectorRows(ws.id);
    expect(row?.client_secret).toBeNull();
  });

  it("registers a disabled connector when asked to", async () => {
    const ws = await newWorkspace();
    expect((await createConnector(ws, { ...oauth2Body, status: "disabled" })).status).toBe("disabled");
  });

  it.each([
    ["localhost", "http://localhost:8080/authorize"],
    ["127.0.0.1", "http://127.0.0.1:9000/authorize"],
    ["[::1]", "http://[::1]:9000/authorize"],
    ["a .localhost name", "http://idp.localhost/authorize"],
  ])("accepts plain http to %s, for a provider on the same machine", async (_label, url) => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws, { ...oauth2Body, authorization_url: url });
    expect(connector.options.authorization_url).toBe(url);
  });

  it("stores the client secret encrypted and bound to the connector's row", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const [row] = await connectorRows(ws.id);
    if (!row?.client_secret) throw new Error("no stored secret");
    expect(row.client_secret).not.toContain(secret);
    expect(row.client_secret).toMatch(/^lk1\./);
    expect(t.deps.vault.decrypt(row.client_secret, clientSecretContext(connector.id))).toBe(secret);
    expect(() => t.deps.vault.decrypt(row.client_secret ?? "", clientSecretContext("con_other"))).toThrow();
  });

  it("refuses an unknown provider and lists the valid ones", async () => {
    const ws = await newWorkspace();
    const error = await expectRefused(
      ws,
      () => api("POST", ws.path, { token: ws.adminKey, body: { ...oauth2Body, provider: "no-such-provider" } }),
      400,
      "INVALID_REQUEST",
    );
    expect(error.message).toContain("provider must be one of: oauth2, oidc");
  });

  const { client_secret: _secret, ...withoutSecret } = oauth2Body;
  const { token_url: _tokenUrl, ...withoutTokenUrl } = oauth2Body;
  const { client_id: _clientId, ...withoutClientId } = oauth2Body;
  const { issuer: _issuer, ...oidcWithoutIssuer } = oidcBody;
  const badBodies: [string, unknown, string][] = [
    ["a missing provider", { client_id: "x", client_secret: secret }, "provider"],
    ["a numeric provider", { ...oauth2Body, provider: 2 }, "provider"],
    ["a missing client_id", withoutClientId, "client_id"],
    ["a numeric client_id", { ...oauth2Body, client_id: 123 }, "client_id"],
    ["an empty client_id", { ...oauth2Body, client_id: "  " }, "client_id"],
    ["a client_id with a newline", { ...oauth2Body, client_id: "a\nb" }, "client_id"],
    ["a missing client_secret for client_secret_basic", withoutSecret, "client_secret"],
    [
      "a missing client_secret for client_secret_post",
      { ...withoutSecret, token_endpoint_auth_method: "client_secret_post" },
      "client_secret",
    ],
    ["a client_secret with auth method none", { ...oauth2Body, token_endpoint_auth_method: "none" }, "client_secret"],
    [
      "an unknown auth method",
      { ...oauth2Body, token_endpoint_auth_method: "private_key_jwt" },
      "token_endpoint_auth_method",
    ],
    ["scopes that are not an array", { ...oauth2Body, scopes: "read write" }, "scopes"],
    ["a scope with a space", { ...oauth2Body, scopes: ["read write"] }, "scopes.0"],
    ["too many scopes", { ...oauth2Body, scopes: Array.from({ length: 101 }, (_, i) => `s${i}`) }, "scopes"],
    ["a missing token_url", withoutTokenUrl, "token_url"],
    ["a javascript: URL", { ...oauth2Body, authorization_url: "javascript:alert(1)" }, "authorization_url"],
    ["a data: URL", { ...oauth2Body, token_url: "data:text/plain,hi" }, "token_url"],
    ["an ftp URL", { ...oauth2Body, token_url: "ftp://idp.example/token" }, "token_url"],
    ["a relative URL", { ...oauth2Body, token_url: "/token" }, "token_url"],
    ["plain http to a public host", { ...oauth2Body, token_url: "http://idp.example/token" }, "token_url"],
    ["plain http to a private address", { ...oauth2Body, token_url: "http://10.0.0.5/token" }, "token_url"],
    ["credentials in a URL", { ...oauth2Body, token_url: "https://user:pw@idp.example/token" }, "token_url"],
    [
      "a fragment in a URL",
      { ...oauth2Body, authorization_url: "https://idp.example/authorize#x" },
      "authorization_url",
    ],
    ["whitespace hidden in a URL", { ...oauth2Body, token_url: "https://idp.exa\tmple/token" }, "token_url"],
    [
      "a URL over 2048 characters",
      { ...oauth2Body, token_url: `https://idp.example/${"a".repeat(2100)}` },
      "token_url",
    ],
    ["a non-string URL", { ...oauth2Body, revocation_url: 42 }, "revocation_url"],
    ["an oidc connector without an issuer", oidcWithoutIssuer, "issuer"],
    ["an issuer with a query", { ...oidcBody, issuer: "https://id.example/?tenant=1" }, "issuer"],
    ["an oauth2-only option on an oidc connector", { ...oidcBody, authorization_url: "https://id.example/a" }, "body"],
    ["an unknown field", { ...oauth2Body, client_secrt: "x" }, "body"],
    [
      "a prototype key",
      JSON.parse(
        `{"provider":"oauth2","client_id":"c","client_secret":"s","authorization_url":"https://a.example/a","token_url":"https://a.example/t","__proto__":{"x":1}}`,
      ),
      "body",
    ],
    ["a non-boolean pkce", { ...oauth2Body, pkce: "yes" }, "pkce"],
    [
      "authorize_params overriding redirect_uri",
      { ...oauth2Body, authorize_params: { redirect_uri: "https://evil.example" } },
      "authorize_params.redirect_uri",
    ],
    [
      "authorize_params overriding state",
      { ...oauth2Body, authorize_params: { state: "fixed" } },
      "authorize_params.state",
    ],
    ["a non-string authorize param", { ...oauth2Body, authorize_params: { prompt: true } }, "authorize_params.prompt"],
    ["an unknown account field", { ...oauth2Body, account_fields: { phone: "phone" } }, "account_fields"],
    ["an empty name", { ...oauth2Body, name: " " }, "name"],
    ["a name over 200 characters", { ...oauth2Body, name: "n".repeat(201) }, "name"],
    ["a client_secret over 4096 characters", { ...oauth2Body, client_secret: "s".repeat(4097) }, "client_secret"],
    ["an unknown status", { ...oauth2Body, status: "paused" }, "status"],
    ["an array body", [oauth2Body], "body"],
    ["a string body", "oauth2", "body"],
  ];
  it.each(badBodies)("refuses %s with 400 and registers nothing", async (_label, body, path) => {
    const ws = await newWorkspace();
    const before = await connectorRows(ws.id);
    const response = await api("POST", ws.path, { token: ws.adminKey, body: JSON.stringify(body) });
    expect(response.status, JSON.stringify(response.json)).toBe(400);
    expect(response.json.error?.code).toBe("INVALID_REQUEST");
    const issues = (response.json.error as { details?: { issues?: { path: string }[] } }).details?.issues ?? [];
    if (path !== "body") expect(issues.map((issue) => issue.path)).toContain(path);
    expect(await connectorRows(ws.id)).toEqual(before);
  });

  it("refuses a body that is not JSON", async () => {
    const ws = await newWorkspace();
    await expectRefused(
      ws,
      () => api("POST", ws.path, { token: ws.adminKey, body: "{not json" }),
      400,
      "INVALID_REQUEST",
    );
  });

  it("refuses a body that is not application/json", async () => {
    const ws = await newWorkspace();
    const send = () =>
      api("POST", ws.path, {
        token: ws.adminKey,
        body: JSON.stringify(oauth2Body),
        headers: { "content-type": "text/plain" },
      });
    await expectRefused(ws, send, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses a body over the size limit", async () => {
    const ws = await newWorkspace();
    const huge = { ...oauth2Body, name: "n".repeat(70_000) };
    await expectRefused(ws, () => api("POST", ws.path, { token: ws.adminKey, body: huge }), 413, "PAYLOAD_TOO_LARGE");
  });

  it("refuses an empty body", async () => {
    const ws = await newWorkspace();
    await expectRefused(ws, () => api("POST", ws.path, { token: ws.adminKey, body: "" }), 400, "INVALID_REQUEST");
  });

  describe("with LATCHKEY_DENY_PRIVATE_NETWORK=true", () => {
    let denying: TestApp;
    beforeAll(() => {
      denying = buildTestApp({ database: t.database, env: { LATCHKEY_DENY_PRIVATE_NETWORK: "true" } });
    });

    it.each([
      ["localhost", "http://localhost:8080/token"],
      ["a loopback address", "https://127.0.0.1/token"],
      ["a private address", "https://192.168.1.10/token"],
      ["a link-local address", "https://169.254.169.254/token"],
      ["an IPv6 unique-local address", "https://[fd00::1]/token"],
    ])("refuses a token_url on %s", async (_label, url) => {
      const ws = await newWorkspace();
      const error = await expectRefused(
        ws,
        () => call(denying, "POST", ws.path, { token: ws.adminKey, body: { ...oauth2Body, token_url: url } }),
        400,
        "INVALID_REQUEST",
      );
      expect(error.message).toMatch(/LATCHKEY_DENY_PRIVATE_NETWORK/);
    });

    it("still accepts a public https provider", async () => {
      const ws = await newWorkspace();
      const response = await call(denying, "POST", ws.path, { token: ws.adminKey, body: oauth2Body });
      expect(response.status).toBe(201);
    });
  });
});

describe("authentication and roles", () => {
  it("refuses a request without credentials", async () => {
    const ws = await newWorkspace();
    await expectRefused(ws, () => api("POST", ws.path, { body: oauth2Body }), 401, "UNAUTHENTICATED");
    expect((await api("GET", ws.path)).status).toBe(401);
  });

  it("refuses an unknown key and a key of the wrong kind", async () => {
    const ws = await newWorkspace();
    await expectRefused(
      ws,
      () => api("POST", ws.path, { token: issueSecretKey("admin").key, body: oauth2Body }),
      401,
      "UNAUTHENTICATED",
    );
    await expectRefused(
      ws,
      () => api("POST", ws.path, { token: issueSecretKey("service").key, body: oauth2Body }),
      401,
      "UNAUTHENTICATED",
    );
    await expectRefused(ws, () => api("POST", ws.path, { token: "garbage", body: oauth2Body }), 401, "UNAUTHENTICATED");
  });

  it("answers 404 to an admin of another workspace, for every route", async () => {
    const ws = await newWorkspace();
    const other = await newWorkspace();
    const connector = await createConnector(ws);
    const one = `${ws.path}/${connector.id}`;
    await expectRefused(ws, () => api("POST", ws.path, { token: other.adminKey, body: oauth2Body }), 404, "NOT_FOUND");
    await expectRefused(ws, () => api("GET", ws.path, { token: other.adminKey }), 404, "NOT_FOUND");
    await expectRefused(ws, () => api("GET", one, { token: other.adminKey }), 404, "NOT_FOUND");
    await expectRefused(ws, () => api("PATCH", one, { token: other.adminKey, body: { name: "x" } }), 404, "NOT_FOUND");
    await expectRefused(ws, () => api("DELETE", one, { token: other.adminKey }), 404, "NOT_FOUND");
  });

  it("lets a member read connectors but not change them", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const key = await memberKey(ws.id);
    const one = `${ws.path}/${connector.id}`;
    expect((await api("GET", ws.path, { token: key })).status).toBe(200);
    expect((await api("GET", one, { token: key })).status).toBe(200);
    await expectRefused(ws, () => api("POST", ws.path, { token: key, body: oauth2Body }), 403, "FORBIDDEN");
    await expectRefused(ws, () => api("PATCH", one, { token: key, body: { name: "x" } }), 403, "FORBIDDEN");
    await expectRefused(ws, () => api("DELETE", one, { token: key }), 403, "FORBIDDEN");
  });
});

describe("GET connectors", () => {
  it("lists only this workspace's connectors, oldest first", async () => {
    const ws = await newWorkspace();
    const other = await newWorkspace();
    const first = await createConnector(ws);
    const second = await createConnector(ws, oidcBody);
    await createConnector(other);
    const response = await api("GET", ws.path, { token: ws.adminKey });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ connectors: [first, second] });
  });

  it("gets one connector", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const response = await api("GET", `${ws.path}/${connector.id}`, { token: ws.adminKey });
    expect(response).toEqual({ status: 200, json: { connector } });
  });

  it("answers 404 for an unknown id and for another workspace's connector", async () => {
    const ws = await newWorkspace();
    const other = await newWorkspace();
    const theirs = await createConnector(other);
    expect((await api("GET", `${ws.path}/con_doesnotexist`, { token: ws.adminKey })).json.error?.code).toBe(
      "NOT_FOUND",
    );
    const response = await api("GET", `${ws.path}/${theirs.id}`, { token: ws.adminKey });
    expect(response.status).toBe(404);
    expect(response.json.error?.code).toBe("NOT_FOUND");
  });
});

describe("PATCH connectors", () => {
  it("changes the name, client id, scopes and status", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const response = await api("PATCH", `${ws.path}/${connector.id}`, {
      token: ws.adminKey,
      body: { name: "Renamed", client_id: "client-456", scopes: ["a", "b"], status: "disabled" },
    });
    expect(response.status).toBe(200);
    expect(response.json.connector).toEqual({
      ...connector,
      name: "Renamed",
      client_id: "client-456",
      scopes: ["a", "b"],
      status: "disabled",
      updated_at: expect.any(String),
    });
  });

  it("rotates the client secret without returning it", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const response = await api("PATCH", `${ws.path}/${connector.id}`, {
      token: ws.adminKey,
      body: { client_secret: rotatedSecret },
    });
    expect(response.status).toBe(200);
    expect((response.json.connector as Connector).has_client_secret).toBe(true);
    const [row] = await connectorRows(ws.id);
    expect(t.deps.vault.decryptNullable(row?.client_secret ?? null, clientSecretContext(connector.id))).toBe(
      rotatedSecret,
    );
    expect(row?.client_secret).not.toContain(rotatedSecret);
  });

  it("merges options: given ones replace, null removes an optional one", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws, { ...oauth2Body, userinfo_url: "https://idp.example/me", pkce: false });
    const response = await api("PATCH", `${ws.path}/${connector.id}`, {
      token: ws.adminKey,
      body: { options: { token_url: "https://idp.example/v2/token", userinfo_url: null, scope_separator: "," } },
    });
    expect(response.status, JSON.stringify(response.json)).toBe(200);
    expect((response.json.connector as Connector).options).toEqual({
      authorization_url: "https://idp.example/oauth/authorize",
      token_url: "https://idp.example/v2/token",
      pkce: false,
      scope_separator: ",",
    });
  });

  it("turns a confidential client into a public one only when its secret is removed too", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const one = `${ws.path}/${connector.id}`;
    const error = await expectRefused(
      ws,
      () => api("PATCH", one, { token: ws.adminKey, body: { options: { token_endpoint_auth_method: "none" } } }),
      400,
      "INVALID_REQUEST",
    );
    expect(error.message).toContain("send client_secret: null");
    const response = await api("PATCH", one, {
      token: ws.adminKey,
      body: { client_secret: null, options: { token_endpoint_auth_method: "none" } },
    });
    expect(response.status).toBe(200);
    expect((response.json.connector as Connector).has_client_secret).toBe(false);
    expect((await connectorRows(ws.id))[0]?.client_secret).toBeNull();
  });

  const badPatches: [string, unknown, string][] = [
    ["an empty body", {}, "body"],
    ["a provider change", { provider: "oidc" }, "body"],
    ["an unknown field", { nmae: "x" }, "body"],
    ["a numeric name", { name: 5 }, "name"],
    ["an empty client_id", { client_id: "" }, "client_id"],
    ["removing the secret of a confidential client", { client_secret: null }, "client_secret"],
    ["an empty client_secret", { client_secret: "" }, "client_secret"],
    ["an unknown status", { status: "paused" }, "status"],
    ["scopes that are not an array", { scopes: "a b" }, "scopes"],
    ["options that are not an object", { options: "x" }, "options"],
    ["a javascript: URL option", { options: { token_url: "javascript:alert(1)" } }, "options.token_url"],
    [
      "plain http to a public host",
      { options: { authorization_url: "http://idp.example/a" } },
      "options.authorization_url",
    ],
    ["removing a required option", { options: { token_url: null } }, "options.token_url"],
    ["an option the provider does not have", { options: { issuer_url: "https://x.example" } }, "options"],
    ["an option name that is not lowercase", { options: { Token_Url: "https://x.example" } }, "options.Token_Url"],
  ];
  it.each(badPatches)("refuses %s with 400 and changes nothing", async (_label, body, path) => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const before = await connectorRows(ws.id);
    const response = await api("PATCH", `${ws.path}/${connector.id}`, { token: ws.adminKey, body });
    expect(response.status, JSON.stringify(response.json)).toBe(400);
    expect(response.json.error?.code).toBe("INVALID_REQUEST");
    const issues = (response.json.error as { details?: { issues?: { path: string }[] } }).details?.issues ?? [];
    if (path !== "body") expect(issues.map((issue) => issue.path)).toContain(path);
    expect(await connectorRows(ws.id)).toEqual(before);
  });

  it("refuses an oauth2-only option on an oidc connector", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws, oidcBody);
    const patch = () =>
      api("PATCH", `${ws.path}/${connector.id}`, {
        token: ws.adminKey,
        body: { options: { token_url: "https://id.example/t" } },
      });
    await expectRefused(ws, patch, 400, "INVALID_REQUEST");
  });

  it("answers 404 for an unknown id and changes nothing", async () => {
    const ws = await newWorkspace();
    await createConnector(ws);
    await expectRefused(
      ws,
      () => api("PATCH", `${ws.path}/con_unknown`, { token: ws.adminKey, body: { name: "x" } }),
      404,
      "NOT_FOUND",
    );
  });

  it("answers 404 when the connector belongs to another workspace, and leaves it alone", async () => {
    const ws = await newWorkspace();
    const other = await newWorkspace();
    const theirs = await createConnector(other);
    const patch = () => api("PATCH", `${ws.path}/${theirs.id}`, { token: ws.adminKey, body: { name: "hijacked" } });
    await expectRefused(other, patch, 404, "NOT_FOUND");
  });

  it("refuses a body over the size limit", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const patch = () =>
      api("PATCH", `${ws.path}/${connector.id}`, { token: ws.adminKey, body: { name: "n".repeat(70_000) } });
    await expectRefused(ws, patch, 413, "PAYLOAD_TOO_LARGE");
  });
});

describe("DELETE connectors", () => {
  async function addConnectionAndFlow(workspaceId: string, connectorId: string): Promise<void> {
    const appId = newId("app");
    const now = new Date();
    await t.deps.db
      .insertInto("apps")
      .values({
        id: appId,
        workspace_id: workspaceId,
        name: "App",
        allowed_return_origins: JSON.stringify(["https://app.example"]),
        identity_type: "latchkey",
        identity_config: JSON.stringify({}),
        identity_secret: null,
        updated_at: now,
      })
      .execute();
    await t.deps.db
      .insertInto("connections")
      .values({
        id: newId("conn"),
        workspace_id: workspaceId,
        app_id: appId,
        connector_id: connectorId,
        owner_type: "user",
        user_id: "user-1",
        status: "active",
        access_token: "ciphertext",
        refresh_token: null,
        token_type: "Bearer",
        expires_at: null,
        scopes: JSON.stringify([]),
        account: JSON.stringify(null),
        connection_config: JSON.stringify(null),
        needs_reauth_reason: null,
        needs_reauth_at: null,
        refresh_cooldown_until: null,
        refreshed_at: null,
        connected_at: now,
        updated_at: now,
      })
      .execute();
    await t.deps.db
      .insertInto("oauth_states")
      .values({
        state_hash: newId("state"),
        workspace_id: workspaceId,
        app_id: appId,
        connector_id: connectorId,
        owner_type: "user",
        user_id: "user-1",
        return_to: "https://app.example/",
        code_verifier: null,
        nonce: null,
        expires_at: new Date(now.getTime() + 600_000),
      })
      .execute();
  }

  it("deletes a connector with its connections and pending flows", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    const kept = await createConnector(ws);
    await addConnectionAndFlow(ws.id, connector.id);
    await addConnectionAndFlow(ws.id, kept.id);
    const response = await api("DELETE", `${ws.path}/${connector.id}`, { token: ws.adminKey });
    expect(response.status).toBe(204);
    expect((await api("GET", `${ws.path}/${connector.id}`, { token: ws.adminKey })).status).toBe(404);
    const connections = await t.deps.db
      .selectFrom("connections")
      .select("connector_id")
      .where("workspace_id", "=", ws.id)
      .execute();
    expect(connections).toEqual([{ connector_id: kept.id }]);
    const states = await t.deps.db
      .selectFrom("oauth_states")
      .select("connector_id")
      .where("workspace_id", "=", ws.id)
      .execute();
    expect(states).toEqual([{ connector_id: kept.id }]);
  });

  it("answers 404 for an unknown id, and for a connector deleted already", async () => {
    const ws = await newWorkspace();
    const connector = await createConnector(ws);
    expect((await api("DELETE", `${ws.path}/${connector.id}`, { token: ws.adminKey })).status).toBe(204);
    await expectRefused(
      ws,
      () => api("DELETE", `${ws.path}/${connector.id}`, { token: ws.adminKey }),
      404,
      "NOT_FOUND",
    );
    await expectRefused(ws, () => api("DELETE", `${ws.path}/con_unknown`, { token: ws.adminKey }), 404, "NOT_FOUND");
  });

  it("answers 404 when the connector belongs to another workspace, and keeps it", async () => {
    const ws = await newWorkspace();
    const other = await newWorkspace();
    const theirs = await createConnector(other);
    await expectRefused(
      other,
      () => api("DELETE", `${ws.path}/${theirs.id}`, { token: ws.adminKey }),
      404,
      "NOT_FOUND",
    );
  });
});

describe("API docs", () => {
  it("documents every connector route", () => {
    const routes = t.docs.routes
      .filter((route) => route.tag === "Connectors")
      .map((route) => `${route.method} ${route.path}`);
    expect(routes.sort()).toEqual([
      "delete /api/workspaces/{workspaceId}/connectors/{connectorId}",
      "get /api/workspaces/{workspaceId}/connectors",
      "get /api/workspaces/{workspaceId}/connectors/{connectorId}",
      "patch /api/workspaces/{workspaceId}/connectors/{connectorId}",
      "post /api/workspaces/{workspaceId}/connectors",
    ]);
  });
});

// Runs last (vitest keeps file order): everything above has been answered and logged by now.
describe("secrets", () => {
  it("never returned or logged a client secret", () => {
    expect(responseTexts.length).toBeGreaterThan(50);
    for (const text of responseTexts) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(rotatedSecret);
    }
    expect(t.logs.text.length).toBeGreaterThan(0);
    expect(t.logs.text).not.toContain(secret);
    expect(t.logs.text).not.toContain(rotatedSecret);
  });
});
