/**
 * The connect testbed shared by the cross-feature connection suites: a real authorization server
 * (oidc-provider), a Latchkey test app on a fresh database, and a tenant (workspace, `latchkey`
 * identity app, `oidc` connector at that server) made through the public API; plus the steps of
 * the connect flow driven end to end (initiate → provider login/consent → GET /oauth/callback).
 *
 * `connectTestbed()` registers the beforeAll/afterAll of the describe it is called in; the free
 * functions below work on any app instance (a suite may run several over one database).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect } from "vitest";
import type { Plan } from "@latchkey/contracts";
import { extraInstance, type ExtraInstance } from "./multi-instance.ts";
import {
  startAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type TokenEndpointAuthMethod,
} from "./oidc-provider.ts";
import { createTenantApp, createWorkspace } from "./tenants.ts";
import { createTestApp, type OpenTestApp, type TestApp, type TestAppOptions } from "./test-app.ts";

export const callbackUrl = "http://latchkey.test/oauth/callback";
export const appOrigin = "https://app.example.test";
export const otherOrigin = "http://localhost:5173";
export const connectorScopes = ["openid", "email", "profile", "api:read"];

/** A workspace as the connection suites address it: its id and an admin key. */
export interface TenantWorkspace {
  workspaceId: string;
  adminKey: string;
}

/** A workspace with one `latchkey`-identity app and one connector. */
export interface Tenant extends TenantWorkspace {
  appId: string;
  serviceKey: string;
  connectorId: string;
  clientId: string;
  clientSecret: string;
}

/** Where a connector's provider is: the real authorization server, or a connector body of its own. */
export type ConnectorTarget = AuthorizationServer | ConnectorBody;

/** A connector create body given as is (e.g. an `oauth2` connector at a scripted provider). */
export interface ConnectorBody extends Record<string, unknown> {
  client_id: string;
  client_secret: string;
}

export interface ConnectorOptions {
  authMethod?: Exclude<TokenEndpointAuthMethod, "none">;
}

type Caller = Pick<TestApp, "call">;

/** Every value a test saw that must never be stored in clear, logged or echoed. */
export class Secrets {
  readonly values = new Set<string>();
  add(...values: (string | null | undefined)[]): void {
    for (const value of values) if (value && value.length >= 8) this.values.add(value);
  }
  /** The secrets found in `text`, shortened for the failure message. */
  foundIn(text: string): string[] {
    return [...this.values].filter((secret) => text.includes(secret)).map((secret) => `${secret.slice(0, 12)}…`);
  }
}

/** Asserts the status (showing the body when it is wrong) and returns the parsed body. */
export async function json<T = Record<string, unknown>>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return (text === "" ? {} : JSON.parse(text)) as T;
}

/** A workspace on `plan`, made by the one workspace fixture (tenants.ts). */
export async function createTenantWorkspace(t: Caller, plan: Plan = "builder"): Promise<TenantWorkspace> {
  const workspace = await createWorkspace(t, plan);
  return { workspaceId: workspace.id, adminKey: workspace.adminKey };
}

/** An app whose users sign in with tokens Latchkey mints (`latchkey` identity), in the workspace. */
export async function createLatchkeyIdentityApp(
  t: Caller,
  workspace: TenantWorkspace,
  origins: string[] = [appOrigin, otherOrigin],
): Promise<{ appId: string; serviceKey: string }> {
  const app = await createTenantApp(
    t,
    { id: workspace.workspaceId, adminKey: workspace.adminKey },
    { name: "App", allowed_return_origins: origins, identity: { type: "latchkey" } },
  );
  return { appId: app.id, serviceKey: app.serviceKey };
}

/**
 * A connector of the workspace. At the authorization server: an `oidc` connector, with a client
 * registered there for Latchkey's callback. Otherwise the given body is created as it is.
 */
export async function createConnector(
  t: Caller,
  target: ConnectorTarget,
  workspace: TenantWorkspace,
  options: ConnectorOptions = {},
): Promise<{ connectorId: string; clientId: string; clientSecret: string }> {
  const body = isAuthorizationServer(target) ? oidcConnector(target, options) : target;
  const created = await json<{ connector: { id: string; callback_url: string } }>(
    await t.call("POST", `/api/workspaces/${workspace.workspaceId}/connectors`, { token: workspace.adminKey, body }),
    201,
  );
  expect(created.connector.callback_url).toBe(callbackUrl);
  return {
    connectorId: created.connector.id,
    clientId: String(body.client_id),
    clientSecret: String(body.client_secret),
  };
}

function isAuthorizationServer(target: ConnectorTarget): target is AuthorizationServer {
  return typeof target.authorize === "function" && typeof target.addClient === "function";
}

function oidcConnector(harness: AuthorizationServer, options: ConnectorOptions): ConnectorBody {
  const clientId = `client-${randomBytes(4).toString("hex")}`;
  const clientSecret = `secret-${randomBytes(16).toString("hex")}`;
  const authMethod = options.authMethod ?? "client_secret_basic";
  harness.addClient({ clientId, clientSecret, redirectUris: [callbackUrl], tokenEndpointAuthMethod: authMethod });
  return {
    provider: "oidc",
    issuer: harness.issuer,
    client_id: clientId,
    client_secret: clientSecret,
    scopes: connectorScopes,
    token_endpoint_auth_method: authMethod,
  };
}

/** A new workspace on `plan` with a `latchkey`-identity app and a connector at `target`. */
export async function createTenant(
  t: Caller,
  target: ConnectorTarget,
  plan: Plan = "builder",
  options: ConnectorOptions = {},
): Promise<Tenant> {
  const workspace = await createTenantWorkspace(t, plan);
  const app = await createLatchkeyIdentityApp(t, workspace);
  const connector = await createConnector(t, target, workspace, options);
  return { ...workspace, ...app, ...connector };
}

/** A user token minted by Latchkey for a `latchkey`-identity app. */
export async function userToken(
  t: Caller,
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
  t: Caller,
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
export function callback(t: Caller, providerRedirect: URL): Promise<Response> {
  expect(`${providerRedirect.origin}${providerRedirect.pathname}`).toBe(callbackUrl);
  return t.call("GET", `/oauth/callback${providerRedirect.search}`);
}

/** The whole browser round trip: initiate, log in at the provider, come back through the callback. */
export async function connectUser(
  t: Caller,
  harness: AuthorizationServer,
  tenant: Pick<Tenant, "appId" | "connectorId">,
  token: string,
  login: string,
  secrets?: { add(value: string): unknown },
): Promise<URL> {
  const redirectUrl = await initiate(t, tenant, token);
  const providerRedirect = await harness.authorize(redirectUrl, { login });
  for (const name of ["code", "state"]) secrets?.add(providerRedirect.searchParams.get(name) ?? "");
  const response = await callback(t, providerRedirect);
  expect(response.status).toBe(302);
  return new URL(response.headers.get("location") ?? "");
}

/** An admin connects the app's shared connection at the provider, as `login`; returns the callback's answer. */
export async function connectShared(
  t: Caller,
  harness: AuthorizationServer,
  tenant: Pick<Tenant, "workspaceId" | "adminKey" | "appId" | "connectorId">,
  login: string,
  body?: unknown,
): Promise<Response> {
  const initiated = await json<{ redirect_url: string }>(
    await t.call(
      "POST",
      `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}/connectors/${tenant.connectorId}/initiate`,
      { token: tenant.adminKey, ...(body !== undefined && { body }) },
    ),
    200,
  );
  const response = await callback(t, await harness.authorize(initiated.redirect_url, { login }));
  expect(response.status).toBe(302);
  return response;
}

/** GET the token route with the app's service key, on behalf of the user of `onBehalfOf`. */
export async function tokenFor(
  t: Caller,
  tenant: Pick<Tenant, "appId" | "connectorId" | "serviceKey">,
  onBehalfOf: string,
): Promise<Response> {
  return t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/token`, {
    token: tenant.serviceKey,
    headers: { "on-behalf-of": `Bearer ${onBehalfOf}` },
  });
}

/** Every table's row count: "changing nothing" is checked by comparing two of these. */
export async function tableCounts(t: Pick<TestApp, "deps">): Promise<Record<string, number>> {
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
export async function connectionsSnapshot(t: Pick<TestApp, "deps">): Promise<unknown[]> {
  return t.deps.db.selectFrom("connections").selectAll().orderBy("id").execute();
}

/** A testbed part, once the beforeAll that starts it has run. */
export function started<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`the testbed's ${name} is read before its beforeAll ran`);
  return value;
}

export interface ConnectTestbedOptions extends Omit<TestAppOptions, "database"> {
  /** Settings of the real authorization server. */
  provider?: AuthorizationServerOptions;
}

/** What `connectTestbed` sets up; read its parts from inside tests and hooks, once beforeAll ran. */
export interface ConnectTestbed {
  /** The real authorization server the tenant's connector points at. */
  readonly harness: AuthorizationServer;
  /** The Latchkey app instance, owning a fresh database. */
  readonly t: OpenTestApp;
  /** A builder-plan workspace with an app and a connector at `harness`. */
  readonly tenant: Tenant;
  /** Every key, token, code and state the testbed saw (the tenant's keys included): none may be logged. */
  readonly secrets: Secrets;
  /** Another tenant (its own workspace, app and connector) at the testbed's authorization server. */
  newTenant(plan?: Plan, options?: ConnectorOptions): Promise<Tenant>;
  /** A user token of `userId` (on the tenant's app, or `target`'s), remembered as a secret. */
  tokenOf(userId: string, target?: Pick<Tenant, "appId" | "serviceKey">): Promise<string>;
  /** Connects the user of `userToken` as `login` at the provider, through the callback; returns where the user went back to. */
  connect(userToken: string, login: string, target?: Pick<Tenant, "appId" | "connectorId">): Promise<URL>;
  /** Initiates and logs in at the provider; returns the provider's redirect to Latchkey's callback, unvisited. */
  providerRedirect(userToken: string, login: string): Promise<URL>;
  /** Another app instance on the testbed's database (closed before it), as a second `latchkey start`. */
  extraInstance(options?: Omit<TestAppOptions, "database">): Promise<TestApp>;
}

/**
 * Registers, in the calling describe, a beforeAll that starts the authorization server, the app
 * and the tenant, and an afterAll that closes them. Options are those of the test app (clock,
 * keys, env, fetch) plus the authorization server's.
 */
export function connectTestbed(options: ConnectTestbedOptions = {}): ConnectTestbed {
  const { provider, ...appOptions } = options;
  let harness: AuthorizationServer | undefined;
  let t: OpenTestApp | undefined;
  let tenant: Tenant | undefined;
  const extras: ExtraInstance[] = [];
  const secrets = new Secrets();

  beforeAll(async () => {
    harness = await startAuthorizationServer(provider);
    t = await createTestApp(appOptions);
    tenant = await createTenant(t, harness);
    secrets.add(tenant.serviceKey, tenant.adminKey, tenant.clientSecret);
  }, 60_000);
  afterAll(async () => {
    for (const extra of extras) await extra.close();
    await t?.close();
    await harness?.close();
  });

  const bed: ConnectTestbed = {
    get harness() {
      return started(harness, "authorization server");
    },
    get t() {
      return started(t, "app");
    },
    get tenant() {
      return started(tenant, "tenant");
    },
    secrets,
    newTenant(plan, connectorOptions) {
      return createTenant(bed.t, bed.harness, plan, connectorOptions);
    },
    async tokenOf(userId, target = bed.tenant) {
      const token = await userToken(bed.t, target, userId);
      secrets.add(token);
      return token;
    },
    connect(token, login, target = bed.tenant) {
      return connectUser(bed.t, bed.harness, target, token, login, secrets);
    },
    async providerRedirect(token, login) {
      const redirect = await bed.harness.authorize(await initiate(bed.t, bed.tenant, token), { login });
      secrets.add(redirect.searchParams.get("code"), redirect.searchParams.get("state"));
      return redirect;
    },
    async extraInstance(instanceOptions = appOptions) {
      const extra = await extraInstance(bed.t, instanceOptions);
      extras.push(extra);
      return extra.app;
    },
  };
  return bed;
}
