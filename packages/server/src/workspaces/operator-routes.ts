import type { CreateWorkspaceResponse, Workspace } from "@latchkey/contracts";
import { z } from "zod";
import { type AccessDeps, operatorAuth } from "../access/auth.ts";
import type { Db } from "../db/open-database.ts";
import { notFound } from "../errors/app-error.ts";
import { defineRoute } from "../http/define-route.ts";
import type { RouteContext } from "../http/route-context.ts";
import { EmailSchema, MemberSchema, NameSchema, PlanSchema, WorkspaceSchema } from "./wire-schemas.ts";
import { createWorkspace, workspaceToWire } from "./workspaces.ts";
import { recordAudit } from "../events/record-event.ts";
import { operatorOrigin } from "../events/request-origin.ts";
import { requestLog } from "../http/request-context.ts";

const CreateWorkspaceBody = z.strictObject({ name: NameSchema, plan: PlanSchema, admin_email: EmailSchema });

const UpdateWorkspaceBody = z
  .strictObject({ name: NameSchema.optional(), plan: PlanSchema.optional() })
  .refine((body) => body.name !== undefined || body.plan !== undefined, {
    message: "Send at least one of name, plan",
  });

const workspacesPath = "/api/operator/workspaces";
const workspacePath = `${workspacesPath}/{workspaceId}`;
const tag = "Operator";

/** The operator's API: create workspaces and set their plan. Bearer LATCHKEY_OPERATOR_KEY. */
export function registerOperatorRoutes(ctx: RouteContext<AccessDeps>): void {
  const { deps } = ctx;
  const use = [operatorAuth(deps)];

  defineRoute(ctx, {
    method: "post",
    path: workspacesPath,
    summary: "Create a workspace with its first admin; returns that admin's API key once",
    tag,
    auth: "operator",
    use,
    body: CreateWorkspaceBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ workspace: WorkspaceSchema, admin: MemberSchema, admin_api_key: z.string() }),
      },
    },
    handler: async (c, { body }) => {
      const created = await createWorkspace(deps.db, deps.clock, {
        name: body.name,
        plan: body.plan,
        adminEmail: body.admin_email,
      });
      requestLog(c).info({ workspace_id: created.workspace.id }, "workspace created");
      await recordAudit(deps, {
        ...operatorOrigin(c),
        workspaceId: created.workspace.id,
        action: "workspace.created",
        target: created.workspace.id,
        data: { name: created.workspace.name, plan: created.workspace.plan, admin_member_id: created.admin.id },
      });
      const response: CreateWorkspaceResponse = {
        workspace: created.workspace,
        admin: created.admin,
        admin_api_key: created.adminApiKey,
      };
      return c.json(response, 201);
    },
  });

  defineRoute(ctx, {
    method: "get",
    path: workspacesPath,
    summary: "List workspaces",
    tag,
    auth: "operator",
    use,
    responses: { 200: { description: "OK", schema: z.object({ workspaces: z.array(WorkspaceSchema) }) } },
    handler: async (c) => {
      const rows = await deps.db.selectFrom("workspaces").selectAll().orderBy("created_at").orderBy("id").execute();
      return c.json({ workspaces: rows.map(workspaceToWire) });
    },
  });

  defineRoute(ctx, {
    method: "get",
    path: workspacePath,
    summary: "Get a workspace",
    tag,
    auth: "operator",
    use,
    responses: { 200: { description: "OK", schema: z.object({ workspace: WorkspaceSchema }) } },
    errors: ["NOT_FOUND"],
    handler: async (c) => c.json({ workspace: await requireWorkspace(deps.db, c.req.param("workspaceId") ?? "") }),
  });

  defineRoute(ctx, {
    method: "patch",
    path: workspacePath,
    summary: "Change a workspace's plan or name",
    tag,
    auth: "operator",
    use,
    body: UpdateWorkspaceBody,
    responses: { 200: { description: "OK", schema: z.object({ workspace: WorkspaceSchema }) } },
    errors: ["NOT_FOUND"],
    handler: async (c, { body }) => {
      const row = await deps.db
        .updateTable("workspaces")
        .set({
          updated_at: deps.clock.now(),
          ...(body.name !== undefined && { name: body.name }),
          ...(body.plan !== undefined && { plan: body.plan }),
        })
        .where("id", "=", c.req.param("workspaceId") ?? "")
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound("Workspace");
      requestLog(c).info({ workspace_id: row.id, plan: row.plan }, "workspace updated");
      await recordAudit(deps, {
        ...operatorOrigin(c),
        workspaceId: row.id,
        action: "workspace.updated",
        target: row.id,
        data: { name: row.name, plan: row.plan },
      });
      return c.json({ workspace: workspaceToWire(row) });
    },
  });
}

async function requireWorkspace(db: Db, workspaceId: string): Promise<Workspace> {
  const row = await db.selectFrom("workspaces").selectAll().where("id", "=", workspaceId).executeTakeFirst();
  if (!row) throw notFound("Workspace");
  return workspaceToWire(row);
}
