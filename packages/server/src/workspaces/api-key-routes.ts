import type { CreateApiKeyResponse } from "@latchkey/contracts";
import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import { notFound } from "../errors/app-error.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import { adminApiKeys, revokeAdminApiKey } from "./admin-api-keys.ts";
import { findMember } from "./members.ts";
import { AdminApiKeyInfoSchema, NameSchema } from "./wire-schemas.ts";
import { recordAudit } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";
import { requestLog } from "../http/request-context.ts";

const CreateApiKeyBody = z.strictObject({
  name: NameSchema,
  member_id: z.string().min(1).max(100).optional().describe("The member the key belongs to; default: the caller"),
});

const keysPath = "/api/workspaces/{workspaceId}/api-keys";
const tag = "API keys";

/** Admin API keys: the bearer credentials of members for this API. Listed as metadata only. */
export function registerApiKeyRoutes(ctx: RouteContext<AccessDeps>): void {
  const { deps } = ctx;
  const { forMembers, forAdmins } = workspaceRoutes(ctx, tag);

  forMembers({
    method: "get",
    path: keysPath,
    summary: "List the workspace's API keys (metadata only, never the keys)",
    responses: { 200: { description: "OK", schema: z.object({ keys: z.array(AdminApiKeyInfoSchema) }) } },
    handler: async (c) =>
      c.json({ keys: await adminApiKeys.list(deps.db, { workspaceId: c.get("member").workspaceId }) }),
  });

  forAdmins({
    method: "post",
    path: keysPath,
    summary: "Create an API key for a member (default: the caller); the key is returned once (admin)",
    body: CreateApiKeyBody,
    responses: {
      201: { description: "Created", schema: z.object({ api_key: z.string(), key: AdminApiKeyInfoSchema }) },
    },
    handler: async (c, { body }) => {
      const caller = c.get("member");
      const memberId = body.member_id ?? caller.memberId;
      if (!(await findMember(deps.db, caller.workspaceId, memberId))) throw notFound("Member");
      const issued = await adminApiKeys.issue(deps.db, {
        workspaceId: caller.workspaceId,
        ownerId: memberId,
        name: body.name,
        now: deps.clock.now(),
      });
      requestLog(c).info(
        { workspace_id: caller.workspaceId, key_id: issued.info.id, member_id: memberId },
        "api key created",
      );
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "api_key.created",
        target: issued.info.id,
        data: { member_id: memberId, name: issued.info.name, prefix: issued.info.prefix },
      });
      const response: CreateApiKeyResponse = { api_key: issued.key, key: issued.info };
      return c.json(response, 201);
    },
  });

  forAdmins({
    method: "delete",
    path: `${keysPath}/{keyId}`,
    summary: "Revoke an API key; the last active key of the last admins cannot be revoked (admin)",
    responses: { 204: { description: "Revoked" } },
    errors: ["CONFLICT"],
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const keyId = c.req.param("keyId") ?? "";
      if (!(await revokeAdminApiKey(deps.db, { workspaceId, keyId, now: deps.clock.now() }))) {
        throw notFound("API key");
      }
      requestLog(c).info({ workspace_id: workspaceId, key_id: keyId }, "api key revoked");
      await recordAudit(deps, { ...memberOrigin(c), action: "api_key.revoked", target: keyId });
      return c.body(null, 204);
    },
  });
}
