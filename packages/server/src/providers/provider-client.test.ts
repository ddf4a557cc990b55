import { genericOAuth2 } from "@latchkey/catalog";
import * as oauth from "oauth4webapi";
import { describe, expect, it } from "vitest";
import { testConfig, testKeys, type TestDeps } from "../../test/support/test-app.ts";
import type { ResolvedProvider } from "./provider.ts";
import type { ConnectorRow } from "../db/schema.ts";
import { createLogger } from "../log/logger.ts";
import { Vault } from "../vault/vault.ts";
import { providerClients } from "./provider-client.ts";

interface SentRequest {
  url: string;
  init: RequestInit;
}

function setup(tokenEndpoint: string, clientAuthMethod: ResolvedProvider["clientAuthMethod"] = "client_secret_basic") {
  const sent: SentRequest[] = [];
  const vault = new Vault(testKeys());
  const deps = {
    config: testConfig(),
    vault,
    logger: createLogger({ level: "silent" }),
    clock: { now: () => new Date() },
    fetch: async (url: string | URL | Request, init?: RequestInit) => {
      sent.push({ url: String(url), init: init ?? {} });
      return Response.json({ access_token: "new-access", token_type: "Bearer", expires_in: 60 });
    },
  } as unknown as TestDeps;
  const connector = {
    id: "con_1",
    client_id: "client-1",
    client_secret: vault.encrypt("s3cret", { table: "connectors", column: "client_secret", rowId: "con_1" }),
  } as ConnectorRow;
  const provider: ResolvedProvider = {
    id: "oauth2",
    integrationType: "oauth2",
    issuer: null,
    authorizationEndpoint: "https://provider.example/authorize",
    tokenEndpoint,
    revocationEndpoint: null,
    userinfoEndpoint: null,
    authorizationResponseIssParameterSupported: false,
    scopeSeparator: " ",
    scopeParam: "scope",
    clientAuthMethod,
    pkce: true,
    pkceRequired: false,
    extraAuthorizeParams: {},
    scopes: [],
    tokenRequest: { encoding: "form", accept: "application/json", extraParams: {}, extraHeaders: {} },
    tokenResponse: genericOAuth2.token_response,
    account: { id: "id", email: "email", name: "name" },
    accountSource: { from: "userinfo", lookup: null, userinfoMethod: "GET", userinfoHeaders: {} },
    connectionValues: {},
    keptValues: [],
    lookups: [],
    refresh: { supported: true, endpoint: tokenEndpoint, rotates: false, deadGrantErrors: [] },
    revocation: null,
    apiHosts: [],
    hooks: [],
  };
  return { sent, client: providerClients(deps)(connector, provider) };
}

const refresh = (client: ReturnType<typeof setup>["client"]) =>
  oauth.refreshTokenGrantRequest(client.as, client.client, client.clientAuth, "old-refresh", client.http());

describe("provider clients", () => {
  it("send through deps.fetch without following redirects, authenticating with the decrypted secret", async () => {
    const { sent, client } = setup("https://provider.example/token", "client_secret_post");
    expect((await refresh(client)).status).toBe(200);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.url).toBe("https://provider.example/token");
    expect(sent[0]?.init.redirect).toBe("manual");
    const body = new URLSearchParams(String(sent[0]?.init.body));
    expect(body.get("client_secret")).toBe("s3cret");
    expect(body.get("refresh_token")).toBe("old-refresh");
  });

  it("allow plain http only to a provider on this machine", async () => {
    const local = setup("http://127.0.0.1:9999/token");
    expect((await refresh(local.client)).status).toBe(200);
    const remote = setup("http://provider.example/token");
    await expect(refresh(remote.client)).rejects.toThrow();
    expect(remote.sent).toHaveLength(0);
  });
});
