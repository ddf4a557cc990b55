import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, testOperatorKey } from "../../test/support/test-app.ts";
import { corsAllowedHeaders } from "./cors.ts";

/** Creating a test database can take seconds on a busy machine. */
const databaseSetupMs = 60_000;
const pageOrigin = "https://frontend.example.test";

type OpenTestApp = Awaited<ReturnType<typeof createTestApp>>;

function preflight(t: OpenTestApp, path: string, method: string, requestHeaders: string): Promise<Response> {
  return t.call("OPTIONS", path, {
    headers: {
      origin: pageOrigin,
      "access-control-request-method": method,
      "access-control-request-headers": requestHeaders,
    },
  });
}

function listOf(header: string | null): string[] {
  return (header ?? "")
    .split(",")
    .map((value) => value.trim().toLowerCase())
    .filter(Boolean);
}

function expectPreflightAllowed(res: Response, method: string): void {
  expect(res.status).toBe(204);
  expect(res.headers.get("access-control-allow-origin")).toBe("*");
  expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  expect(listOf(res.headers.get("access-control-allow-methods"))).toContain(method.toLowerCase());
  expect(listOf(res.headers.get("access-control-allow-headers"))).toEqual(
    expect.arrayContaining(corsAllowedHeaders.map((name) => name.toLowerCase())),
  );
  expect(res.headers.get("access-control-max-age")).toBe("600");
}

async function errorCodeOf(res: Response): Promise<string> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(typeof body.error.message).toBe("string");
  return body.error.code;
}

describe("CORS for browser frontends on /api/apps/*", () => {
  let t: OpenTestApp;
  let workspaceId: string;
  let adminKey: string;
  let appId: string;
  let serviceKey: string;
  let userToken: string;

  beforeAll(async () => {
    t = await createTestApp();
    const workspace = (await (
      await t.call("POST", "/api/operator/workspaces", {
        token: testOperatorKey,
        body: { name: "CORS", plan: "builder", admin_email: "admin@example.test" },
      })
    ).json()) as { workspace: { id: string }; admin_api_key: string };
    workspaceId = workspace.workspace.id;
    adminKey = workspace.admin_api_key;
    const created = await t.call("POST", `/api/workspaces/${workspaceId}/apps`, {
      token: adminKey,
      body: { name: "Front", allowed_return_origins: [pageOrigin], identity: { type: "latchkey" } },
    });
    expect(created.status).toBe(201);
    const app = (await created.json()) as { app: { id: string }; service_key: string };
    appId = app.app.id;
    serviceKey = app.service_key;
    const minted = await t.call("POST", `/api/apps/${appId}/users/alice/token`, { token: serviceKey, body: {} });
    expect(minted.status).toBe(201);
    userToken = ((await minted.json()) as { token: string }).token;
  }, databaseSetupMs);
  afterAll(async () => {
    await t?.close();
  }, databaseSetupMs);

  it("answers the preflight of the service token route with 204 and the allowed headers, without credentials", async () => {
    const res = await preflight(
      t,
      `/api/apps/${appId}/app-user-auth/connectors/con_123/token`,
      "GET",
      "authorization,content-type,x-app-id,on-behalf-of",
    );
    expectPreflightAllowed(res, "GET");
    expect(await res.text()).toBe("");
  });

  it("answers the preflight of initiate (POST) and disconnect (DELETE) with 204", async () => {
    const headers = "authorization,content-type,x-app-id,x-origin-url";
    expectPreflightAllowed(
      await preflight(t, `/api/apps/${appId}/app-user-auth/connectors/con_123/initiate`, "POST", headers),
      "POST",
    );
    expectPreflightAllowed(
      await preflight(t, `/api/apps/${appId}/app-user-auth/connectors/con_123`, "DELETE", headers),
      "DELETE",
    );
  });

  it("answers a preflight for an unknown app without touching authentication (no 401/404)", async () => {
    const res = await preflight(
      t,
      "/api/apps/app_unknown/app-user-auth/connectors/con_1/initiate",
      "POST",
      "authorization",
    );
    expectPreflightAllowed(res, "POST");
  });

  it("answers a preflight that carries a (bad) Authorization header the same way: auth never runs", async () => {
    const res = await t.call("OPTIONS", `/api/apps/${appId}/app-user-auth/connectors/con_1/token`, {
      token: "not-a-key",
      headers: { origin: pageOrigin, "access-control-request-method": "GET" },
    });
    expectPreflightAllowed(res, "GET");
  });

  it("puts Access-Control-Allow-Origin and the exposed headers on an actual successful response", async () => {
    const res = await t.call("GET", `/api/apps/${appId}/app-user-auth/connections`, {
      token: userToken,
      headers: { origin: pageOrigin, "x-app-id": appId },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(listOf(res.headers.get("access-control-expose-headers"))).toEqual(["x-request-id", "retry-after"]);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("puts Access-Control-Allow-Origin on error responses too, so the browser SDK can read the error code", async () => {
    const res = await t.call("GET", `/api/apps/${appId}/app-user-auth/connectors/con_1/token`, {
      token: "sk_wrong",
      headers: { origin: pageOrigin },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await errorCodeOf(res)).toBe("UNAUTHENTICATED");
  });

  it("gives /api/workspaces/* no CORS: its preflight carries no allow header", async () => {
    const res = await preflight(t, `/api/workspaces/${workspaceId}/apps`, "POST", "authorization,content-type");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-methods")).toBeNull();
    expect(res.headers.get("access-control-allow-headers")).toBeNull();
    expect(res.status).toBe(404);
  });

  it("gives actual /api/workspaces/* and /api/operator/* responses no CORS headers", async () => {
    const workspace = await t.call("GET", `/api/workspaces/${workspaceId}/apps`, {
      token: adminKey,
      headers: { origin: pageOrigin },
    });
    expect(workspace.status).toBe(200);
    expect(workspace.headers.get("access-control-allow-origin")).toBeNull();
    const operator = await preflight(t, "/api/operator/workspaces", "POST", "authorization");
    expect(operator.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("calls the Base44 browser SDK makes on its own", () => {
  let t: OpenTestApp;
  let appId: string;
  let userToken: string;

  beforeAll(async () => {
    t = await createTestApp();
    const workspace = (await (
      await t.call("POST", "/api/operator/workspaces", {
        token: testOperatorKey,
        body: { name: "B44", plan: "builder", admin_email: "admin@example.test" },
      })
    ).json()) as { workspace: { id: string }; admin_api_key: string };
    const app = (await (
      await t.call("POST", `/api/workspaces/${workspace.workspace.id}/apps`, {
        token: workspace.admin_api_key,
        body: { name: "Front", allowed_return_origins: [pageOrigin], identity: { type: "latchkey" } },
      })
    ).json()) as { app: { id: string }; service_key: string };
    appId = app.app.id;
    const minted = await t.call("POST", `/api/apps/${appId}/users/alice/token`, { token: app.service_key, body: {} });
    userToken = ((await minted.json()) as { token: string }).token;
  }, databaseSetupMs);
  afterAll(async () => {
    await t?.close();
  }, databaseSetupMs);

  it("answers GET /entities/User/me (the SDK's analytics user lookup) with a 404 NOT_FOUND envelope", async () => {
    const res = await t.call("GET", `/api/apps/${appId}/entities/User/me`, {
      token: userToken,
      headers: { origin: pageOrigin, "x-app-id": appId, "x-origin-url": `${pageOrigin}/page` },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await errorCodeOf(res)).toBe("NOT_FOUND");
  });

  it("answers POST /analytics/track/batch with a 404 NOT_FOUND envelope", async () => {
    const res = await t.call("POST", `/api/apps/${appId}/analytics/track/batch`, {
      body: {
        events: [
          {
            event_name: "__initialization_event__",
            properties: { referrer: "" },
            timestamp: new Date().toISOString(),
            page_url: "/page",
            user_id: null,
            session_id: "s-1",
          },
        ],
      },
      headers: { origin: pageOrigin, "x-app-id": appId, "x-base44-anonymous-id": "anon-1" },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await errorCodeOf(res)).toBe("NOT_FOUND");
  });

  it("lets both through the preflight, so the browser sees the 404 rather than a CORS failure", async () => {
    expectPreflightAllowed(
      await preflight(t, `/api/apps/${appId}/entities/User/me`, "GET", "authorization,x-app-id"),
      "GET",
    );
    expectPreflightAllowed(
      await preflight(
        t,
        `/api/apps/${appId}/analytics/track/batch`,
        "POST",
        "content-type,x-app-id,x-base44-anonymous-id",
      ),
      "POST",
    );
  });
});
