/**
 * Shared setup of the cross-feature connection tests: tenants created through the public API,
 * a connector pointing at the real authorization server harness, and the connect flow driven
 * end to end (initiate → provider login/consent → GET /oauth/callback).
 */
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { Plan } from "@latchkey/contracts";
import type { AuthorizationServer } from "./support/oidc-provider.ts";
import { testOperatorKey, type TestApp } from "./support/test-app.ts";

export const callbackUrl = "http://latchkey.test/oauth/callback";
export const appOrigin = "https://app.example.test";
export const otherOrigin = "http://localhost:5173";
export const connectorScopes = ["openid", "email", "profile", "api:read"];

export interface Tenant {
  workspaceId: string;
  adminKey: string;
  appId: string;
  serviceKey: string;
  connectorId: string;
  clientId: string;
  clientSecret: string;
}

export async function json<T = Record<string, unknown>>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return (text === "" ? {} : JSON.parse(text)) as T;
}

export async function createWorkspace(t: TestApp, plan: Plan): Promise<{ workspaceId: string; adminKey: string }> {
  const body = await json<{ workspace: { id: string }; admin_api_key: string }>(
    await t.call("POST", "/api/operator/workspaces", {
      token: testOperatorKey,
      body: { name: `ws ${randomBytes(3).toString("hex")}`, plan, admin_email: "admin@example.test" },
    }),
    201,
  );
  return { workspaceId: body.workspace.id, adminKey: body.admin_api_key };
}

export async function createLatchkeyApp(
  t: TestApp,
  workspace: { workspaceId: string; adminKey: string },
  origins: string[] = [appOrigin, otherOrigin],
): Promise<{ appId: string; serviceKey: string }> {
  const body = await json<{ app: { id: string }; service_key: string }>(
    await t.call("POST", `/api/workspaces/${workspace.workspaceId}/apps`, {
      token: workspace.adminKey,
      body: { name: "App", allowed_return_origins: origins, identity: { type: "latchkey" } },
    }),
    201,
  );
  return { appId: body.app.id, serviceKey: body.service_key };
}

/** An `oidc` connector at the harness, with a client registered there for Latchkey's callback. */
export async function createConnector(
  t: TestApp,
  harness: AuthorizationServer,
  workspace: { workspaceId: string; adminKey: string },
  options: { authMethod?: "client_secret_basic" | "client_secret_post" } = {},
): Promise<{ connectorId: string; clientId: string; clientSecret: string }> {
  const clientId = `client-${randomBytes(4).toString("hex")}`;
  const clientSecret = `secret-${randomBytes(16).toString("hex")}`;
  const authMethod = options.authMethod ?? "client_secret_basic";
  harness.addClient({ clientId, clientSecret, redirectUris: [callbackUrl], tokenEndpointAuthMethod: authMethod });
  const body = await json<{ connector: { id: string; callback_url: string } }>(
    await t.call("POST", `/api/workspaces/${workspace.workspaceId}/connectors`, {
      token: workspace.adminKey,
      body: {
        provider: "oidc",
        issuer: harness.issuer,
        client_id: clientId,
        client_secret: clientSecret,
        scopes: connectorScopes,
        token_endpoint_auth_method: authMethod,
      },
    }),
    201,
  );
  expect(body.connector.callback_url).toBe(callbackUrl);
  return { connectorId: body.connector.id, clientId, clientSecret };
}

export async function createTenant(t: TestApp, harness: AuthorizationServer, plan: Plan = "builder"): Promise<Tenant> {
  const workspace = await createWorkspace(t, plan);
  const app = await createLatchkeyApp(t, workspace);
  const connector = await createConnector(t, harness, workspace);
  return { ...workspace, ...app, ...connector };
}

/** A user token minted by Latchkey for a `latchkey`-identity app. */
export async function userToken(
  t: TestApp,
  tenant: Pick<Tenant, "appId" | "serviceKey">,
  userId: string,
): Promise<string> {
  const body = await json<{ token: string }>(
    await t.call("POST", `/api/apps/${tenant.appId}/users/${encodeURIComponent(userId)}/token`, {
      token: tenant.serviceKey,
      body: { expires_in: 3600 },
    }),
    201,
  );
  return body.token;
}

export async function initiate(
  t: TestApp,
  tenant: Pick<Tenant, "appId" | "connectorId">,
  token: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<string> {
  const answer = await json<{ redirect_url: string }>(
    await t.call("POST", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/initiate`, {
      token,
      ...(body !== undefined && { body }),
      headers,
    }),
    200,
  );
  return answer.redirect_url;
}

/** Replays the provider's redirect (to Latchkey's callback) against the app, as the browser would. */
export function callback(t: TestApp, providerRedirect: URL): Promise<Response> {
  expect(`${providerRedirect.origin}${providerRedirect.pathname}`).toBe(callbackUrl);
  return t.call("GET", `/oauth/callback${providerRedirect.search}`);
}

/** The whole browser round trip: initiate, log in at the provider, come back through the callback. */
export async function connectUser(
  t: TestApp,
  harness: AuthorizationServer,
  tenant: Pick<Tenant, "appId" | "connectorId">,
  token: string,
  login: string,
  secrets?: Set<string>,
): Promise<URL> {
  const redirectUrl = await initiate(t, tenant, token);
  const providerRedirect = await harness.authorize(redirectUrl, { login });
  for (const name of ["code", "state"]) secrets?.add(providerRedirect.searchParams.get(name) ?? "");
  const response = await callback(t, providerRedirect);
  expect(response.status).toBe(302);
  return new URL(response.headers.get("location") ?? "");
}

export async function tokenFor(
  t: TestApp,
  tenant: Pick<Tenant, "appId" | "connectorId" | "serviceKey">,
  onBehalfOf: string,
): Promise<Response> {
  return t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/token`, {
    token: tenant.serviceKey,
    headers: { "on-behalf-of": `Bearer ${onBehalfOf}` },
  });
}

/** Every table's row count: "changing nothing" is checked by comparing two of these. */
export async function tableCounts(t: TestApp): Promise<Record<string, number>> {
  const tables = ["workspaces", "apps", "connectors", "oauth_states", "connections"] as const;
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const row = await t.deps.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}

/** The connections table as a comparable snapshot (tokens included, as ciphertext). */
export async function connectionsSnapshot(t: TestApp): Promise<unknown[]> {
  return t.deps.db.selectFrom("connections").selectAll().orderBy("id").execute();
}
