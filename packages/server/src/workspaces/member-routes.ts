import type { CreateMemberResponse } from "@latchkey/contracts";
import { z } from "zod";
import { type AccessDeps, workspaceAuth } from "../access/auth.ts";
import { notFound } from "../errors/app-error.ts";
import { defineRoute } from "../http/define-route.ts";
import type { RouteContext } from "../http/route-context.ts";
import { addMember, changeMemberRole, findMember, listMembers, removeMember } from "./members.ts";
import { AdminApiKeyInfoSchema, EmailSchema, MemberSchema, RoleSchema } from "./wire-schemas.ts";
import { recordAudit } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";

const AddMemberBody = z.strictObject({ email: EmailSchema, role: RoleSchema });
const ChangeRoleBody = z.strictObject({ role: RoleSchema });

const membersPath = "/api/workspaces/{workspaceId}/members";
const memberPath = `${membersPath}/{memberId}`;
const tag = "Members";

export function registerMemberRoutes(ctx: RouteContext<AccessDeps>): void {
  const { deps } = ctx;
  const readers = [workspaceAuth(deps, "member")];
  const admins = [workspaceAuth(deps, "admin")];

  defineRoute(ctx, {
    method: "get",
    path: membersPath,
    summary: "List the workspace's members",
    tag,
    auth: "workspace",
    use: readers,
    responses: { 200: { description: "OK", schema: z.object({ members: z.array(MemberSchema) }) } },
    errors: ["NOT_FOUND"],
    handler: async (c) => c.json({ members: await listMembers(deps.db, c.get("member").workspaceId) }),
  });

  defineRoute(ctx, {
    method: "get",
    path: memberPath,
    summary: "Get a member",
    tag,
    auth: "workspace",
    use: readers,
    responses: { 200: { description: "OK", schema: z.object({ member: MemberSchema }) } },
    errors: ["NOT_FOUND"],
    handler: async (c) => {
      const member = await findMember(deps.db, c.get("member").workspaceId, c.req.param("memberId") ?? "");
      if (!member) throw notFound("Member");
      return c.json({ member });
    },
  });

  defineRoute(ctx, {
    method: "post",
    path: membersPath,
    summary: "Add a member; returns their own API key once (admin)",
    tag,
    auth: "workspace",
    use: admins,
    body: AddMemberBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ member: MemberSchema, api_key: z.string(), key: AdminApiKeyInfoSchema }),
      },
    },
    errors: ["FORBIDDEN", "NOT_FOUND", "CONFLICT"],
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const added = await addMember(deps.db, {
        workspaceId,
        email: body.email,
        role: body.role,
        now: deps.clock.now(),
      });
      c.get("log").info(
        { workspace_id: workspaceId, member_id: added.member.id, role: added.member.role },
        "member added",
      );
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "member.added",
        target: added.member.id,
        data: { email: added.member.email, role: added.member.role },
      });
      const response: CreateMemberResponse = { member: added.member, api_key: added.key.key, key: added.key.info };
      return c.json(response, 201);
    },
  });

  defineRoute(ctx, {
    method: "patch",
    path: memberPath,
    summary: "Change a member's role; the last admin cannot be demoted (admin)",
    tag,
    auth: "workspace",
    use: admins,
    body: ChangeRoleBody,
    responses: { 200: { description: "OK", schema: z.object({ member: MemberSchema }) } },
    errors: ["FORBIDDEN", "NOT_FOUND", "CONFLICT"],
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const member = await changeMemberRole(deps.db, {
        workspaceId,
        memberId: c.req.param("memberId") ?? "",
        role: body.role,
      });
      c.get("log").info({ workspace_id: workspaceId, member_id: member.id, role: member.role }, "member role changed");
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "member.role_changed",
        target: member.id,
        data: { role: member.role },
      });
      return c.json({ member });
    },
  });

  defineRoute(ctx, {
    method: "delete",
    path: memberPath,
    summary: "Remove a member and their API keys; the last admin cannot be removed (admin)",
    tag,
    auth: "workspace",
    use: admins,
    responses: { 204: { description: "Removed" } },
    errors: ["FORBIDDEN", "NOT_FOUND", "CONFLICT"],
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const memberId = c.req.param("memberId") ?? "";
      await removeMember(deps.db, { workspaceId, memberId });
      c.get("log").info({ workspace_id: workspaceId, member_id: memberId }, "member removed");
      await recordAudit(deps, { ...memberOrigin(c), action: "member.removed", target: memberId });
      return c.body(null, 204);
    },
  });
}
