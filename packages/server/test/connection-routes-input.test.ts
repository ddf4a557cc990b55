import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { CallOptions } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  connectionsSnapshot,
  connectTestbed,
  connectUser,
  tableCounts,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";

/**
 * Bad input to every connection and OAuth route: a 4xx with a stable code, never a 5xx, and the
 * database exactly as it was (row counts and every connection row, ciphertexts included).
 */
describe(`connection routes refuse bad input (${testDbKind()})`, () => {
  const bed = connectTestbed({ env: { LATCHKEY_BODY_LIMIT_BYTES: "4096" } });
  let other: Tenant;
  let alice: string;
  let memberKey: string;
  let before: { counts: Record<string, number>; connections: unknown[] };

  beforeAll(async () => {
    other = await bed.newTenant();
    alice = await userToken(bed.t, bed.tenant, "alice");
    await connectUser(bed.t, bed.harness, bed.tenant, alice, "alice-login");
    const member = await bed.t.call("POST", `/api/workspaces/${bed.tenant.workspaceId}/members`, {
      token: bed.tenant.adminKey,
      body: { email: "member@example.test", role: "member" },
    });
    memberKey = ((await member.json()) as { api_key: string }).api_key;
  }, 90_000);
  beforeEach(async () => {
    before = { counts: await tableCounts(bed.t), connections: await connectionsSnapshot(bed.t) };
  });

  async function expectRefused(method: string, path: string, options: CallOptions, status: number, code: string) {
    const response = await bed.t.call(method, path, options);
    const text = await response.text();
    expect(response.status, `${method} ${path}: ${text}`).toBe(status);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe(code);
    expect(await tableCounts(bed.t)).toEqual(before.counts);
    expect(await connectionsSnapshot(bed.t)).toEqual(before.connections);
  }

  describe("POST /api/apps/{appId}/app-user-auth/connectors/{connectorId}/initiate", () => {
    const path = () => `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/initiate`;
    it("needs a user token", async () => {
      await expectRefused("POST", path(), {}, 401, "UNAUTHENTICATED");
      await expectRefused("POST", path(), { token: "garbage" }, 401, "INVALID_USER_TOKEN");
      await expectRefused("POST", path(), { token: bed.tenant.serviceKey }, 401, "INVALID_USER_TOKEN");
    });
    it("answers 404 for an unknown app or connector", async () => {
      await expectRefused(
        "POST",
        `/api/apps/app_nope/app-user-auth/connectors/${bed.tenant.connectorId}/initiate`,
        { token: alice },
        404,
        "NOT_FOUND",
      );
      await expectRefused(
        "POST",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/con_nope/initiate`,
        { token: alice },
        404,
        "NOT_FOUND",
      );
      await expectRefused(
        "POST",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${other.connectorId}/initiate`,
        { token: alice },
        404,
        "NOT_FOUND",
      );
    });
    it("refuses an X-App-Id that is not the path's app", async () => {
      await expectRefused(
        "POST",
        path(),
        { token: alice, headers: { "x-app-id": other.appId } },
        400,
        "INVALID_REQUEST",
      );
    });
    it("refuses bodies of the wrong shape, type or size", async () => {
      await expectRefused("POST", path(), { token: alice, body: { return_to: 5 } }, 400, "INVALID_REQUEST");
      await expectRefused(
        "POST",
        path(),
        { token: alice, body: { returnTo: "https://app.example.test" } },
        400,
        "INVALID_REQUEST",
      );
      await expectRefused("POST", path(), { token: alice, body: ["https://app.example.test"] }, 400, "INVALID_REQUEST");
      await expectRefused("POST", path(), { token: alice, body: "{not json" }, 400, "INVALID_REQUEST");
      await expectRefused(
        "POST",
        path(),
        { token: alice, body: "x", headers: { "content-type": "text/plain" } },
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      );
      await expectRefused(
        "POST",
        path(),
        { token: alice, body: { return_to: "x".repeat(5000) } },
        413,
        "PAYLOAD_TOO_LARGE",
      );
      await expectRefused(
        "POST",
        path(),
        { token: alice, body: { return_to: `https://app.example.test/${"a".repeat(3000)}` } },
        400,
        "INVALID_REQUEST",
      );
    });
  });

  describe("DELETE /api/apps/{appId}/app-user-auth/connectors/{connectorId}", () => {
    const path = () => `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}`;
    it("needs the user's own token and the right app", async () => {
      await expectRefused("DELETE", path(), {}, 401, "UNAUTHENTICATED");
      await expectRefused("DELETE", path(), { token: bed.tenant.serviceKey }, 401, "INVALID_USER_TOKEN");
      await expectRefused(
        "DELETE",
        path(),
        { token: alice, headers: { "x-app-id": other.appId } },
        400,
        "INVALID_REQUEST",
      );
      await expectRefused(
        "DELETE",
        `/api/apps/app_nope/app-user-auth/connectors/${bed.tenant.connectorId}`,
        { token: alice },
        404,
        "NOT_FOUND",
      );
    });
  });

  describe("GET /api/apps/{appId}/app-user-auth/connections", () => {
    const path = () => `/api/apps/${bed.tenant.appId}/app-user-auth/connections`;
    it("needs the user's token and the right app", async () => {
      await expectRefused("GET", path(), {}, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path(), { token: bed.tenant.serviceKey }, 401, "INVALID_USER_TOKEN");
      await expectRefused(
        "GET",
        path(),
        { token: alice, headers: { "x-app-id": "app_other" } },
        400,
        "INVALID_REQUEST",
      );
      await expectRefused("GET", "/api/apps/app_nope/app-user-auth/connections", { token: alice }, 404, "NOT_FOUND");
    });
  });

  describe("GET /api/apps/{appId}/app-user-auth/connectors/{connectorId}/token", () => {
    const path = () => `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/token`;
    const onBehalf = () => ({ "on-behalf-of": `Bearer ${alice}` });
    it("needs a service key and an on-behalf-of user token", async () => {
      await expectRefused("GET", path(), { headers: onBehalf() }, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path(), { token: alice, headers: onBehalf() }, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path(), { token: "lk_svc_forged", headers: onBehalf() }, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path(), { token: bed.tenant.serviceKey }, 401, "INVALID_USER_TOKEN");
      await expectRefused(
        "GET",
        path(),
        { token: bed.tenant.serviceKey, headers: { "on-behalf-of": "Bearer nope" } },
        401,
        "INVALID_USER_TOKEN",
      );
      await expectRefused(
        "GET",
        path(),
        { token: bed.tenant.serviceKey, headers: { "on-behalf-of": alice } },
        401,
        "INVALID_USER_TOKEN",
      );
    });
    it("answers 404 for unknown ids and 400 for a mismatched X-App-Id", async () => {
      await expectRefused(
        "GET",
        `/api/apps/app_nope/app-user-auth/connectors/${bed.tenant.connectorId}/token`,
        { token: bed.tenant.serviceKey, headers: onBehalf() },
        404,
        "NOT_FOUND",
      );
      await expectRefused(
        "GET",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/con_nope/token`,
        { token: bed.tenant.serviceKey, headers: onBehalf() },
        404,
        "CONNECTION_NOT_FOUND",
      );
      await expectRefused(
        "GET",
        path(),
        { token: bed.tenant.serviceKey, headers: { ...onBehalf(), "x-app-id": other.appId } },
        400,
        "INVALID_REQUEST",
      );
    });
  });

  describe("GET /api/apps/{appId}/app-user-auth/connectors/{connectorId}/users/{userId}/token", () => {
    const path = (userId: string) =>
      `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/${userId}/token`;
    it("needs the app's service key", async () => {
      await expectRefused("GET", path("alice"), {}, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path("alice"), { token: alice }, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path("alice"), { token: other.serviceKey }, 404, "NOT_FOUND");
    });
    it("refuses a malformed user id and answers 404 for an unknown one", async () => {
      await expectRefused("GET", path("u".repeat(300)), { token: bed.tenant.serviceKey }, 400, "INVALID_REQUEST");
      await expectRefused("GET", path("%01bad"), { token: bed.tenant.serviceKey }, 400, "INVALID_REQUEST");
      await expectRefused("GET", path("bob"), { token: bed.tenant.serviceKey }, 404, "CONNECTION_NOT_FOUND");
      await expectRefused(
        "GET",
        path("alice"),
        { token: bed.tenant.serviceKey, headers: { "x-app-id": other.appId } },
        400,
        "INVALID_REQUEST",
      );
    });
  });

  describe("GET /api/apps/{appId}/external-auth/tokens/…", () => {
    const byConnector = (connectorId: string) =>
      `/api/apps/${bed.tenant.appId}/external-auth/tokens/connectors/${connectorId}`;
    const byProvider = (provider: string) => `/api/apps/${bed.tenant.appId}/external-auth/tokens/${provider}`;
    it("needs the app's service key", async () => {
      for (const path of [byConnector(bed.tenant.connectorId), byProvider("oidc")]) {
        await expectRefused("GET", path, {}, 401, "UNAUTHENTICATED");
        await expectRefused("GET", path, { token: alice }, 401, "UNAUTHENTICATED");
        await expectRefused("GET", path, { token: bed.tenant.adminKey }, 401, "UNAUTHENTICATED");
        await expectRefused("GET", path, { token: other.serviceKey }, 404, "NOT_FOUND");
        await expectRefused(
          "GET",
          path,
          { token: bed.tenant.serviceKey, headers: { "x-app-id": other.appId } },
          400,
          "INVALID_REQUEST",
        );
      }
    });
    it("answers 404 CONNECTION_NOT_FOUND when there is no shared connection", async () => {
      await expectRefused(
        "GET",
        byConnector("con_nope"),
        { token: bed.tenant.serviceKey },
        404,
        "CONNECTION_NOT_FOUND",
      );
      await expectRefused(
        "GET",
        byConnector(bed.tenant.connectorId),
        { token: bed.tenant.serviceKey },
        404,
        "CONNECTION_NOT_FOUND",
      );
      await expectRefused("GET", byProvider("oidc"), { token: bed.tenant.serviceKey }, 404, "CONNECTION_NOT_FOUND");
      await expectRefused(
        "GET",
        byProvider("no-such-provider"),
        { token: bed.tenant.serviceKey },
        404,
        "CONNECTION_NOT_FOUND",
      );
    });
    it("has no route for two segments other than connectors/{connectorId}", async () => {
      const path = `/api/apps/${bed.tenant.appId}/external-auth/tokens/oidc/${bed.tenant.connectorId}`;
      for (const token of [undefined, bed.tenant.serviceKey]) {
        const response = await bed.t.call("GET", path, token === undefined ? {} : { token });
        expect(response.status).toBe(404);
        expect(await response.json()).toMatchObject({
          error: { code: "NOT_FOUND", message: `No route for GET ${path}` },
        });
      }
    });
  });

  describe("GET /api/workspaces/{workspaceId}/connections", () => {
    const path = (query = "") => `/api/workspaces/${bed.tenant.workspaceId}/connections${query}`;
    it("needs a key of a member of the workspace", async () => {
      await expectRefused("GET", path(), {}, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path(), { token: bed.tenant.serviceKey }, 401, "UNAUTHENTICATED");
      await expectRefused("GET", path(), { token: other.adminKey }, 404, "NOT_FOUND");
    });
    it("refuses malformed filters", async () => {
      for (const query of [
        "?limit=abc",
        "?limit=0",
        "?limit=501",
        "?limit=1.5",
        "?owner_type=robot",
        "?status=gone",
        "?colour=red",
        `?app_id=${"a".repeat(65)}`,
      ]) {
        await expectRefused("GET", path(query), { token: bed.tenant.adminKey }, 400, "INVALID_REQUEST");
      }
    });
  });

  describe("POST /api/workspaces/{workspaceId}/apps/{appId}/connectors/{connectorId}/initiate", () => {
    const path = (appId = bed.tenant.appId, connectorId = bed.tenant.connectorId) =>
      `/api/workspaces/${bed.tenant.workspaceId}/apps/${appId}/connectors/${connectorId}/initiate`;
    it("needs an admin of the workspace", async () => {
      await expectRefused("POST", path(), {}, 401, "UNAUTHENTICATED");
      await expectRefused("POST", path(), { token: bed.tenant.serviceKey }, 401, "UNAUTHENTICATED");
      await expectRefused("POST", path(), { token: memberKey }, 403, "FORBIDDEN");
      await expectRefused("POST", path(), { token: other.adminKey }, 404, "NOT_FOUND");
    });
    it("answers 404 for unknown or foreign ids and refuses bad bodies", async () => {
      await expectRefused("POST", path("app_nope"), { token: bed.tenant.adminKey }, 404, "NOT_FOUND");
      await expectRefused("POST", path(other.appId), { token: bed.tenant.adminKey }, 404, "NOT_FOUND");
      await expectRefused(
        "POST",
        path(bed.tenant.appId, other.connectorId),
        { token: bed.tenant.adminKey },
        404,
        "NOT_FOUND",
      );
      await expectRefused(
        "POST",
        path(),
        { token: bed.tenant.adminKey, body: { return_to: ["x"] } },
        400,
        "INVALID_REQUEST",
      );
      await expectRefused(
        "POST",
        path(),
        { token: bed.tenant.adminKey, body: { return_to: "https://evil.example" } },
        400,
        "RETURN_TO_NOT_ALLOWED",
      );
      await expectRefused(
        "POST",
        path(),
        { token: bed.tenant.adminKey, headers: { "x-app-id": other.appId } },
        400,
        "INVALID_REQUEST",
      );
    });
  });

  describe("DELETE /api/workspaces/{workspaceId}/apps/{appId}/connectors/{connectorId}/connection", () => {
    const path = (appId = bed.tenant.appId) =>
      `/api/workspaces/${bed.tenant.workspaceId}/apps/${appId}/connectors/${bed.tenant.connectorId}/connection`;
    it("needs an admin of the workspace and an app of it", async () => {
      await expectRefused("DELETE", path(), {}, 401, "UNAUTHENTICATED");
      await expectRefused("DELETE", path(), { token: memberKey }, 403, "FORBIDDEN");
      await expectRefused("DELETE", path(), { token: other.adminKey }, 404, "NOT_FOUND");
      await expectRefused("DELETE", path("app_nope"), { token: bed.tenant.adminKey }, 404, "NOT_FOUND");
      await expectRefused("DELETE", path(other.appId), { token: bed.tenant.adminKey }, 404, "NOT_FOUND");
      await expectRefused(
        "DELETE",
        path(),
        { token: bed.tenant.adminKey, headers: { "x-app-id": other.appId } },
        400,
        "INVALID_REQUEST",
      );
    });
  });

  describe("GET /oauth/callback", () => {
    it("answers a 400 page for a missing, malformed or unknown state, changing nothing", async () => {
      for (const query of [
        "",
        "?state=",
        "?state=short",
        `?state=${"A".repeat(43)}`,
        "?code=abc",
        "?state[]=x&state=y",
      ]) {
        const response = await bed.t.call("GET", `/oauth/callback${query}`);
        expect(response.status, query).toBe(400);
        expect(await response.text()).toContain("Connection failed");
      }
      expect(await tableCounts(bed.t)).toEqual(before.counts);
      expect(await connectionsSnapshot(bed.t)).toEqual(before.connections);
    });
  });
});
