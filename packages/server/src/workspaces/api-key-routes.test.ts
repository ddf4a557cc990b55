import type { AdminApiKeyInfo, CreateApiKeyResponse } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import {
  addMember,
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  type Harness,
  type TestWorkspace,
} from "../../test/support/tenants.ts";

describe("workspace API keys", { timeout: 30_000 }, () => {
  let t: Harness;
  beforeAll(async () => {
    t = await createTestApp();
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  const keysPath = (ws: TestWorkspace) => `/api/workspaces/${ws.id}/api-keys`;

  async function listKeys(ws: TestWorkspace): Promise<AdminApiKeyInfo[]> {
    const response = await t.call("GET", keysPath(ws), { token: ws.adminKey });
    return (await expectStatus<{ keys: AdminApiKeyInfo[] }>(response, 200)).keys;
  }

  describe("GET api-keys", () => {
    it("lists metadata only: no key, no hash; last use is recorded", async () => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      const response = await t.call("GET", keysPath(ws), { token: member.key });
      const body = await expectStatus<{ keys: AdminApiKeyInfo[] }>(response, 200);
      expect(body.keys).toHaveLength(2);
      for (const key of body.keys) {
        expect(Object.keys(key).sort()).toEqual(
          ["created_at", "id", "last_used_at", "member_id", "name", "prefix", "revoked_at"].sort(),
        );
      }
      const text = JSON.stringify(body);
      expect(text).not.toContain(ws.adminKey);
      expect(text).not.toContain(member.key);
      const hashes = await t.deps.db
        .selectFrom("admin_api_keys")
        .select("key_hash")
        .where("workspace_id", "=", ws.id)
        .execute();
      for (const { key_hash } of hashes) expect(text).not.toContain(key_hash);
      const memberKey = body.keys.find((k) => k.member_id === member.id);
      expect(memberKey?.last_used_at).not.toBeNull();
    });
  });

  describe("POST api-keys", () => {
    it("creates a key for the caller by default, returned once and working at once", async () => {
      const ws = await createWorkspace(t);
      const response = await t.call("POST", keysPath(ws), { token: ws.adminKey, body: { name: "CI deploys" } });
      const body = await expectStatus<CreateApiKeyResponse>(response, 201);
      expect(body.api_key).toMatch(/^lk_admin_/);
      expect(body.key).toMatchObject({
        name: "CI deploys",
        member_id: ws.adminMemberId,
        revoked_at: null,
        last_used_at: null,
      });
      await expectStatus(await t.call("GET", `/api/workspaces/${ws.id}`, { token: body.api_key }), 200);
      expect(JSON.stringify(await listKeys(ws))).not.toContain(body.api_key);
      expect(t.logs.text).not.toContain(body.api_key);
    });

    it("creates a key for another member, carrying that member's role", async () => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      const response = await t.call("POST", keysPath(ws), {
        token: ws.adminKey,
        body: { name: "laptop", member_id: member.id },
      });
      const body = await expectStatus<CreateApiKeyResponse>(response, 201);
      expect(body.key.member_id).toBe(member.id);
      await expectError(
        await t.call("POST", keysPath(ws), { token: body.api_key, body: { name: "escalate" } }),
        403,
        "FORBIDDEN",
      );
    });

    it("answers 404 for an unknown member_id or a member of another workspace, creating nothing", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      for (const memberId of ["mem_nope", other.adminMemberId]) {
        const response = await expectNoChange(t, () =>
          t.call("POST", keysPath(ws), { token: ws.adminKey, body: { name: "x", member_id: memberId } }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
    });

    it.each([
      ["a missing name", {}],
      ["an empty name", { name: "" }],
      ["a numeric name", { name: 5 }],
      ["an overlong name", { name: "n".repeat(201) }],
      ["a numeric member_id", { name: "x", member_id: 5 }],
      ["an empty member_id", { name: "x", member_id: "" }],
      ["an unknown field", { name: "x", role: "admin" }],
      ["an empty body", ""],
    ])("rejects %s with 400 and creates nothing", async (_case, body) => {
      const ws = await createWorkspace(t);
      const response = await expectNoChange(t, () => t.call("POST", keysPath(ws), { token: ws.adminKey, body }));
      await expectError(response, 400, "INVALID_REQUEST");
    });
  });

  describe("DELETE api-keys/{keyId}", () => {
    it("revokes a key: it gets 401 afterwards and is listed as revoked", async () => {
      const ws = await createWorkspace(t);
      const created = await expectStatus<CreateApiKeyResponse>(
        await t.call("POST", keysPath(ws), { token: ws.adminKey, body: { name: "temp" } }),
        201,
      );
      const response = await t.call("DELETE", `${keysPath(ws)}/${created.key.id}`, { token: ws.adminKey });
      expect(response.status).toBe(204);
      await expectError(
        await t.call("GET", `/api/workspaces/${ws.id}`, { token: created.api_key }),
        401,
        "UNAUTHENTICATED",
      );
      const listed = (await listKeys(ws)).find((k) => k.id === created.key.id);
      expect(listed?.revoked_at).not.toBeNull();
    });

    it("is idempotent: revoking again answers 204 and keeps the first revocation time", async () => {
      const ws = await createWorkspace(t);
      const created = await expectStatus<CreateApiKeyResponse>(
        await t.call("POST", keysPath(ws), { token: ws.adminKey, body: { name: "temp" } }),
        201,
      );
      expect((await t.call("DELETE", `${keysPath(ws)}/${created.key.id}`, { token: ws.adminKey })).status).toBe(204);
      const again = await expectNoChange(t, () =>
        t.call("DELETE", `${keysPath(ws)}/${created.key.id}`, { token: ws.adminKey }),
      );
      expect(again.status).toBe(204);
    });

    it("lets an admin revoke the key they are using when they have another", async () => {
      const ws = await createWorkspace(t);
      const spare = await expectStatus<CreateApiKeyResponse>(
        await t.call("POST", keysPath(ws), { token: ws.adminKey, body: { name: "spare" } }),
        201,
      );
      const current = (await listKeys(ws)).find((k) => k.name === "initial admin key");
      expect((await t.call("DELETE", `${keysPath(ws)}/${current?.id}`, { token: ws.adminKey })).status).toBe(204);
      await expectError(await t.call("GET", keysPath(ws), { token: ws.adminKey }), 401, "UNAUTHENTICATED");
      await expectStatus(await t.call("GET", keysPath(ws), { token: spare.api_key }), 200);
    });

    it("refuses to revoke the last active key of the last admin (409): the workspace would be locked out", async () => {
      const ws = await createWorkspace(t);
      await addMember(t, ws, "member");
      const adminKey = (await listKeys(ws)).find((k) => k.member_id === ws.adminMemberId);
      const response = await expectNoChange(t, () =>
        t.call("DELETE", `${keysPath(ws)}/${adminKey?.id}`, { token: ws.adminKey }),
      );
      await expectError(response, 409, "CONFLICT");
      await expectStatus(await t.call("GET", keysPath(ws), { token: ws.adminKey }), 200);
    });

    it("answers 404 for an unknown key and for a key of another workspace, revoking nothing", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      const otherKey = (await listKeys(other))[0];
      for (const keyId of ["key_nope", otherKey?.id ?? ""]) {
        const response = await expectNoChange(t, () =>
          t.call("DELETE", `${keysPath(ws)}/${keyId}`, { token: ws.adminKey }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
      await expectStatus(await t.call("GET", keysPath(other), { token: other.adminKey }), 200);
    });
  });
});
