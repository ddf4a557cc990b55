import { decodeJwt } from "jose";
import { z } from "zod";
import type { UserAccessDeps } from "../access/auth.ts";
import { requireAppRow } from "../apps/apps.ts";
import type { Config } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import { inviteMember } from "../workspaces/members.ts";
import { EmailSchema, MemberSchema, RoleSchema } from "../workspaces/wire-schemas.ts";
import { createSetupLink, issueSetupLink } from "./setup-links.ts";
import { requestLog } from "../http/request-context.ts";

const InviteBody = z.strictObject({ email: EmailSchema, role: RoleSchema });
const TestTokenBody = z.strictObject({ token: z.string().trim().min(1).max(16_384) });

const setupLinkFields = {
  setup_url: z.string().describe("One-time link to /console/setup; the token is in the fragment"),
  expires_at: z.string(),
};
const TokenTestSchema = z.union([
  z.object({ valid: z.literal(true), user_id: z.string(), expires_at: z.string().nullable() }),
  z.object({ valid: z.literal(false), code: z.string(), reason: z.string() }),
]);

const tag = "Console";

export interface ConsoleWorkspaceDeps extends UserAccessDeps {
  config: Pick<Config, "operatorKey" | "serviceKeyCacheMs" | "publicUrl">;
}

/** Workspace routes the console needs beyond the plain API: invitations, setup links, token tests. */
export function registerConsoleWorkspaceRoutes(ctx: RouteContext<ConsoleWorkspaceDeps>): void {
  const { deps } = ctx;
  const { forAdmins } = workspaceRoutes(ctx, tag);

  forAdmins({
    method: "post",
    path: "/api/workspaces/{workspaceId}/invitations",
    summary: "Invite a member: adds them (without an API key) and returns a one-time console setup link (admin)",
    body: InviteBody,
    responses: { 201: { description: "Invited", schema: z.object({ member: MemberSchema, ...setupLinkFields }) } },
    errors: ["CONFLICT"],
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const now = deps.clock.now();
      const publicUrl = deps.config.publicUrl;
      const invited = await inviteMember(
        deps.db,
        { workspaceId, email: body.email, role: body.role, now },
        async (trx, member) => ({
          member,
          link: await createSetupLink(trx, { workspaceId, memberId: member.id, now, publicUrl }),
        }),
      );
      requestLog(c).info(
        { workspace_id: workspaceId, member_id: invited.member.id, role: body.role },
        "member invited",
      );
      return c.json(
        { member: invited.member, setup_url: invited.link.setupUrl, expires_at: invited.link.expiresAt.toISOString() },
        201,
      );
    },
  });

  forAdmins({
    method: "post",
    path: "/api/workspaces/{workspaceId}/members/{memberId}/setup-link",
    summary: "A new one-time console setup link for a member (password reset); voids their earlier links (admin)",
    responses: { 201: { description: "Issued", schema: z.object(setupLinkFields) } },
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const link = await issueSetupLink(deps, { workspaceId, memberId: c.req.param("memberId") ?? "" });
      requestLog(c).info({ workspace_id: workspaceId, member_id: link.memberId }, "setup link issued");
      return c.json({ setup_url: link.setupUrl, expires_at: link.expiresAt.toISOString() }, 201);
    },
  });

  forAdmins({
    method: "post",
    path: "/api/workspaces/{workspaceId}/apps/{appId}/test-token",
    summary: "Check a user token against the app's identity config and say why it would be refused (admin)",
    body: TestTokenBody,
    responses: { 200: { description: "The verdict; the token is neither stored nor logged", schema: TokenTestSchema } },
    handler: async (c, { body }) => {
      const appRow = await requireAppRow(deps.db, c.get("member").workspaceId, c.req.param("appId") ?? "");
      try {
        const user = await deps.userTokens.verify(appRow, body.token);
        return c.json({ valid: true, user_id: user.userId, expires_at: expiryOf(body.token) });
      } catch (error) {
        if (error instanceof AppError && error.code === "INVALID_USER_TOKEN") {
          return c.json({ valid: false, code: error.code, reason: error.message });
        }
        throw error;
      }
    },
  });
}

function expiryOf(token: string): string | null {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === "number" ? new Date(exp * 1000).toISOString() : null;
  } catch {
    return null;
  }
}
