import type { CreateWorkspaceResponse, Workspace } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, testOperatorKey } from "../../test/support/test-app.ts";
import {
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  uniqueEmail,
  type Harness,
} from "../../test/support/tenants.ts";

describe("operator API", { timeout: 30_000 }, () => {
  let t: Harness;
  beforeAll(async () => {
    t = await createTestApp();
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  describe("POST /api/operator/workspaces", () => {
    it("creates a workspace, its admin and an admin API key that works on the workspace API", async () => {
      const email = uniqueEmail("Founder").toUpperCase();
      const response = await t.call("POST", "/api/operator/workspaces", {
        token: testOperatorKey,
        body: { name: "  Acme  ", plan: "pro", admin_email: email },
      });
      const body = await expectStatus<CreateWorkspaceResponse>(response, 201);
      expect(body.workspace).toMatchObject({ name: "Acme", plan: "pro" });
      expect(body.admin).toMatchObject({ email: email.toLowerCase(), role: "admin", workspace_id: body.workspace.id });
      expect(body.admin_api_key).toMatch(/^lk_admin_/);

      const own = await t.call("GET", `/api/workspaces/${body.workspace.id}`, { token: body.admin_api_key });
      expect((await expectStatus<{ workspace: Workspace }>(own, 200)).workspace).toEqual(body.workspace);
      const keyRow = await t.deps.db
        .selectFrom("admin_api_keys")
        .selectAll()
        .where("member_id", "=", body.admin.id)
        .executeTakeFirstOrThrow();
      expect(keyRow.key_hash).not.toContain(body.admin_api_key);
      expect(t.logs.text).not.toContain(body.admin_api_key);
    });

    it.each([
      ["a missing name", { plan: "free", admin_email: "a@example.com" }],
      ["an empty name", { name: "   ", plan: "free", admin_email: "a@example.com" }],
      ["a numeric name", { name: 7, plan: "free", admin_email: "a@example.com" }],
      ["an overlong name", { name: "x".repeat(201), plan: "free", admin_email: "a@example.com" }],
      ["a missing plan", { name: "Acme", admin_email: "a@example.com" }],
      ["an unknown plan", { name: "Acme", plan: "platinum", admin_email: "a@example.com" }],
      ["an uppercase plan", { name: "Acme", plan: "FREE", admin_email: "a@example.com" }],
      ["a missing admin_email", { name: "Acme", plan: "free" }],
      ["an invalid admin_email", { name: "Acme", plan: "free", admin_email: "not-an-email" }],
      ["an unknown field", { name: "Acme", plan: "free", admin_email: "a@example.com", owner: "x" }],
      ["an array body", [{ name: "Acme", plan: "free", admin_email: "a@example.com" }]],
      ["an empty body", ""],
    ])("rejects %s with 400 and creates nothing", async (_case, body) => {
      const response = await expectNoChange(t, () =>
        t.call("POST", "/api/operator/workspaces", { token: testOperatorKey, body }),
      );
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("rejects malformed JSON with 400", async () => {
      const response = await expectNoChange(t, () =>
        t.call("POST", "/api/operator/workspaces", { token: testOperatorKey, body: '{"name": "Acme",' }),
      );
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("rejects a non-JSON content type with 415", async () => {
      const response = await expectNoChange(t, () =>
        t.call("POST", "/api/operator/workspaces", {
          token: testOperatorKey,
          body: "name=Acme",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }),
      );
      await expectError(response, 415, "UNSUPPORTED_MEDIA_TYPE");
    });
  });

  describe("GET /api/operator/workspaces", () => {
    it("lists the workspaces without any key", async () => {
      const ws = await createWorkspace(t, "starter");
      const response = await t.call("GET", "/api/operator/workspaces", { token: testOperatorKey });
      const body = await expectStatus<{ workspaces: Workspace[] }>(response, 200);
      expect(body.workspaces.find((w) => w.id === ws.id)).toMatchObject({ id: ws.id, plan: "starter" });
      expect(JSON.stringify(body)).not.toContain(ws.adminKey);
      expect(JSON.stringify(body)).not.toMatch(/lk_admin_|key_hash/);
    });
  });

  describe("GET /api/operator/workspaces/{workspaceId}", () => {
    it("gets one workspace", async () => {
      const ws = await createWorkspace(t, "free");
      const response = await t.call("GET", `/api/operator/workspaces/${ws.id}`, { token: testOperatorKey });
      expect((await expectStatus<{ workspace: Workspace }>(response, 200)).workspace).toMatchObject({
        id: ws.id,
        plan: "free",
      });
    });

    it("answers 404 for an unknown workspace", async () => {
      await expectError(
        await t.call("GET", "/api/operator/workspaces/ws_nope", { token: testOperatorKey }),
        404,
        "NOT_FOUND",
      );
    });
  });

  describe("PATCH /api/operator/workspaces/{workspaceId}", () => {
    it("changes the plan and bumps updated_at", async () => {
      const ws = await createWorkspace(t, "free");
      const before = await t.deps.db
        .selectFrom("workspaces")
        .selectAll()
        .where("id", "=", ws.id)
        .executeTakeFirstOrThrow();
      await new Promise((resolve) => setTimeout(resolve, 5));
      const response = await t.call("PATCH", `/api/operator/workspaces/${ws.id}`, {
        token: testOperatorKey,
        body: { plan: "enterprise" },
      });
      const body = await expectStatus<{ workspace: Workspace }>(response, 200);
      expect(body.workspace).toMatchObject({ id: ws.id, plan: "enterprise", name: "Acme" });
      expect(new Date(body.workspace.updated_at).getTime()).toBeGreaterThan(before.updated_at.getTime());
      const row = await t.deps.db
        .selectFrom("workspaces")
        .selectAll()
        .where("id", "=", ws.id)
        .executeTakeFirstOrThrow();
      expect(row.plan).toBe("enterprise");
    });

    it("changes the name", async () => {
      const ws = await createWorkspace(t);
      const response = await t.call("PATCH", `/api/operator/workspaces/${ws.id}`, {
        token: testOperatorKey,
        body: { name: "Renamed" },
      });
      expect((await expectStatus<{ workspace: Workspace }>(response, 200)).workspace).toMatchObject({
        name: "Renamed",
        plan: "builder",
      });
    });

    it.each([
      ["an empty body", ""],
      ["an empty object", {}],
      ["an unknown plan", { plan: "gold" }],
      ["a null plan", { plan: null }],
      ["a numeric plan", { plan: 3 }],
      ["an empty name", { name: "" }],
      ["an unknown field", { plan: "pro", admin_email: "x@example.com" }],
    ])("rejects %s with 400 and changes nothing", async (_case, body) => {
      const ws = await createWorkspace(t);
      const response = await expectNoChange(t, () =>
        t.call("PATCH", `/api/operator/workspaces/${ws.id}`, { token: testOperatorKey, body }),
      );
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("answers 404 for an unknown workspace and changes nothing", async () => {
      const response = await expectNoChange(t, () =>
        t.call("PATCH", "/api/operator/workspaces/ws_nope", { token: testOperatorKey, body: { plan: "pro" } }),
      );
      await expectError(response, 404, "NOT_FOUND");
    });
  });
});
