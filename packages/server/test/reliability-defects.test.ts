/**
 * Defects found from outside (the reliability issue), each with the test that names it. Everything
 * is real: the node HTTP server on a real port (cli/http-server.ts), real sockets, the real
 * database, the oidc-provider harness and the scripted provider over HTTP.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import net, { type AddressInfo, isIP } from "node:net";
import { sql } from "kysely";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listening } from "../src/cli/http-server.ts";
import { decryptRefreshToken } from "../src/connections/connection-store.ts";
import {
  createOutboundFetch,
  interfaceAddresses,
  isNonPublicAddress,
  OutboundError,
} from "../src/http/outbound-fetch.ts";
import {
  callback,
  createLatchkeyIdentityApp,
  createTenant,
  createTenantWorkspace,
  initiate,
  json,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import {
  json as jsonAnswer,
  startScriptedProvider,
  type ScriptedAnswer,
  type ScriptedProvider,
} from "./support/scripted-provider.ts";
import { expectError } from "./support/tenants.ts";
import { parseExposition, sampleValue } from "./support/prometheus-text.ts";
import { createTestApp, testOperatorKey } from "./support/test-app.ts";

/** Creating a test database and starting a provider can take seconds on a busy machine. */
const setupMs = 90_000;

type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

describe("the node server under misbehaving clients", () => {
  let t: OpenTestApp;
  let server: Listening;

  beforeAll(async () => {
    t = await createTestApp({ env: { LATCHKEY_BODY_LIMIT_BYTES: "65536" } });
    server = await listen(t, { port: 0, host: "127.0.0.1", httpTimeouts: t.deps.config.httpTimeouts });
  }, setupMs);
  afterAll(async () => {
    await server?.close(1_000);
    await t?.close();
  }, setupMs);

  it("answers the request after a 413 on the same pooled connection", async () => {
    // One keep-alive connection, as a backend's pool or Node's fetch gives a burst of calls.
    const pool = new Agent({ connections: 1 });
    const oversized = Buffer.alloc(2 * 1024 * 1024, "a");
    const outcomes: string[] = [];
    const send = async (method: "POST" | "GET", path: string) => {
      try {
        const response = await undiciFetch(`${server.url}${path}`, {
          method,
          dispatcher: pool,
          ...(method === "POST" && { body: oversized, headers: { "content-type": "application/json" } }),
        });
        const body = (await response.json()) as { error?: { code: string } };
        outcomes.push(`${response.status} ${body.error?.code ?? "ok"} ${response.headers.get("connection")}`);
      } catch (error) {
        outcomes.push(`failed: ${String(error instanceof Error ? (error.cause ?? error.message) : error)}`);
      }
    };
    try {
      for (let i = 0; i < 3; i++) await send("POST", "/api/apps/app_x/app-user-auth/connectors/con_x/initiate");
      for (let i = 0; i < 3; i++) await send("GET", "/healthz");
    } finally {
      await pool.close();
    }
    expect(outcomes).toEqual([
      "413 PAYLOAD_TOO_LARGE close",
      "413 PAYLOAD_TOO_LARGE close",
      "413 PAYLOAD_TOO_LARGE close",
      "200 ok keep-alive",
      "200 ok keep-alive",
      "200 ok keep-alive",
    ]);
  });

  it("counts a client that closes the connection mid-body as a client abort (499), not an internal error", async () => {
    const metricsBefore = parseExposition(await (await undiciFetch(`${server.url}/metrics`)).text());
    const abortsBefore = requestsWithStatus(metricsBefore, "499");
    const errorsBefore = requestsWithStatus(metricsBefore, "500");
    const { port } = new URL(server.url);
    const aborted = 5;
    for (let i = 0; i < aborted; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(port), "127.0.0.1", () => {
          socket.write(
            [
              "POST /api/operator/workspaces HTTP/1.1",
              "Host: 127.0.0.1",
              `Authorization: Bearer ${testOperatorKey}`,
              "Content-Type: application/json",
              "Content-Length: 1000",
              "",
              '{"name": "half a bo',
            ].join("\r\n"),
          );
          // Long enough for the server to be waiting for the rest of the body.
          setTimeout(() => socket.destroy(), 300);
        });
        socket.on("close", () => resolve());
        socket.on("error", reject);
      });
    }
    // The server finishes its side of each request after the socket is gone.
    await expect
      .poll(
        async () =>
          requestsWithStatus(parseExposition(await (await undiciFetch(`${server.url}/metrics`)).text()), "499"),
        {
          timeout: 10_000,
        },
      )
      .toBe(abortsBefore + aborted);
    const metricsAfter = parseExposition(await (await undiciFetch(`${server.url}/metrics`)).text());
    expect(requestsWithStatus(metricsAfter, "500")).toBe(errorsBefore);
    expect(t.logs.text).not.toContain("unhandled error");
    const abortLines = t.logs.lines.filter((line) => line.includes("client closed the connection"));
    expect(abortLines).toHaveLength(aborted);
    for (const line of abortLines) expect(JSON.parse(line)).toMatchObject({ level: 20 });
  });
});

function requestsWithStatus(metrics: ReturnType<typeof parseExposition>, status: string): number {
  return (
    sampleValue(metrics, "latchkey_http_requests_total", {
      method: "POST",
      route: "/api/operator/workspaces",
      status,
    }) ?? 0
  );
}

describe("the OAuth callback without a usable state", () => {
  let harness: AuthorizationServer;
  let t: OpenTestApp;
  let tenant: Tenant;

  beforeAll(async () => {
    harness = await startAuthorizationServer();
    t = await createTestApp();
    tenant = await createTenant(t, harness);
  }, setupMs);
  afterAll(async () => {
    await t?.close();
    await harness?.close();
  }, setupMs);

  const asJsonClient = { accept: "application/json" };

  it("answers 400 INVALID_STATE in the JSON envelope to a JSON client whose state is unknown, used or missing", async () => {
    const redirect = await harness.authorize(await initiate(t, tenant, await userToken(t, tenant, "jo")), {
      login: "jo",
    });
    expect((await callback(t, redirect)).status).toBe(302);

    const used = await t.call("GET", `/oauth/callback${redirect.search}`, { headers: asJsonClient });
    const unknown = await t.call("GET", `/oauth/callback?state=${randomBytes(32).toString("base64url")}&code=x`, {
      headers: asJsonClient,
    });
    const missing = await t.call("GET", "/oauth/callback?code=x", { headers: asJsonClient });
    for (const response of [used, unknown, missing]) {
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      const body = await expectError(response, 400, "INVALID_STATE");
      expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
      expect(JSON.stringify(body)).not.toContain(redirect.searchParams.get("code") ?? "-");
    }
    expect(harness.counters.authorizationCodeGrants).toBe(1);
  });

  it("shows the error code on the callback's HTML page to a browser", async () => {
    const browser = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
    const response = await t.call("GET", `/oauth/callback?state=${randomBytes(32).toString("base64url")}&code=x`, {
      headers: browser,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await response.text()).toContain("<code>INVALID_STATE</code>");
  });
});

describe("absurd token lifetimes from a provider (scripted over HTTP)", () => {
  let provider: ScriptedProvider;
  let t: OpenTestApp;
  let tenant: { workspaceId: string; adminKey: string; appId: string; serviceKey: string; connectorId: string };
  /** What the token endpoint answers next, by grant type. */
  let onCode: () => ScriptedAnswer;
  let onRefresh: () => ScriptedAnswer;

  beforeAll(async () => {
    provider = await startScriptedProvider();
    provider.answer("/token", (request) =>
      new URLSearchParams(request.body).get("grant_type") === "refresh_token" ? onRefresh() : onCode(),
    );
    t = await createTestApp();
    const workspace = await createTenantWorkspace(t, "builder");
    const app = await createLatchkeyIdentityApp(t, workspace);
    const connector = await json<{ connector: { id: string } }>(
      await t.call("POST", `/api/workspaces/${workspace.workspaceId}/connectors`, {
        token: workspace.adminKey,
        body: {
          provider: "oauth2",
          client_id: "scripted-client",
          client_secret: "scripted-secret",
          authorization_url: `${provider.origin}/authorize`,
          token_url: `${provider.origin}/token`,
          scopes: ["read"],
        },
      }),
      201,
    );
    tenant = { ...workspace, ...app, connectorId: connector.connector.id };
  }, setupMs);
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  }, setupMs);

  /** Initiate, then the provider's redirect back with a code (the scripted provider has no login page). */
  async function finishConnect(userId: string): Promise<URL> {
    const authorizeUrl = new URL(await initiate(t, tenant, await userToken(t, tenant, userId)));
    const state = authorizeUrl.searchParams.get("state") ?? "";
    const response = await t.call("GET", `/oauth/callback?state=${state}&code=code-${userId}`);
    expect(response.status, await response.clone().text()).toBe(302);
    return new URL(response.headers.get("location") ?? "");
  }

  const refreshGrants = () =>
    provider
      .requestsTo("/token")
      .map((request) => new URLSearchParams(request.body))
      .filter((body) => body.get("grant_type") === "refresh_token");

  const readToken = (userId: string) =>
    t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${userId}/token`, {
      token: tenant.serviceKey,
    });

  const connectionOf = (userId: string) =>
    t.deps.db.selectFrom("connections").selectAll().where("user_id", "=", userId).executeTakeFirstOrThrow();

  const tokens = (suffix: string, expiresIn: unknown): ScriptedAnswer =>
    jsonAnswer(200, {
      access_token: `access-${suffix}`,
      refresh_token: `refresh-${suffix}`,
      token_type: "bearer",
      expires_in: expiresIn,
    });

  it("connects with an absurd expires_in (1e300 or the string 10000000000000), storing a clamped expiry", async () => {
    for (const [userId, expiresIn] of [
      ["ann", 1e300],
      ["ben", "10000000000000"],
    ] as const) {
      onCode = () => tokens(userId, expiresIn);
      const back = await finishConnect(userId);
      expect(back.searchParams.get("latchkey_status")).toBe("connected");
      const row = await connectionOf(userId);
      const lifetimeMs = (row.expires_at?.getTime() ?? 0) - Date.now();
      expect(lifetimeMs).toBeGreaterThan(300 * 24 * 3600 * 1000);
      expect(lifetimeMs).toBeLessThanOrEqual(366 * 24 * 3600 * 1000);
    }
    expect(t.logs.text).not.toContain("unhandled error");
  });

  it("stores the rotated refresh token after a refresh answer with an absurd expires_in, and never spends the old one again", async () => {
    onCode = () => tokens("cy-1", 60);
    await finishConnect("cy");
    onRefresh = () => tokens("cy-2", 1e300);
    const before = refreshGrants().length;

    const first = await json<{ access_token: string; expires_at: string }>(await readToken("cy"), 200);
    expect(first.access_token).toBe("access-cy-2");
    expect(decryptRefreshToken(t.deps.vault, await connectionOf("cy"))).toBe("refresh-cy-2");
    for (let i = 0; i < 3; i++) {
      expect((await json<{ access_token: string }>(await readToken("cy"), 200)).access_token).toBe("access-cy-2");
    }
    const spent = refreshGrants().slice(before);
    expect(spent.map((body) => body.get("refresh_token"))).toEqual(["refresh-cy-1"]);
  });

  it("keeps the rotated refresh token when writing the rest of a refresh answer fails", async () => {
    onCode = () => tokens("dee-1", 60);
    await finishConnect("dee");
    // A real database failure on the full write: a trigger refuses this connection's scopes update.
    await sql
      .raw(`create or replace function refuse_scope_update() returns trigger language plpgsql as $$
begin
  if new.scopes::text like '%refused-scope%' then raise exception 'scopes refused by test trigger'; end if;
  return new;
end $$`)
      .execute(t.deps.db);
    await sql
      .raw(
        "create trigger refuse_scope_update before update on connections for each row execute function refuse_scope_update()",
      )
      .execute(t.deps.db);
    try {
      onRefresh = () =>
        jsonAnswer(200, {
          access_token: "access-dee-2",
          refresh_token: "refresh-dee-2",
          token_type: "bearer",
          expires_in: 3600,
          scope: "read refused-scope",
        });
      const before = refreshGrants().length;
      expect((await json<{ access_token: string }>(await readToken("dee"), 200)).access_token).toBe("access-dee-2");
      expect((await json<{ access_token: string }>(await readToken("dee"), 200)).access_token).toBe("access-dee-2");
      const row = await connectionOf("dee");
      expect(decryptRefreshToken(t.deps.vault, row)).toBe("refresh-dee-2");
      expect(row.scopes).toEqual(["read"]);
      expect(
        refreshGrants()
          .slice(before)
          .map((body) => body.get("refresh_token")),
      ).toEqual(["refresh-dee-1"]);
      expect(t.logs.text).toContain("storing the refreshed tokens failed");
    } finally {
      await sql.raw("drop trigger refuse_scope_update on connections").execute(t.deps.db);
      await sql.raw("drop function refuse_scope_update()").execute(t.deps.db);
    }
  });
});

describe("the private-network guard (LATCHKEY_DENY_PRIVATE_NETWORK=true)", () => {
  let t: OpenTestApp;
  let workspace: { workspaceId: string; adminKey: string };

  beforeAll(async () => {
    t = await createTestApp({ env: { LATCHKEY_DENY_PRIVATE_NETWORK: "true" } });
    workspace = await createTenantWorkspace(t, "builder");
  }, setupMs);
  afterAll(async () => {
    await t?.close();
  }, setupMs);

  it.each([
    ["TEST-NET-1", "https://192.0.2.10/token"],
    ["TEST-NET-2", "https://198.51.100.10/token"],
    ["TEST-NET-3", "https://203.0.113.10/token"],
    ["the IPv4-compatible form of loopback", "https://[::7f00:1]/token"],
    ["the 6to4 form of loopback", "https://[2002:7f00:1::]/token"],
    ["the NAT64 form of loopback", "https://[64:ff9b::7f00:1]/token"],
    ["Teredo", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/token"],
  ])("refuses a connector token_url on %s", async (_form, tokenUrl) => {
    const response = await t.call("POST", `/api/workspaces/${workspace.workspaceId}/connectors`, {
      token: workspace.adminKey,
      body: {
        provider: "oauth2",
        client_id: "c",
        client_secret: "s",
        authorization_url: "https://provider.example/authorize",
        token_url: tokenUrl,
      },
    });
    const body = await expectError(response, 400, "INVALID_REQUEST");
    expect(body.error.message).toMatch(/LATCHKEY_DENY_PRIVATE_NETWORK/);
  });

  it("never reaches a token URL at this machine's own (non-loopback) interface address", async () => {
    const own = interfaceAddresses().find((address) => isIP(address) === 4 && !address.startsWith("127."));
    if (own === undefined) {
      // Every interface is loopback: the case cannot arise here, and the unit test covers the rule.
      expect(interfaceAddresses().every((address) => isNonPublicAddress(address))).toBe(true);
      return;
    }
    const reached: string[] = [];
    const target = createServer((req, res) => {
      reached.push(req.url ?? "");
      res.end("{}");
    });
    await new Promise<void>((resolve) => target.listen(0, own, resolve));
    try {
      const outbound = createOutboundFetch({ denyPrivateNetwork: true });
      const url = `http://${own}:${(target.address() as AddressInfo).port}/token`;
      const refused = await outbound(url, { method: "POST" }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(OutboundError);
      expect((refused as OutboundError).reason).toBe("blocked");
      expect(reached).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });
});

describe("network errors toward a provider", () => {
  let t: OpenTestApp;

  beforeAll(async () => {
    t = await createTestApp();
  }, setupMs);
  afterAll(async () => {
    await t?.close();
  }, setupMs);

  it("answers an initiate against an unreachable issuer with 503 PROVIDER_UNAVAILABLE and a plain message, the details only in the log", async () => {
    // A port nothing listens on: the connection is refused (ECONNREFUSED).
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const issuer = `http://127.0.0.1:${port}`;

    const workspace = await createTenantWorkspace(t, "builder");
    const app = await createLatchkeyIdentityApp(t, workspace);
    const connector = await json<{ connector: { id: string } }>(
      await t.call("POST", `/api/workspaces/${workspace.workspaceId}/connectors`, {
        token: workspace.adminKey,
        body: { provider: "oidc", issuer, client_id: "c", client_secret: "s", scopes: ["openid"] },
      }),
      201,
    );
    const tenant = { ...app, connectorId: connector.connector.id };
    const response = await t.call(
      "POST",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/initiate`,
      { token: await userToken(t, tenant, "eve") },
    );
    const body = await expectError(response, 503, "PROVIDER_UNAVAILABLE");
    const text = JSON.stringify(body);
    for (const leak of [issuer, "127.0.0.1", String(port), "ECONNREFUSED", "UND_ERR", "fetch failed"]) {
      expect(text).not.toContain(leak);
    }
    expect(body.error.message).toBe("The provider could not be reached; retry later");
    const logged = t.logs.lines
      .map((line) => JSON.parse(line) as { request_id?: string; detail?: string; msg?: string })
      .find((line) => line.msg === "request failed" && line.request_id === body.error.request_id);
    expect(logged?.detail).toContain(issuer);
    expect(logged?.detail).toContain("ECONNREFUSED");
  });
});
