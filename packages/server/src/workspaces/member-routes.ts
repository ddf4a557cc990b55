import type { CreateMemberResponse } from "@latchkey/contracts";
import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import { notFound } from "../errors/app-error.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import { addMember, changeMemberRole, findMember, listMembers, removeMember } from "./members.ts";
import { AdminApiKeyInfoSchema, EmailSchema, MemberSchema, RoleSchema } from "./wire-schemas.ts";
import { recordAudit } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";
import { requestLog } from "../http/request-context.ts";

const AddMemberBody = z.strictObject({ email: EmailSchema, role: RoleSchema });
const ChangeRoleBody = z.strictObject({ role: RoleSchema });

const membersPath = "/api/workspaces/{workspaceId}/members";
const memberPath = `${membersPath}/{memberId}`;
const tag = "Members";

export function registerMemberRoutes(ctx: RouteContext<AccessDeps>): void {
  const { deps } = ctx;
  const { forMembers, forAdmins } = workspaceRoutes(ctx, tag);

  forMembers({
    method: "get",
    path: membersPath,
    summary: "List the workspace's members",
    responses: { 200: { description: "OK", schema: z.object({ members: z.array(MemberSchema) }) } },
    handler: async (c) => c.json({ members: await listMembers(deps.db, c.get("member").workspaceId) }),
  });

  forMembers({
    method: "get",
    path: memberPath,
    summary: "Get a member",
    responses: { 200: { description: "OK", schema: z.object({ member: MemberSchema }) } },
    handler: async (c) => {
      const member = await findMember(deps.db, c.get("member").workspaceId, c.req.param("memberId") ?? "");
      if (!member) throw notFound("Member");
      return c.json({ member });
    },
  });

  forAdmins({
    method: "post",
    path: membersPath,
    summary: "Add a member; returns their own API key once (admin)",
    body: AddMemberBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ member: MemberSchema, api_key: z.string(), key: AdminApiKeyInfoSchema }),
      },
    },
    errors: ["CONFLICT"],
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const added = await addMember(deps.db, {
        workspaceId,
        email: body.email,
        role: body.role,
        now: deps.clock.now(),
      });
      requestLog(c).info(
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

  forAdmins({
    method: "patch",
    path: memberPath,
    summary: "Change a member's role; the last admin cannot be demoted (admin)",
    body: ChangeRoleBody,
    responses: { 200: { description: "OK", schema: z.object({ member: MemberSchema }) } },
    errors: ["CONFLICT"],
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const member = await changeMemberRole(deps.db, {
        workspaceId,
        memberId: c.req.param("memberId") ?? "",
        role: body.role,
      });
      requestLog(c).info({ workspace_id: workspaceId, member_id: member.id, role: member.role }, "member role changed");
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "member.role_changed",
        target: member.id,
        data: { role: member.role },
      });
      return c.json({ member });
    },
  });

  forAdmins({
    method: "delete",
    path: memberPath,
    summary: "Remove a member and their API keys; the last admin cannot be removed (admin)",
    responses: { 204: { description: "Removed" } },
    errors: ["CONFLICT"],
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const memberId = c.req.param("memberId") ?? "";
      await removeMember(deps.db, { workspaceId, memberId });
      requestLog(c).info({ workspace_id: workspaceId, member_id: memberId }, "member removed");
      await recordAudit(deps, { ...memberOrigin(c), action: "member.removed", target: memberId });
      return c.body(null, 204);
    },
  });
}
