import type { CreateApiKeyResponse, CreateServiceKeyResponse } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, createTestApp, testOperatorKey } from "../../test/support/test-app.ts";
import {
  addMember,
  createTenantApp,
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  uniqueEmail,
  validAppBody,
  type Harness,
  type TestTenantApp,
  type TestMember,
  type TestWorkspace,
} from "../../test/support/tenants.ts";

/**
 * Every tenancy route against every kind of bad credential, oversized and mistyped bodies.
 * Each route is called with ids that exist in the workspace, so a refusal can only come from
 * the credential (or the body) being checked, and nothing may change.
 */

interface World {
  ws: TestWorkspace;
  member: TestMember;
  spareAdmin: TestMember;
  app: TestTenantApp;
  spareServiceKeyId: string;
  spareAdminKeyId: string;
  revokedAdminKey: string;
  revokedServiceKey: string;
  other: TestWorkspace;
}

type Access = "operator" | "member" | "admin";

interface RouteCase {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** OpenAPI-style path, as in the docs. */
  docPath: string;
  access: Access;
  path(w: World): string;
  body?: (w: World) => unknown;
}

const routes: RouteCase[] = [
  {
    method: "POST",
    docPath: "/api/operator/workspaces",
    access: "operator",
    path: () => "/api/operator/workspaces",
    body: () => ({ name: "X", plan: "free", admin_email: uniqueEmail() }),
  },
  { method: "GET", docPath: "/api/operator/workspaces", access: "operator", path: () => "/api/operator/workspaces" },
  {
    method: "GET",
    docPath: "/api/operator/workspaces/{workspaceId}",
    access: "operator",
    path: (w) => `/api/operator/workspaces/${w.ws.id}`,
  },
  {
    method: "PATCH",
    docPath: "/api/operator/workspaces/{workspaceId}",
    access: "operator",
    path: (w) => `/api/operator/workspaces/${w.ws.id}`,
    body: () => ({ plan: "enterprise" }),
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}`,
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}/members",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}/members`,
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}/members/{memberId}",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}/members/${w.member.id}`,
  },
  {
    method: "POST",
    docPath: "/api/workspaces/{workspaceId}/members",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/members`,
    body: () => ({ email: uniqueEmail(), role: "admin" }),
  },
  {
    method: "PATCH",
    docPath: "/api/workspaces/{workspaceId}/members/{memberId}",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/members/${w.spareAdmin.id}`,
    body: () => ({ role: "member" }),
  },
  {
    method: "DELETE",
    docPath: "/api/workspaces/{workspaceId}/members/{memberId}",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/members/${w.spareAdmin.id}`,
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}/api-keys",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}/api-keys`,
  },
  {
    method: "POST",
    docPath: "/api/workspaces/{workspaceId}/api-keys",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/api-keys`,
    body: () => ({ name: "k" }),
  },
  {
    method: "DELETE",
    docPath: "/api/workspaces/{workspaceId}/api-keys/{keyId}",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/api-keys/${w.spareAdminKeyId}`,
  },
  {
    method: "POST",
    docPath: "/api/workspaces/{workspaceId}/apps",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/apps`,
    body: () => validAppBody,
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}/apps",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}/apps`,
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}/apps/{appId}",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}/apps/${w.app.id}`,
  },
  {
    method: "PATCH",
    docPath: "/api/workspaces/{workspaceId}/apps/{appId}",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/apps/${w.app.id}`,
    body: () => ({ name: "renamed" }),
  },
  {
    method: "DELETE",
    docPath: "/api/workspaces/{workspaceId}/apps/{appId}",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/apps/${w.app.id}`,
  },
  {
    method: "GET",
    docPath: "/api/workspaces/{workspaceId}/apps/{appId}/service-keys",
    access: "member",
    path: (w) => `/api/workspaces/${w.ws.id}/apps/${w.app.id}/service-keys`,
  },
  {
    method: "POST",
    docPath: "/api/workspaces/{workspaceId}/apps/{appId}/service-keys",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/apps/${w.app.id}/service-keys`,
    body: () => ({ name: "k" }),
  },
  {
    method: "DELETE",
    docPath: "/api/workspaces/{workspaceId}/apps/{appId}/service-keys/{keyId}",
    access: "admin",
    path: (w) => `/api/workspaces/${w.ws.id}/apps/${w.app.id}/service-keys/${w.spareServiceKeyId}`,
  },
];

const named = routes.map((route) => [`${route.method} ${route.docPath}`, route] as const);
const workspaceRoutes = named.filter(([, route]) => route.access !== "operator");
const adminRoutes = named.filter(([, route]) => route.access === "admin");
const bodyRoutes = named.filter(([, route]) => route.body !== undefined);

describe("tenancy API access control and limits", { timeout: 30_000 }, () => {
  let t: Harness;
  let w: World;

  beforeAll(async () => {
    t = await createTestApp();
    const ws = await createWorkspace(t);
    const member = await addMember(t, ws, "member");
    const spareAdmin = await addMember(t, ws, "admin");
    const app = await createTenantApp(t, ws);
    const spareServiceKey = await expectStatus<CreateServiceKeyResponse>(
      await t.call("POST", `/api/workspaces/${ws.id}/apps/${app.id}/service-keys`, {
        token: ws.adminKey,
        body: { name: "spare" },
      }),
      201,
    );
    const revokedAdmin = await expectStatus<CreateApiKeyResponse>(
      await t.call("POST", `/api/workspaces/${ws.id}/api-keys`, { token: ws.adminKey, body: { name: "revoked" } }),
      201,
    );
    await expectStatus(
      await t.call("DELETE", `/api/workspaces/${ws.id}/api-keys/${revokedAdmin.key.id}`, { token: ws.adminKey }),
      204,
    );
    const revokedService = await expectStatus<CreateServiceKeyResponse>(
      await t.call("POST", `/api/workspaces/${ws.id}/apps/${app.id}/service-keys`, {
        token: ws.adminKey,
        body: { name: "revoked" },
      }),
      201,
    );
    await expectStatus(
      await t.call("DELETE", `/api/workspaces/${ws.id}/apps/${app.id}/service-keys/${revokedService.key.id}`, {
        token: ws.adminKey,
      }),
      204,
    );
    w = {
      ws,
      member,
      spareAdmin,
      app,
      spareServiceKeyId: spareServiceKey.key.id,
      spareAdminKeyId: (
        await t.deps.db
          .selectFrom("admin_api_keys")
          .select("id")
          .where("member_id", "=", spareAdmin.id)
          .executeTakeFirstOrThrow()
      ).id,
      revokedAdminKey: revokedAdmin.api_key,
      revokedServiceKey: revokedService.service_key,
      other: await createWorkspace(t),
    };
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  function send(route: RouteCase, options: { token?: string; headers?: Record<string, string>; body?: unknown } = {}) {
    const body = options.body ?? route.body?.(w);
    return t.call(route.method, route.path(w), {
      ...(options.token !== undefined && { token: options.token }),
      ...(options.headers !== undefined && { headers: options.headers }),
      ...(body !== undefined && { body }),
    });
  }

  async function expectRefused(route: RouteCase, status: number, code: string, options: Parameters<typeof send>[1]) {
    const response = await expectNoChange(t, () => send(route, options));
    await expectError(response, status, code);
  }

  /** A valid credential of the right kind for the route, to make the bad ones stand out. */
  const goodToken = (route: RouteCase) => (route.access === "operator" ? testOperatorKey : w.ws.adminKey);

  it.each(named)("%s: no Authorization header → 401", async (_name, route) => {
    await expectRefused(route, 401, "UNAUTHENTICATED", {});
  });

  it.each(named)("%s: a Basic Authorization header → 401", async (_name, route) => {
    const basic = `Basic ${Buffer.from(`user:${goodToken(route)}`).toString("base64")}`;
    await expectRefused(route, 401, "UNAUTHENTICATED", { headers: { authorization: basic } });
  });

  it.each(named)("%s: the key without the Bearer scheme → 401", async (_name, route) => {
    await expectRefused(route, 401, "UNAUTHENTICATED", { headers: { authorization: goodToken(route) } });
  });

  it.each(named)("%s: a made-up key → 401", async (_name, route) => {
    const fake = route.access === "operator" ? `${testOperatorKey}x` : `lk_admin_${"A".repeat(43)}`;
    await expectRefused(route, 401, "UNAUTHENTICATED", { token: fake });
  });

  it.each(named.filter(([, r]) => r.access === "operator"))("%s: a workspace admin key → 401", async (_name, route) => {
    await expectRefused(route, 401, "UNAUTHENTICATED", { token: w.ws.adminKey });
  });

  it.each(workspaceRoutes)("%s: a revoked API key → 401", async (_name, route) => {
    await expectRefused(route, 401, "UNAUTHENTICATED", { token: w.revokedAdminKey });
  });

  it.each(workspaceRoutes)("%s: the operator key → 401", async (_name, route) => {
    await expectRefused(route, 401, "UNAUTHENTICATED", { token: testOperatorKey });
  });

  it.each(workspaceRoutes)("%s: a service key of the workspace's app → 401", async (_name, route) => {
    await expectRefused(route, 401, "UNAUTHENTICATED", { token: w.app.serviceKey });
    await expectRefused(route, 401, "UNAUTHENTICATED", { token: w.revokedServiceKey });
  });

  it.each(workspaceRoutes)("%s: another workspace's admin key → 404", async (_name, route) => {
    await expectRefused(route, 404, "NOT_FOUND", { token: w.other.adminKey });
  });

  it.each(adminRoutes)("%s: a member without the admin role → 403", async (_name, route) => {
    await expectRefused(route, 403, "FORBIDDEN", { token: w.member.key });
  });

  it.each(workspaceRoutes.filter(([, r]) => r.access === "member"))(
    "%s: a plain member may read → 200",
    async (_name, route) => {
      await expectStatus(await send(route, { token: w.member.key }), 200);
    },
  );

  it.each(bodyRoutes)("%s: a body over the limit → 413", async (_name, route) => {
    const oversized = JSON.stringify({ name: "x".repeat(t.deps.config.bodyLimitBytes) });
    await expectRefused(route, 413, "PAYLOAD_TOO_LARGE", { token: goodToken(route), body: oversized });
  });

  it.each(named.filter(([, r]) => r.method === "DELETE"))("%s: a body over the limit → 413", async (_name, route) => {
    const oversized = JSON.stringify({ pad: "x".repeat(t.deps.config.bodyLimitBytes) });
    await expectRefused(route, 413, "PAYLOAD_TOO_LARGE", { token: goodToken(route), body: oversized });
  });

  it.each(bodyRoutes)("%s: a form-encoded body → 415", async (_name, route) => {
    await expectRefused(route, 415, "UNSUPPORTED_MEDIA_TYPE", {
      token: goodToken(route),
      body: "name=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  });

  it.each(bodyRoutes)("%s: a JSON string instead of an object → 400", async (_name, route) => {
    await expectRefused(route, 400, "INVALID_REQUEST", { token: goodToken(route), body: '"name"' });
  });

  it.each(bodyRoutes)("%s: JSON nested too deep → 400", async (_name, route) => {
    const deep = `${"[".repeat(40)}${"]".repeat(40)}`;
    await expectRefused(route, 400, "INVALID_REQUEST", { token: goodToken(route), body: `{"name": ${deep}}` });
  });

  it("accepts a body just under the limit", async () => {
    const body = JSON.stringify({ email: uniqueEmail(), role: "member" });
    const padded = `${body.slice(0, -1) + " ".repeat(t.deps.config.bodyLimitBytes - body.length - 10)}}`;
    const response = await t.call("POST", `/api/workspaces/${w.ws.id}/members`, { token: w.ws.adminKey, body: padded });
    await expectStatus(response, 201);
  });

  it("applies a configured body limit (LATCHKEY_BODY_LIMIT_BYTES)", async () => {
    const small = buildTestApp({ database: t.database, env: { LATCHKEY_BODY_LIMIT_BYTES: "2048" } });
    const response = await expectNoChange(t, () =>
      small.call("POST", `/api/workspaces/${w.ws.id}/api-keys`, {
        token: w.ws.adminKey,
        body: { name: "k", pad: "x".repeat(3000) },
      }),
    );
    await expectError(response, 413, "PAYLOAD_TOO_LARGE");
  });

  it("never writes a key to the logs", () => {
    for (const secret of [
      w.ws.adminKey,
      w.member.key,
      w.spareAdmin.key,
      w.app.serviceKey,
      w.revokedAdminKey,
      testOperatorKey,
    ]) {
      expect(t.logs.text).not.toContain(secret);
    }
  });

  // Runs last: it changes the world. Proves every path above reaches its route, so no refusal
  // above was a "no such route" 404 in disguise.
  it("serves every route with the right credential", async () => {
    const deleteOrder = ["service-keys/{keyId}", "api-keys/{keyId}", "members/{memberId}", "apps/{appId}"];
    const rank = (route: RouteCase) =>
      route.method === "DELETE" ? 1 + deleteOrder.findIndex((suffix) => route.docPath.endsWith(suffix)) : 0;
    for (const route of [...routes].sort((a, b) => rank(a) - rank(b))) {
      const response = await send(route, { token: goodToken(route) });
      expect({ route: `${route.method} ${route.docPath}`, status: response.status }).toMatchObject({
        status: route.method === "POST" ? 201 : route.method === "DELETE" ? 204 : 200,
      });
    }
  });

  describe("API docs", () => {
    it("documents every tenancy route, with auth and its error statuses", () => {
      for (const route of routes) {
        const doc = t.docs.routes.find((d) => d.method === route.method.toLowerCase() && d.path === route.docPath);
        expect(doc, `${route.method} ${route.docPath}`).toBeDefined();
        expect(doc?.auth).toBe(route.access === "operator" ? "operator" : "workspace");
        expect(Object.keys(doc?.responses ?? {})).toContain("401");
        if (route.access === "admin") expect(Object.keys(doc?.responses ?? {})).toContain("403");
        if (route.body) expect(doc?.body).toBeDefined();
      }
    });
  });
});
