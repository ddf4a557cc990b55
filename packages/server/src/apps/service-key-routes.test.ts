import type { CreateServiceKeyResponse, ServiceKeyInfo } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import { serviceKeyAuth } from "../access/auth.ts";
import {
  addMember,
  createTenantApp,
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  type Harness,
  type TestTenantApp,
  type TestWorkspace,
} from "../../test/support/tenants.ts";

describe("app service keys", { timeout: 30_000 }, () => {
  let t: Harness;
  beforeAll(async () => {
    t = await createTestApp();
    t.routes.mount("GET", "/probe/apps/:appId", [serviceKeyAuth(t.deps)], (c) =>
      c.json({ app_id: c.get("serviceApp").app.id }),
    );
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  const keysPath = (ws: TestWorkspace, app: TestTenantApp | string) =>
    `/api/workspaces/${ws.id}/apps/${typeof app === "string" ? app : app.id}/service-keys`;

  const probe = (appId: string, key: string) => t.call("GET", `/probe/apps/${appId}`, { token: key });

  async function newKey(ws: TestWorkspace, app: TestTenantApp, name = "rotation"): Promise<CreateServiceKeyResponse> {
    const response = await t.call("POST", keysPath(ws, app), { token: ws.adminKey, body: { name } });
    return expectStatus<CreateServiceKeyResponse>(response, 201);
  }

  describe("GET service-keys", () => {
    it("lists the app's keys as metadata to any member", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const second = await newKey(ws, app);
      const member = await addMember(t, ws, "member");
      const response = await t.call("GET", keysPath(ws, app), { token: member.key });
      const body = await expectStatus<{ keys: ServiceKeyInfo[] }>(response, 200);
      expect(body.keys.map((k) => k.id)).toEqual([app.serviceKeyId, second.key.id]);
      const text = JSON.stringify(body);
      expect(text).not.toContain(app.serviceKey);
      expect(text).not.toContain(second.service_key);
      expect(text).not.toContain("key_hash");
    });

    it("answers 404 for an unknown app and another workspace's app", async () => {
      const ws = await createWorkspace(t);
      const theirs = await createTenantApp(t, await createWorkspace(t));
      for (const appId of ["app_nope", theirs.id]) {
        await expectError(await t.call("GET", keysPath(ws, appId), { token: ws.adminKey }), 404, "NOT_FOUND");
      }
    });
  });

  describe("POST service-keys", () => {
    it("creates a key, shown once, that works next to the existing ones (rotation)", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const created = await newKey(ws, app, "2025 rotation");
      expect(created.service_key).toMatch(/^lk_svc_/);
      expect(created.key).toMatchObject({ name: "2025 rotation", app_id: app.id, revoked_at: null });
      await expectStatus(await probe(app.id, created.service_key), 200);
      await expectStatus(await probe(app.id, app.serviceKey), 200);
      expect(t.logs.text).not.toContain(created.service_key);
    });

    it("a key of one app does not authenticate another app (404)", async () => {
      const ws = await createWorkspace(t);
      const first = await createTenantApp(t, ws);
      const second = await createTenantApp(t, ws);
      await expectError(await probe(second.id, first.serviceKey), 404, "NOT_FOUND");
    });

    it.each([
      ["a missing name", {}],
      ["an empty name", { name: "" }],
      ["a numeric name", { name: 42 }],
      ["an overlong name", { name: "k".repeat(201) }],
      ["an unknown field", { name: "x", app_id: "app_other" }],
      ["an empty body", ""],
    ])("rejects %s with 400 and creates nothing", async (_case, body) => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const response = await expectNoChange(t, () => t.call("POST", keysPath(ws, app), { token: ws.adminKey, body }));
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("answers 404 for an unknown app and another workspace's app, creating nothing", async () => {
      const ws = await createWorkspace(t);
      const theirs = await createTenantApp(t, await createWorkspace(t));
      for (const appId of ["app_nope", theirs.id]) {
        const response = await expectNoChange(t, () =>
          t.call("POST", keysPath(ws, appId), { token: ws.adminKey, body: { name: "sneaky" } }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
    });
  });

  describe("DELETE service-keys/{keyId}", () => {
    it("revokes one key: it gets 401 on service routes while the others keep working", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const replacement = await newKey(ws, app);
      const response = await t.call("DELETE", `${keysPath(ws, app)}/${app.serviceKeyId}`, { token: ws.adminKey });
      expect(response.status).toBe(204);
      await expectError(await probe(app.id, app.serviceKey), 401, "UNAUTHENTICATED");
      await expectStatus(await probe(app.id, replacement.service_key), 200);
      const list = await t.call("GET", keysPath(ws, app), { token: ws.adminKey });
      const keys = (await expectStatus<{ keys: ServiceKeyInfo[] }>(list, 200)).keys;
      expect(keys.find((k) => k.id === app.serviceKeyId)?.revoked_at).not.toBeNull();
    });

    it("may revoke the last key (the app then has none until a new one is created)", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      expect((await t.call("DELETE", `${keysPath(ws, app)}/${app.serviceKeyId}`, { token: ws.adminKey })).status).toBe(
        204,
      );
      await expectError(await probe(app.id, app.serviceKey), 401, "UNAUTHENTICATED");
    });

    it("is idempotent", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const path = `${keysPath(ws, app)}/${app.serviceKeyId}`;
      expect((await t.call("DELETE", path, { token: ws.adminKey })).status).toBe(204);
      const again = await expectNoChange(t, () => t.call("DELETE", path, { token: ws.adminKey }));
      expect(again.status).toBe(204);
    });

    it("answers 404 for an unknown key, a key of another app, and a key of another workspace, revoking nothing", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const sibling = await createTenantApp(t, ws);
      const other = await createWorkspace(t);
      const theirs = await createTenantApp(t, other);
      const attempts = [
        `${keysPath(ws, app)}/sk_nope`,
        `${keysPath(ws, app)}/${sibling.serviceKeyId}`,
        `${keysPath(ws, app)}/${theirs.serviceKeyId}`,
        `${keysPath(ws, theirs.id)}/${theirs.serviceKeyId}`,
      ];
      for (const path of attempts) {
        const response = await expectNoChange(t, () => t.call("DELETE", path, { token: ws.adminKey }));
        await expectError(response, 404, "NOT_FOUND");
      }
      await expectStatus(await probe(sibling.id, sibling.serviceKey), 200);
      await expectStatus(await probe(theirs.id, theirs.serviceKey), 200);
    });
  });
});
