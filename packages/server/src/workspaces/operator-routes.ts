import type { CreateWorkspaceResponse, Workspace } from "@latchkey/contracts";
import { z } from "zod";
import type { Db } from "../db/open-database.ts";
import { notFound } from "../errors/app-error.ts";
import { readJson } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { AccessDeps } from "../access/auth.ts";
import { operatorAuth } from "../access/auth.ts";
import {
  bodyRouteErrors,
  EmailSchema,
  errorDocs,
  MemberSchema,
  NameSchema,
  PlanSchema,
  WorkspaceSchema,
} from "./wire-schemas.ts";
import { createWorkspace, workspaceToWire } from "./workspaces.ts";

const CreateWorkspaceBody = z.strictObject({ name: NameSchema, plan: PlanSchema, admin_email: EmailSchema });

const UpdateWorkspaceBody = z
  .strictObject({ name: NameSchema.optional(), plan: PlanSchema.optional() })
  .refine((body) => body.name !== undefined || body.plan !== undefined, {
    message: "Send at least one of name, plan",
  });

const workspacePath = "/api/operator/workspaces/:workspaceId";

/** The operator's API: create workspaces and set their plan. Bearer LATCHKEY_OPERATOR_KEY. */
export function registerOperatorRoutes({ app, deps, docs }: RouteContext<AccessDeps>): void {
  const auth = operatorAuth(deps);
  const tag = "Operator";

  app.post("/api/operator/workspaces", auth, async (c) => {
    const body = await readJson(c, CreateWorkspaceBody);
    const created = await createWorkspace(deps.db, deps.clock, {
      name: body.name,
      plan: body.plan,
      adminEmail: body.admin_email,
    });
    c.get("log").info({ workspace_id: created.workspace.id }, "workspace created");
    const response: CreateWorkspaceResponse = {
      workspace: created.workspace,
      admin: created.admin,
      admin_api_key: created.adminApiKey,
    };
    return c.json(response, 201);
  });
  docs.add({
    method: "post",
    path: "/api/operator/workspaces",
    summary: "Create a workspace with its first admin; returns that admin's API key once",
    tag,
    auth: "operator",
    body: CreateWorkspaceBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ workspace: WorkspaceSchema, admin: MemberSchema, admin_api_key: z.string() }),
      },
      ...errorDocs(...bodyRouteErrors),
    },
  });

  app.get("/api/operator/workspaces", auth, async (c) => {
    const rows = await deps.db.selectFrom("workspaces").selectAll().orderBy("created_at").orderBy("id").execute();
    return c.json({ workspaces: rows.map(workspaceToWire) });
  });
  docs.add({
    method: "get",
    path: "/api/operator/workspaces",
    summary: "List workspaces",
    tag,
    auth: "operator",
    responses: {
      200: { description: "OK", schema: z.object({ workspaces: z.array(WorkspaceSchema) }) },
      ...errorDocs(401),
    },
  });

  app.get(workspacePath, auth, async (c) => {
    return c.json({ workspace: await requireWorkspace(deps.db, c.req.param("workspaceId")) });
  });
  docs.add({
    method: "get",
    path: "/api/operator/workspaces/{workspaceId}",
    summary: "Get a workspace",
    tag,
    auth: "operator",
    responses: { 200: { description: "OK", schema: z.object({ workspace: WorkspaceSchema }) }, ...errorDocs(401, 404) },
  });

  app.patch(workspacePath, auth, async (c) => {
    const workspaceId = c.req.param("workspaceId");
    const body = await readJson(c, UpdateWorkspaceBody);
    const row = await deps.db
      .updateTable("workspaces")
      .set({
        updated_at: deps.clock.now(),
        ...(body.name !== undefined && { name: body.name }),
        ...(body.plan !== undefined && { plan: body.plan }),
      })
      .where("id", "=", workspaceId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("Workspace");
    c.get("log").info({ workspace_id: row.id, plan: row.plan }, "workspace updated");
    return c.json({ workspace: workspaceToWire(row) });
  });
  docs.add({
    method: "patch",
    path: "/api/operator/workspaces/{workspaceId}",
    summary: "Change a workspace's plan or name",
    tag,
    auth: "operator",
    body: UpdateWorkspaceBody,
    responses: {
      200: { description: "OK", schema: z.object({ workspace: WorkspaceSchema }) },
      ...errorDocs(...bodyRouteErrors, 404),
    },
  });
}

async function requireWorkspace(db: Db, workspaceId: string): Promise<Workspace> {
  const row = await db.selectFrom("workspaces").selectAll().where("id", "=", workspaceId).executeTakeFirst();
  if (!row) throw notFound("Workspace");
  return workspaceToWire(row);
}
