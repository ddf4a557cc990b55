import type { CreateMemberResponse } from "@latchkey/contracts";
import { z } from "zod";
import { notFound } from "../errors/app-error.ts";
import { readJson } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { AccessDeps } from "../access/auth.ts";
import { workspaceAuth } from "../access/auth.ts";
import { addMember, changeMemberRole, findMember, listMembers, removeMember } from "./members.ts";
import {
  AdminApiKeyInfoSchema,
  bodyRouteErrors,
  EmailSchema,
  errorDocs,
  MemberSchema,
  RoleSchema,
} from "./wire-schemas.ts";

const AddMemberBody = z.strictObject({ email: EmailSchema, role: RoleSchema });
const ChangeRoleBody = z.strictObject({ role: RoleSchema });

const membersPath = "/api/workspaces/:workspaceId/members";
const memberPath = `${membersPath}/:memberId`;
const docsPath = "/api/workspaces/{workspaceId}/members";
const tag = "Members";

export function registerMemberRoutes({ app, deps, docs }: RouteContext<AccessDeps>): void {
  const readers = workspaceAuth(deps, "member");
  const admins = workspaceAuth(deps, "admin");

  app.get(membersPath, readers, async (c) => {
    return c.json({ members: await listMembers(deps.db, c.get("member").workspaceId) });
  });
  docs.add({
    method: "get",
    path: docsPath,
    summary: "List the workspace's members",
    tag,
    auth: "workspace",
    responses: {
      200: { description: "OK", schema: z.object({ members: z.array(MemberSchema) }) },
      ...errorDocs(401, 404),
    },
  });

  app.get(memberPath, readers, async (c) => {
    const member = await findMember(deps.db, c.get("member").workspaceId, c.req.param("memberId"));
    if (!member) throw notFound("Member");
    return c.json({ member });
  });
  docs.add({
    method: "get",
    path: `${docsPath}/{memberId}`,
    summary: "Get a member",
    tag,
    auth: "workspace",
    responses: { 200: { description: "OK", schema: z.object({ member: MemberSchema }) }, ...errorDocs(401, 404) },
  });

  app.post(membersPath, admins, async (c) => {
    const body = await readJson(c, AddMemberBody);
    const workspaceId = c.get("member").workspaceId;
    const added = await addMember(deps.db, { workspaceId, email: body.email, role: body.role, now: deps.clock.now() });
    c.get("log").info(
      { workspace_id: workspaceId, member_id: added.member.id, role: added.member.role },
      "member added",
    );
    const response: CreateMemberResponse = { member: added.member, api_key: added.key.apiKey, key: added.key.info };
    return c.json(response, 201);
  });
  docs.add({
    method: "post",
    path: docsPath,
    summary: "Add a member; returns their own API key once (admin)",
    tag,
    auth: "workspace",
    body: AddMemberBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ member: MemberSchema, api_key: z.string(), key: AdminApiKeyInfoSchema }),
      },
      ...errorDocs(...bodyRouteErrors, 403, 404, 409),
    },
  });

  app.patch(memberPath, admins, async (c) => {
    const body = await readJson(c, ChangeRoleBody);
    const workspaceId = c.get("member").workspaceId;
    const member = await changeMemberRole(deps.db, { workspaceId, memberId: c.req.param("memberId"), role: body.role });
    c.get("log").info({ workspace_id: workspaceId, member_id: member.id, role: member.role }, "member role changed");
    return c.json({ member });
  });
  docs.add({
    method: "patch",
    path: `${docsPath}/{memberId}`,
    summary: "Change a member's role; the last admin cannot be demoted (admin)",
    tag,
    auth: "workspace",
    body: ChangeRoleBody,
    responses: {
      200: { description: "OK", schema: z.object({ member: MemberSchema }) },
      ...errorDocs(...bodyRouteErrors, 403, 404, 409),
    },
  });

  app.delete(memberPath, admins, async (c) => {
    const workspaceId = c.get("member").workspaceId;
    const memberId = c.req.param("memberId");
    await removeMember(deps.db, { workspaceId, memberId });
    c.get("log").info({ workspace_id: workspaceId, member_id: memberId }, "member removed");
    return c.body(null, 204);
  });
  docs.add({
    method: "delete",
    path: `${docsPath}/{memberId}`,
    summary: "Remove a member and their API keys; the last admin cannot be removed (admin)",
    tag,
    auth: "workspace",
    responses: { 204: { description: "Removed" }, ...errorDocs(401, 403, 404, 409) },
  });
}
