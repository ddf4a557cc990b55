/**
 * The catalog's public routes, connector creation by catalog id with its new options (each bad
 * input a named 4xx that changes nothing), and Base44's getConnection(<integration type>) through
 * the unmodified @base44/sdk finding a google connector's shared connection.
 */
import type { Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import { createClient } from "@base44/sdk";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLatchkeyIdentityApp, createTenantWorkspace, json, tableCounts } from "./support/connect-testbed.ts";
import { jsonAnswer, startProviderEmulator, type ProviderEmulator } from "./support/provider-emulator.ts";
import { createTestApp } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe(`provider catalog routes and catalog connectors (${testDbKind()})`, () => {
  let port: number;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let server: Server;
  let emulator: ProviderEmulator;
  let workspace: { workspaceId: string; adminKey: string };
  let app: { appId: string; serviceKey: string };

  beforeAll(async () => {
    port = await freePort();
    t = await createTestApp({ env: { LATCHKEY_PUBLIC_URL: `http://127.0.0.1:${port}` } });
    server = await new Promise<Server>((resolve) => {
      const started = serve({ fetch: t.app.fetch, port, hostname: "127.0.0.1" }, () => resolve(started as Server));
    });
    workspace = await createTenantWorkspace(t, "builder");
    app = await createLatchkeyIdentityApp(t, workspace);
    emulator = await startProviderEmulator({
      clientId: "google-client",
      clientSecret: "google-secret",
      clientAuth: "post",
      tokenEncoding: "form",
      pkce: "supported",
      tokenAnswer: (tokens) =>
        jsonAnswer({ access_token: tokens.accessToken, expires_in: 3599, token_type: "Bearer", scope: "openid" }),
      errorAnswer: (failure) => jsonAnswer({ error: failure }, 400),
    });
  }, 90_000);
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await emulator?.close();
    await t?.close();
  });

  const connectorsPath = () => `/api/workspaces/${workspace.workspaceId}/connectors`;

  it("lists the catalog without authentication, in the SPEC's shape", async () => {
    const body = await json<{ providers: Array<Record<string, unknown>> }>(await t.call("GET", "/api/providers"), 200);
    const ids = body.providers.map((provider) => provider.id);
    expect(ids).toEqual(expect.arrayContaining(["oauth2", "oidc", "google", "slack", "shopify"]));
    const shopify = body.providers.find((provider) => provider.id === "shopify");
    expect(Object.keys(shopify ?? {}).sort()).toEqual(
      ["categories", "connection_values", "docs_url", "id", "integration_types", "name", "scope_presets"].sort(),
    );
    expect(shopify?.connection_values).toEqual([
      expect.objectContaining({ name: "shop", supplied_by: "user", example: "acme-store" }),
    ]);
    const google = await json<{ provider: { integration_types: string[]; scope_presets: Record<string, string[]> } }>(
      await t.call("GET", "/api/providers/google"),
      200,
    );
    expect(google.provider.integration_types).toContain("googlecalendar");
    expect(Object.keys(google.provider.scope_presets)).toContain("calendar");
  });

  it.each([
    ["an unknown id", "no-such-provider"],
    ["an id with uppercase", "Google"],
    ["an encoded path", "..%2Fhealthz"],
    ["a prototype key", "__proto__"],
    ["an overlong id", "a".repeat(100)],
  ])("answers 404 NOT_FOUND for %s", async (_name, id) => {
    const body = await json<{ error: { code: string } }>(await t.call("GET", `/api/providers/${id}`), 404);
    expect(body.error.code).toBe("NOT_FOUND");
  });

  const good = { provider: "google", client_id: "google-client", client_secret: "google-secret" };
  it.each<[string, Record<string, unknown>]>([
    ["an unknown scope_preset", { ...good, scope_preset: "everything" }],
    ["scopes and a scope_preset together", { ...good, scopes: ["openid"], scope_preset: "calendar" }],
    ["an integration_type the provider does not list", { ...good, integration_type: "slack" }],
    ["an integration_type that is not a Base44 name", { ...good, integration_type: "Google Calendar" }],
    ["a connection value the provider does not have", { ...good, connection_values: { tenant: "x" } }],
    [
      "a connection value supplied by the user, not the connector",
      { provider: "shopify", client_id: "x", client_secret: "y", connection_values: { shop: "acme" } },
    ],
    [
      "a malformed connector value",
      { provider: "salesforce", client_id: "x", client_secret: "y", connection_values: { login_host: "evil.example" } },
    ],
    ["a javascript: endpoint", { ...good, endpoints: { token_url: "javascript:alert(1)" } }],
    ["plain http to a public host", { ...good, endpoints: { token_url: "http://evil.example/token" } }],
    ["an endpoint with credentials", { ...good, endpoints: { token_url: "https://u:p@evil.example/token" } }],
    ["an unknown endpoint", { ...good, endpoints: { login_url: "https://idp.example/login" } }],
    ["a template of an undeclared value", { ...good, endpoints: { token_url: "https://{tenant}.example.com/token" } }],
    [
      "a template moving the host",
      { provider: "shopify", client_id: "x", client_secret: "y", endpoints: { token_url: "https://{shop}/token" } },
    ],
    ["endpoints that are not an object", { ...good, endpoints: "https://idp.example" }],
  ])("refuses %s with 400 INVALID_REQUEST and changes nothing", async (_name, body) => {
    const before = await tableCounts(t);
    const answer = await json<{ error: { code: string } }>(
      await t.call("POST", connectorsPath(), { token: workspace.adminKey, body }),
      400,
    );
    expect(answer.error.code).toBe("INVALID_REQUEST");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("refuses a PATCH with a bad catalog option and keeps the connector as it was", async () => {
    const created = await json<{ connector: { id: string; options: Record<string, unknown> } }>(
      await t.call("POST", connectorsPath(), {
        token: workspace.adminKey,
        body: { ...good, scope_preset: "calendar" },
      }),
      201,
    );
    expect(created.connector.options).toEqual({ scope_preset: "calendar" });
    for (const options of [{ scope_preset: "nope" }, { endpoints: { token_url: "ftp://x" } }]) {
      const refused = await t.call("PATCH", `${connectorsPath()}/${created.connector.id}`, {
        token: workspace.adminKey,
        body: { options },
      });
      expect(refused.status).toBe(400);
    }
    const now = await json<{ connector: { options: Record<string, unknown> } }>(
      await t.call("GET", `${connectorsPath()}/${created.connector.id}`, { token: workspace.adminKey }),
      200,
    );
    expect(now.connector.options).toEqual({ scope_preset: "calendar" });
  });

  it("getConnection('googlecalendar') through the unmodified @base44/sdk finds a google connector's shared connection", async () => {
    const connector = await json<{ connector: { id: string } }>(
      await t.call("POST", connectorsPath(), {
        token: workspace.adminKey,
        body: {
          ...good,
          scope_preset: "calendar",
          endpoints: { authorization_url: `${emulator.origin}/authorize`, token_url: `${emulator.origin}/token` },
        },
      }),
      201,
    );
    const initiated = await json<{ redirect_url: string }>(
      await t.call(
        "POST",
        `/api/workspaces/${workspace.workspaceId}/apps/${app.appId}/connectors/${connector.connector.id}/initiate`,
        { token: workspace.adminKey },
      ),
      200,
    );
    const back = emulator.authorize(initiated.redirect_url);
    const done = await t.call("GET", `/oauth/callback${back.search}`);
    expect(new URL(done.headers.get("location") ?? "").searchParams.get("latchkey_status")).toBe("connected");

    const base44 = createClient({
      serverUrl: `http://127.0.0.1:${port}`,
      appId: app.appId,
      serviceToken: app.serviceKey,
    });
    const connection = await base44.asServiceRole.connectors.getConnection("googlecalendar");
    expect(connection.accessToken).toMatch(/^at-/);
    const byProvider = await base44.asServiceRole.connectors.getConnection("google");
    expect(byProvider.accessToken).toBe(connection.accessToken);
    expect(emulator.problems).toEqual([]);
  });
});
