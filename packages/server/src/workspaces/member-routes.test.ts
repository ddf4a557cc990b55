import type { AdminApiKeyInfo, CreateMemberResponse, Member } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import {
  addMember,
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  uniqueEmail,
  type Harness,
  type TestWorkspace,
} from "../../test/support/tenants.ts";

describe("workspace members", { timeout: 30_000 }, () => {
  let t: Harness;
  beforeAll(async () => {
    t = await createTestApp();
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  const membersPath = (ws: TestWorkspace) => `/api/workspaces/${ws.id}/members`;

  describe("GET members", () => {
    it("lists the members to any member", async () => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      const response = await t.call("GET", membersPath(ws), { token: member.key });
      const body = await expectStatus<{ members: Member[] }>(response, 200);
      expect(body.members.map((m) => [m.id, m.role])).toEqual([
        [ws.adminMemberId, "admin"],
        [member.id, "member"],
      ]);
      expect(JSON.stringify(body)).not.toMatch(/lk_admin_|key_hash/);
    });

    it("gets one member, and 404 for an unknown one or one of another workspace", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      const got = await t.call("GET", `${membersPath(ws)}/${ws.adminMemberId}`, { token: ws.adminKey });
      expect((await expectStatus<{ member: Member }>(got, 200)).member.id).toBe(ws.adminMemberId);
      await expectError(await t.call("GET", `${membersPath(ws)}/mem_nope`, { token: ws.adminKey }), 404, "NOT_FOUND");
      await expectError(
        await t.call("GET", `${membersPath(ws)}/${other.adminMemberId}`, { token: ws.adminKey }),
        404,
        "NOT_FOUND",
      );
    });
  });

  describe("POST members", () => {
    it("adds a member with an API key of their own, shown once, that works with the member's role", async () => {
      const ws = await createWorkspace(t);
      const email = uniqueEmail("Newcomer");
      const response = await t.call("POST", membersPath(ws), { token: ws.adminKey, body: { email, role: "member" } });
      const body = await expectStatus<CreateMemberResponse>(response, 201);
      expect(body.member).toMatchObject({ email: email.toLowerCase(), role: "member", workspace_id: ws.id });
      expect(body.api_key).toMatch(/^lk_admin_/);
      expect(body.key).toMatchObject({ member_id: body.member.id, revoked_at: null });
      expect(body.api_key.startsWith(body.key.prefix)).toBe(true);

      await expectStatus(await t.call("GET", `/api/workspaces/${ws.id}/apps`, { token: body.api_key }), 200);
      await expectError(
        await t.call("POST", `/api/workspaces/${ws.id}/api-keys`, { token: body.api_key, body: { name: "x" } }),
        403,
        "FORBIDDEN",
      );
      const keys = await expectStatus<{ keys: AdminApiKeyInfo[] }>(
        await t.call("GET", `/api/workspaces/${ws.id}/api-keys`, { token: ws.adminKey }),
        200,
      );
      expect(JSON.stringify(keys)).not.toContain(body.api_key);
      expect(t.logs.text).not.toContain(body.api_key);
    });

    it("adds an admin who can then administer", async () => {
      const ws = await createWorkspace(t);
      const admin = await addMember(t, ws, "admin");
      await expectStatus(
        await t.call("POST", membersPath(ws), { token: admin.key, body: { email: uniqueEmail(), role: "member" } }),
        201,
      );
    });

    it("refuses a duplicate email, compared case-insensitively, with 409", async () => {
      const ws = await createWorkspace(t);
      const email = uniqueEmail("dup");
      await expectStatus(
        await t.call("POST", membersPath(ws), { token: ws.adminKey, body: { email, role: "member" } }),
        201,
      );
      const response = await expectNoChange(t, () =>
        t.call("POST", membersPath(ws), {
          token: ws.adminKey,
          body: { email: ` ${email.toUpperCase()} `, role: "admin" },
        }),
      );
      await expectError(response, 409, "CONFLICT");
    });

    it("allows the same email in two workspaces", async () => {
      const email = uniqueEmail("both");
      for (const ws of [await createWorkspace(t), await createWorkspace(t)]) {
        await expectStatus(
          await t.call("POST", membersPath(ws), { token: ws.adminKey, body: { email, role: "member" } }),
          201,
        );
      }
    });

    it("adds concurrent requests for one email exactly once", async () => {
      const ws = await createWorkspace(t);
      const email = uniqueEmail("race");
      const responses = await Promise.all(
        [1, 2, 3, 4].map(() =>
          t.call("POST", membersPath(ws), { token: ws.adminKey, body: { email, role: "member" } }),
        ),
      );
      expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
      const rows = await t.deps.db.selectFrom("members").select("id").where("email", "=", email).execute();
      expect(rows).toHaveLength(1);
    });

    it.each([
      ["a missing email", { role: "member" }],
      ["an invalid email", { email: "nobody", role: "member" }],
      ["a numeric email", { email: 12, role: "member" }],
      ["a missing role", { email: "a@example.com" }],
      ["an unknown role", { email: "a@example.com", role: "owner" }],
      ["a null role", { email: "a@example.com", role: null }],
      ["an unknown field", { email: "a@example.com", role: "member", workspace_id: "ws_other" }],
      ["an empty body", ""],
    ])("rejects %s with 400 and adds nobody", async (_case, body) => {
      const ws = await createWorkspace(t);
      const response = await expectNoChange(t, () => t.call("POST", membersPath(ws), { token: ws.adminKey, body }));
      await expectError(response, 400, "INVALID_REQUEST");
    });
  });

  describe("PATCH members/{memberId}", () => {
    it("promotes a member to admin and demotes an admin when another admin remains", async () => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      const promoted = await t.call("PATCH", `${membersPath(ws)}/${member.id}`, {
        token: ws.adminKey,
        body: { role: "admin" },
      });
      expect((await expectStatus<{ member: Member }>(promoted, 200)).member.role).toBe("admin");
      await expectStatus(
        await t.call("POST", membersPath(ws), { token: member.key, body: { email: uniqueEmail(), role: "member" } }),
        201,
      );

      const demoted = await t.call("PATCH", `${membersPath(ws)}/${ws.adminMemberId}`, {
        token: member.key,
        body: { role: "member" },
      });
      expect((await expectStatus<{ member: Member }>(demoted, 200)).member.role).toBe("member");
      await expectError(
        await t.call("POST", membersPath(ws), { token: ws.adminKey, body: { email: uniqueEmail(), role: "member" } }),
        403,
        "FORBIDDEN",
      );
    });

    it("never demotes the last admin (409), even the caller themselves", async () => {
      const ws = await createWorkspace(t);
      await addMember(t, ws, "member");
      const response = await expectNoChange(t, () =>
        t.call("PATCH", `${membersPath(ws)}/${ws.adminMemberId}`, { token: ws.adminKey, body: { role: "member" } }),
      );
      await expectError(response, 409, "CONFLICT");
    });

    it("lets exactly one of two admins demote the other when both try at once", async () => {
      const ws = await createWorkspace(t);
      const second = await addMember(t, ws, "admin");
      const responses = await Promise.all([
        t.call("PATCH", `${membersPath(ws)}/${second.id}`, { token: ws.adminKey, body: { role: "member" } }),
        t.call("PATCH", `${membersPath(ws)}/${ws.adminMemberId}`, { token: second.key, body: { role: "member" } }),
      ]);
      const statuses = responses.map((r) => r.status);
      // Either one demotion wins (200 + 409), or the second request found its caller already demoted (403).
      expect(statuses).toContain(200);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      const admins = await t.deps.db
        .selectFrom("members")
        .select("id")
        .where("workspace_id", "=", ws.id)
        .where("role", "=", "admin")
        .execute();
      expect(admins).toHaveLength(1);
    });

    it.each([
      ["an unknown role", { role: "owner" }],
      ["a missing role", {}],
      ["an empty body", ""],
      ["a numeric role", { role: 1 }],
      ["an email change", { role: "member", email: "new@example.com" }],
    ])("rejects %s with 400 and changes nothing", async (_case, body) => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      const response = await expectNoChange(t, () =>
        t.call("PATCH", `${membersPath(ws)}/${member.id}`, { token: ws.adminKey, body }),
      );
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("answers 404 for an unknown member and for a member of another workspace, changing nothing", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      const otherMember = await addMember(t, other, "member");
      for (const memberId of ["mem_nope", otherMember.id, other.adminMemberId]) {
        const response = await expectNoChange(t, () =>
          t.call("PATCH", `${membersPath(ws)}/${memberId}`, { token: ws.adminKey, body: { role: "admin" } }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
    });
  });

  describe("DELETE members/{memberId}", () => {
    it("removes a member, whose API keys stop working", async () => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      await expectStatus(await t.call("GET", membersPath(ws), { token: member.key }), 200);
      const response = await t.call("DELETE", `${membersPath(ws)}/${member.id}`, { token: ws.adminKey });
      expect(response.status).toBe(204);
      expect(await response.text()).toBe("");
      await expectError(await t.call("GET", membersPath(ws), { token: member.key }), 401, "UNAUTHENTICATED");
      const keys = await t.deps.db
        .selectFrom("admin_api_keys")
        .select("id")
        .where("member_id", "=", member.id)
        .execute();
      expect(keys).toEqual([]);
    });

    it("accepts the empty JSON body the Base44 SDK sends on DELETE", async () => {
      const ws = await createWorkspace(t);
      const member = await addMember(t, ws, "member");
      const response = await t.call("DELETE", `${membersPath(ws)}/${member.id}`, {
        token: ws.adminKey,
        headers: { "content-type": "application/json" },
      });
      expect(response.status).toBe(204);
    });

    it("never removes the last admin (409)", async () => {
      const ws = await createWorkspace(t);
      await addMember(t, ws, "member");
      const response = await expectNoChange(t, () =>
        t.call("DELETE", `${membersPath(ws)}/${ws.adminMemberId}`, { token: ws.adminKey }),
      );
      await expectError(response, 409, "CONFLICT");
    });

    it("removes an admin while another admin with a key remains", async () => {
      const ws = await createWorkspace(t);
      const second = await addMember(t, ws, "admin");
      expect((await t.call("DELETE", `${membersPath(ws)}/${ws.adminMemberId}`, { token: second.key })).status).toBe(
        204,
      );
    });

    it("refuses to remove the only admin holding an active key (409)", async () => {
      const ws = await createWorkspace(t);
      const second = await addMember(t, ws, "admin");
      const secondKeys = await t.deps.db
        .selectFrom("admin_api_keys")
        .select("id")
        .where("member_id", "=", second.id)
        .execute();
      await t.deps.db
        .updateTable("admin_api_keys")
        .set({ revoked_at: new Date() })
        .where("member_id", "=", second.id)
        .execute();
      expect(secondKeys).toHaveLength(1);
      const response = await expectNoChange(t, () =>
        t.call("DELETE", `${membersPath(ws)}/${ws.adminMemberId}`, { token: ws.adminKey }),
      );
      const body = await expectError(response, 409, "CONFLICT");
      expect(body.error.message).toContain("active API key");
    });

    it("answers 404 for an unknown member and for a member of another workspace, deleting nothing", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      const otherMember = await addMember(t, other, "member");
      for (const memberId of ["mem_nope", otherMember.id]) {
        const response = await expectNoChange(t, () =>
          t.call("DELETE", `${membersPath(ws)}/${memberId}`, { token: ws.adminKey }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
    });
  });
});
