import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { defineProvider, type ProviderDescription } from "@latchkey/catalog";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LogCapture, TestClock } from "../../test/support/test-app.ts";
import type { ConnectorRow } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import { createOutboundFetch } from "../http/outbound-fetch.ts";
import { createLogger } from "../log/logger.ts";
import { createProviderResolver } from "./create-provider-resolver.ts";
import { createOidcDiscovery } from "./oidc-discovery.ts";

/** One discovery endpoint per tenant path, each with its own answer and request count. */
interface Tenant {
  status: number;
  document: Record<string, unknown> | string;
  requests: number;
  delayMs: number;
}

const realFetch = globalThis.fetch.bind(globalThis);
const tenants = new Map<string, Tenant>();
let server: Server;
let base: string;
let tenantCount = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const match = /^\/([^/]+)\/\.well-known\/openid-configuration$/.exec(req.url ?? "");
    const tenant = match?.[1] ? tenants.get(match[1]) : undefined;
    if (!tenant) return res.writeHead(404).end();
    tenant.requests += 1;
    const body = typeof tenant.document === "string" ? tenant.document : JSON.stringify(tenant.document);
    setTimeout(() => res.writeHead(tenant.status, { "content-type": "application/json" }).end(body), tenant.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A new issuer served by the test server, with a complete discovery document. */
function newIssuer(document: Record<string, unknown> = {}): { issuer: string; tenant: Tenant } {
  tenantCount += 1;
  const name = `tenant${tenantCount}`;
  const issuer = `${base}/${name}`;
  const tenant: Tenant = {
    status: 200,
    requests: 0,
    delayMs: 0,
    document: {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      userinfo_endpoint: `${issuer}/userinfo`,
      revocation_endpoint: `${issuer}/revoke`,
      jwks_uri: `${issuer}/jwks`,
      code_challenge_methods_supported: ["S256"],
      authorization_response_iss_parameter_supported: true,
      ...document,
    },
  };
  tenants.set(name, tenant);
  return { issuer, tenant };
}

function connector(provider: string, options: Record<string, unknown>, scopes: string[] = []): ConnectorRow {
  const now = new Date();
  return {
    id: "con_test",
    workspace_id: "ws_test",
    provider,
    name: "Test",
    client_id: "client",
    client_secret: null,
    scopes,
    options,
    status: "enabled",
    created_at: now,
    updated_at: now,
  };
}

let clock: TestClock;
let logs: LogCapture;
function resolver(fetchImpl: typeof fetch = realFetch, findProvider?: (id: string) => ProviderDescription | undefined) {
  return createProviderResolver(
    { fetch: fetchImpl, clock, logger: createLogger({ level: "debug", destination: logs }) },
    findProvider ? { findProvider } : {},
  );
}

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

beforeEach(() => {
  clock = new TestClock();
  logs = new LogCapture();
});

describe("generic oauth2 connectors", () => {
  const urls = { authorization_url: "https://idp.example/authorize", token_url: "https://idp.example/token" };

  it("resolve from the connector's URLs with the provider's defaults", async () => {
    const resolved = await resolver().resolve(connector("oauth2", urls));
    expect(resolved).toMatchObject({
      id: "oauth2",
      integrationType: "oauth2",
      issuer: null,
      authorizationEndpoint: "https://idp.example/authorize",
      tokenEndpoint: "https://idp.example/token",
      revocationEndpoint: null,
      userinfoEndpoint: null,
      authorizationResponseIssParameterSupported: false,
      scopeSeparator: " ",
      clientAuthMethod: "client_secret_basic",
      pkce: true,
      extraAuthorizeParams: {},
      scopes: [],
      account: { id: "sub", email: "email", name: "name" },
      keptValues: [],
      connectionValues: {},
      refresh: { supported: true, endpoint: "https://idp.example/token", rotates: false },
      revocation: null,
      apiHosts: [],
    });
  });

  it("apply every option the connector sets", async () => {
    const options = {
      ...urls,
      revocation_url: "https://idp.example/revoke",
      userinfo_url: "https://api.idp.example/me",
      issuer: "https://idp.example",
      scope_separator: ",",
      token_endpoint_auth_method: "client_secret_post",
      pkce: false,
      authorize_params: { access_type: "offline" },
      account_fields: { id: "data.id" },
      connection_config_fields: ["instance_url"],
    };
    const resolved = await resolver().resolve(connector("oauth2", options, ["read", "write"]));
    expect(resolved).toMatchObject({
      issuer: "https://idp.example",
      revocationEndpoint: "https://idp.example/revoke",
      userinfoEndpoint: "https://api.idp.example/me",
      scopeSeparator: ",",
      clientAuthMethod: "client_secret_post",
      pkce: false,
      extraAuthorizeParams: { access_type: "offline" },
      scopes: ["read", "write"],
      account: { id: "data.id", email: "email", name: "name" },
      keptValues: [{ name: "instance_url", from: "token_response", path: "instance_url", alsoCallback: true }],
      revocation: { endpoint: "https://idp.example/revoke", method: "POST", encoding: "form", auth: "client" },
    });
  });

  it("refuse a stored connector whose options are invalid", async () => {
    const error = await appErrorOf(resolver().resolve(connector("oauth2", { ...urls, token_url: "javascript:x" })));
    expect(error.code).toBe("PROVIDER_ERROR");
    expect(error.message).toMatch(/^Connector con_test has invalid options: token_url: /);
  });
});

describe("named providers from the catalog", () => {
  const acme = defineProvider({
    id: "acme",
    display_name: "Acme",
    kind: "oauth2",
    authorization_url: "https://acme.example/authorize",
    token_url: "https://acme.example/token",
    userinfo_url: "https://api.acme.example/me",
    authorize_params: { access_type: "offline", prompt: "consent" },
    default_scopes: ["profile"],
    account_fields: { id: "user.id" },
    iss_parameter_supported: true,
  });
  const find = (id: string) => (id === "acme" ? acme : undefined);

  it("take endpoints and quirks from the description, and only extra parameters from the connector", async () => {
    const resolved = await resolver(realFetch, find).resolve(
      connector("acme", { authorize_params: { prompt: "none" } }),
    );
    expect(resolved).toMatchObject({
      id: "acme",
      authorizationEndpoint: "https://acme.example/authorize",
      tokenEndpoint: "https://acme.example/token",
      userinfoEndpoint: "https://api.acme.example/me",
      authorizationResponseIssParameterSupported: true,
      extraAuthorizeParams: { access_type: "offline", prompt: "none" },
      scopes: ["profile"],
      account: { id: "user.id", email: "email", name: "name" },
    });
  });

  it("refuse endpoint options on a named provider's connector", async () => {
    const error = await appErrorOf(
      resolver(realFetch, find).resolve(connector("acme", { token_url: "https://evil.example/token" })),
    );
    expect(error.code).toBe("PROVIDER_ERROR");
  });

  it("take the API hosts from the catalog in order, filled with the connection's values, the connector moving the first", async () => {
    const microsoft = await resolver().resolve(connector("microsoft", {}));
    expect(microsoft.apiHosts).toEqual([
      {
        name: "graph",
        baseUrl: "https://graph.microsoft.com",
        fromConnector: false,
        allowedRequestHeaders: ["Accept", "ConsistencyLevel", "Prefer", "If-Match", "Range"],
        exposedResponseHeaders: expect.any(Array),
        binaryMediaTypes: [],
        defaultRequestHeaders: {},
        authScheme: "Bearer",
        clientIdHeader: null,
      },
    ]);
    // The shop is the app user's, kept in connection_config: the proxy resolves with it.
    const shopify = await resolver().resolve(connector("shopify", {}), { connection: { shop: "acme-store" } });
    expect(shopify.apiHosts.map((host) => host.baseUrl)).toEqual(["https://acme-store.myshopify.com/admin/api"]);
    // A value the provider has not supplied (yet) leaves the host in place, without a URL.
    const salesforce = await resolver().resolve(connector("salesforce", {}));
    expect(salesforce.apiHosts.map((host) => [host.name, host.baseUrl])).toEqual([["instance", null]]);

    const moved = await resolver().resolve(
      connector("dropbox", { endpoints: { api_base_url: "http://127.0.0.1:9999/dropbox" } }),
    );
    expect(moved.apiHosts.map((host) => [host.name, host.baseUrl, host.fromConnector])).toEqual([
      ["api", "http://127.0.0.1:9999/dropbox", true],
      ["content", "https://content.dropboxapi.com", false],
    ]);
    expect(moved.apiHosts[0]?.allowedRequestHeaders).toContain("Dropbox-API-Select-User");
    expect((await resolver().resolve(connector("twitch", {}))).apiHosts[0]?.clientIdHeader).toBe("Client-Id");
  });

  it("give a generic provider an API host only when its connector names one", async () => {
    const urls = { authorization_url: "https://idp.example/authorize", token_url: "https://idp.example/token" };
    expect((await resolver().resolve(connector("oauth2", urls))).apiHosts).toEqual([]);
    const named = await resolver().resolve(
      connector("oauth2", { ...urls, endpoints: { api_base_url: "https://api.idp.example/v2" } }),
    );
    expect(named.apiHosts).toEqual([
      expect.objectContaining({
        name: "api",
        baseUrl: "https://api.idp.example/v2",
        fromConnector: true,
        binaryMediaTypes: [],
        authScheme: "Bearer",
      }),
    ]);
    expect(named.apiHosts[0]?.allowedRequestHeaders).toContain("If-None-Match");
    expect(named.apiHosts[0]?.allowedRequestHeaders).not.toContainEqual(
      expect.stringMatching(/^(authorization|cookie|host)$/i),
    );
  });

  it("fail clearly for a provider this server does not know", async () => {
    const error = await appErrorOf(resolver().resolve(connector("retired-provider", {})));
    expect(error.code).toBe("PROVIDER_ERROR");
    expect(error.message).toBe('Connector con_test uses provider "retired-provider", which this server does not know');
  });
});

describe("oidc connectors (discovery)", () => {
  it("resolve endpoints, issuer and RFC 9207 support from the discovery document", async () => {
    const { issuer } = newIssuer();
    const resolved = await resolver().resolve(connector("oidc", { issuer }));
    expect(resolved).toMatchObject({
      id: "oidc",
      issuer,
      authorizationEndpoint: `${issuer}/authorize`,
      tokenEndpoint: `${issuer}/token`,
      revocationEndpoint: `${issuer}/revoke`,
      userinfoEndpoint: `${issuer}/userinfo`,
      authorizationResponseIssParameterSupported: true,
      scopeSeparator: " ",
      clientAuthMethod: "client_secret_basic",
      pkce: true,
      extraAuthorizeParams: {},
      scopes: ["openid"],
      account: { id: "sub", email: "email", name: "name" },
      keptValues: [],
      refresh: { supported: true, endpoint: `${issuer}/token` },
      revocation: { endpoint: `${issuer}/revoke`, token: "refresh_token", auth: "client" },
    });
  });

  it("leave out what the document does not name", async () => {
    const { issuer } = newIssuer({
      revocation_endpoint: undefined,
      userinfo_endpoint: undefined,
      authorization_response_iss_parameter_supported: undefined,
    });
    const resolved = await resolver().resolve(connector("oidc", { issuer }));
    expect(resolved).toMatchObject({
      revocationEndpoint: null,
      userinfoEndpoint: null,
      authorizationResponseIssParameterSupported: false,
    });
  });

  it("use the connector's client authentication method instead of client_secret_basic", async () => {
    const { issuer } = newIssuer();
    const resolved = await resolver().resolve(
      connector("oidc", { issuer, token_endpoint_auth_method: "client_secret_post" }),
    );
    expect(resolved.clientAuthMethod).toBe("client_secret_post");
  });

  it.each([
    ["advertises S256", ["S256"], undefined, true],
    ["advertises only plain", ["plain"], undefined, false],
    ["does not say", undefined, undefined, true],
    ["advertises S256 but the connector turned PKCE off", ["S256", "plain"], false, false],
  ])("use PKCE when the provider %s", async (_label, methods, pkceOption, expected) => {
    const { issuer } = newIssuer({ code_challenge_methods_supported: methods });
    const options = pkceOption === undefined ? { issuer } : { issuer, pkce: pkceOption };
    expect((await resolver().resolve(connector("oidc", options))).pkce).toBe(expected);
  });

  it("fetch the document once and serve it from the cache until the TTL passes", async () => {
    const { issuer, tenant } = newIssuer();
    const resolve = resolver();
    await resolve.resolve(connector("oidc", { issuer }));
    await resolve.resolve(connector("oidc", { issuer }));
    clock.advance(59 * 60 * 1000);
    await resolve.resolve(connector("oidc", { issuer }));
    expect(tenant.requests).toBe(1);
    clock.advance(2 * 60 * 1000);
    await resolve.resolve(connector("oidc", { issuer }));
    expect(tenant.requests).toBe(2);
  });

  it("send one request when many callers resolve the same issuer at once", async () => {
    const { issuer, tenant } = newIssuer();
    tenant.delayMs = 50;
    const resolve = resolver();
    const results = await Promise.all(Array.from({ length: 20 }, () => resolve.resolve(connector("oidc", { issuer }))));
    expect(tenant.requests).toBe(1);
    expect(new Set(results.map((result) => result.tokenEndpoint))).toEqual(new Set([`${issuer}/token`]));
  });

  it("refuse a document whose issuer is not the configured one (mix-up defence)", async () => {
    const { issuer } = newIssuer({ issuer: "https://attacker.example" });
    const error = await appErrorOf(resolver().resolve(connector("oidc", { issuer })));
    expect(error.code).toBe("PROVIDER_ERROR");
    expect(error.logDetail).toMatch(/issuer/);
    expect(error.message).not.toContain("attacker.example");
  });

  it.each([
    ["has no token_endpoint", { token_endpoint: undefined }],
    ["names a plain-http endpoint on another host", { token_endpoint: "http://evil.example/token" }],
    ["names a javascript: endpoint", { authorization_endpoint: "javascript:alert(1)" }],
    ["is not JSON", "<html>oops</html>"],
  ])("refuse a document that %s", async (_label, change) => {
    const { issuer, tenant } = newIssuer();
    tenant.document =
      typeof change === "string" ? change : { ...(tenant.document as Record<string, unknown>), ...change };
    const error = await appErrorOf(resolver().resolve(connector("oidc", { issuer })));
    expect(error.code).toBe("PROVIDER_ERROR");
  });

  it("report a missing discovery document as a provider error", async () => {
    const error = await appErrorOf(resolver().resolve(connector("oidc", { issuer: `${base}/no-such-tenant` })));
    expect(error.code).toBe("PROVIDER_ERROR");
  });

  it("report an outage with nothing cached as PROVIDER_UNAVAILABLE with Retry-After", async () => {
    const { issuer, tenant } = newIssuer();
    tenant.status = 503;
    const error = await appErrorOf(resolver().resolve(connector("oidc", { issuer })));
    expect(error.code).toBe("PROVIDER_UNAVAILABLE");
    expect(error.status).toBe(503);
    expect(error.headers).toEqual({ "Retry-After": "30" });
  });

  it("report an unreachable provider with nothing cached as PROVIDER_UNAVAILABLE", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await appErrorOf(resolver().resolve(connector("oidc", { issuer: `http://127.0.0.1:${port}` })));
    expect(error.code).toBe("PROVIDER_UNAVAILABLE");
  });

  it("serve the last good document while the provider is down, retrying after a pause", async () => {
    const { issuer, tenant } = newIssuer();
    const resolve = resolver();
    const first = await resolve.resolve(connector("oidc", { issuer }));
    clock.advance(61 * 60 * 1000);
    tenant.status = 500;
    expect(await resolve.resolve(connector("oidc", { issuer }))).toEqual(first);
    expect(await resolve.resolve(connector("oidc", { issuer }))).toEqual(first);
    expect(tenant.requests).toBe(2);
    expect(logs.text).toContain("serving the last good document");
    clock.advance(61 * 1000);
    tenant.status = 200;
    await resolve.resolve(connector("oidc", { issuer }));
    expect(tenant.requests).toBe(3);
  });

  it("time out a slow provider through the outbound fetch", async () => {
    const { issuer, tenant } = newIssuer();
    tenant.delayMs = 1_000;
    const outbound = createOutboundFetch({ fetch: realFetch, denyPrivateNetwork: false, timeoutMs: 200 });
    const error = await appErrorOf(resolver(outbound).resolve(connector("oidc", { issuer })));
    expect(error.code).toBe("PROVIDER_UNAVAILABLE");
    expect(error.logDetail).toMatch(/timed out after 200 ms/);
    expect(error.message).not.toContain(issuer);
  });

  it("refuse a loopback issuer when the private network is denied", async () => {
    const { issuer, tenant } = newIssuer();
    const outbound = createOutboundFetch({ fetch: realFetch, denyPrivateNetwork: true });
    const error = await appErrorOf(resolver(outbound).resolve(connector("oidc", { issuer })));
    expect(error.code).toBe("PROVIDER_ERROR");
    expect(tenant.requests).toBe(0);
  });

  it("refuse a plain-http issuer that is not on this machine, without a request", async () => {
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests += 1;
      return realFetch(input, init);
    };
    const stored = await appErrorOf(resolver(counting).resolve(connector("oidc", { issuer: "http://idp.example" })));
    expect(stored.code).toBe("PROVIDER_ERROR");
    // Discovery checks again by itself, whoever calls it.
    const discovery = createOidcDiscovery({ fetch: counting, clock, logger: createLogger({ level: "silent" }) });
    const direct = await appErrorOf(discovery.discover("http://idp.example"));
    expect(direct.message).toBe("The connector's OpenID issuer cannot be used");
    expect(direct.logDetail).toBe("The connector's issuer http://idp.example cannot be used: it must use https");
    expect(requests).toBe(0);
  });
});
