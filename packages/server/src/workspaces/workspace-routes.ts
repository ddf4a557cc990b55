import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import { notFound } from "../errors/app-error.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import { WorkspaceSchema } from "./wire-schemas.ts";
import { workspaceToWire } from "./workspaces.ts";

/**
 * The workspace API: bearer admin API key of a member. Reads need the `member` role, changes
 * `admin`. Ids of another workspace answer 404, exactly like ids that do not exist.
 */
export function registerWorkspaceRoutes(ctx: RouteContext<AccessDeps>): void {
  const { forMembers } = workspaceRoutes(ctx, "Workspace");
  const { deps } = ctx;

  forMembers({
    method: "get",
    path: "/api/workspaces/{workspaceId}",
    summary: "Get the workspace",
    responses: { 200: { description: "OK", schema: z.object({ workspace: WorkspaceSchema }) } },
    handler: async (c) => {
      const row = await deps.db
        .selectFrom("workspaces")
        .selectAll()
        .where("id", "=", c.get("member").workspaceId)
        .executeTakeFirst();
      if (!row) throw notFound("Workspace");
      return c.json({ workspace: workspaceToWire(row) });
    },
  });
}
