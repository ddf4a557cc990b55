import type { CreateAppResponse } from "@latchkey/contracts";
import { z } from "zod";
import { readJson } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import { appToWire, createAppWithServiceKey, deleteApp, listApps, requireAppRow, updateApp } from "./apps.ts";
import { workspaceAuth } from "./auth.ts";
import { IdentityInputSchema, IdentityPatchSchema } from "./identity-config.ts";
import { AllowedReturnOriginsSchema } from "./return-origins.ts";
import { AppSchema, bodyRouteErrors, errorDocs, NameSchema, ServiceKeyInfoSchema } from "./wire-schemas.ts";

const CreateAppBody = z.strictObject({
  name: NameSchema,
  allowed_return_origins: AllowedReturnOriginsSchema,
  identity: IdentityInputSchema,
});

const UpdateAppBody = z
  .strictObject({
    name: NameSchema.optional(),
    allowed_return_origins: AllowedReturnOriginsSchema.optional(),
    identity: IdentityPatchSchema.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "Send at least one of name, allowed_return_origins, identity",
  });

const appsPath = "/api/workspaces/:workspaceId/apps";
const appPath = `${appsPath}/:appId`;
const docsPath = "/api/workspaces/{workspaceId}/apps";
const tag = "Apps";

export function registerAppRoutes({ app, deps, docs }: RouteContext): void {
  const readers = workspaceAuth(deps, "member");
  const admins = workspaceAuth(deps, "admin");

  app.post(appsPath, admins, async (c) => {
    const body = await readJson(c, CreateAppBody);
    const workspaceId = c.get("member").workspaceId;
    const created = await createAppWithServiceKey(deps.db, deps.vault, {
      workspaceId,
      name: body.name,
      allowedReturnOrigins: body.allowed_return_origins,
      identity: body.identity,
      now: deps.clock.now(),
    });
    c.get("log").info({ workspace_id: workspaceId, app_id: created.app.id }, "app created");
    const response: CreateAppResponse = {
      app: created.app,
      service_key: created.serviceKey.serviceKey,
      key: created.serviceKey.info,
    };
    return c.json(response, 201);
  });
  docs.add({
    method: "post",
    path: docsPath,
    summary: "Create an app with its first service key; the key is returned once (admin)",
    tag,
    auth: "workspace",
    body: CreateAppBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ app: AppSchema, service_key: z.string(), key: ServiceKeyInfoSchema }),
      },
      ...errorDocs(...bodyRouteErrors, 403, 404),
    },
  });

  app.get(appsPath, readers, async (c) => {
    return c.json({ apps: await listApps(deps.db, c.get("member").workspaceId) });
  });
  docs.add({
    method: "get",
    path: docsPath,
    summary: "List the workspace's apps",
    tag,
    auth: "workspace",
    responses: { 200: { description: "OK", schema: z.object({ apps: z.array(AppSchema) }) }, ...errorDocs(401, 404) },
  });

  app.get(appPath, readers, async (c) => {
    const row = await requireAppRow(deps.db, c.get("member").workspaceId, c.req.param("appId"));
    return c.json({ app: appToWire(row) });
  });
  docs.add({
    method: "get",
    path: `${docsPath}/{appId}`,
    summary: "Get an app",
    tag,
    auth: "workspace",
    responses: { 200: { description: "OK", schema: z.object({ app: AppSchema }) }, ...errorDocs(401, 404) },
  });

  app.patch(appPath, admins, async (c) => {
    const body = await readJson(c, UpdateAppBody);
    const workspaceId = c.get("member").workspaceId;
    const updated = await updateApp(deps.db, deps.vault, {
      workspaceId,
      appId: c.req.param("appId"),
      changes: { name: body.name, allowedReturnOrigins: body.allowed_return_origins, identity: body.identity },
      now: deps.clock.now(),
    });
    c.get("log").info({ workspace_id: workspaceId, app_id: updated.id }, "app updated");
    return c.json({ app: updated });
  });
  docs.add({
    method: "patch",
    path: `${docsPath}/{appId}`,
    summary: "Change an app's name, allowed return origins or identity config (admin)",
    tag,
    auth: "workspace",
    body: UpdateAppBody,
    responses: {
      200: { description: "OK", schema: z.object({ app: AppSchema }) },
      ...errorDocs(...bodyRouteErrors, 403, 404),
    },
  });

  app.delete(appPath, admins, async (c) => {
    const workspaceId = c.get("member").workspaceId;
    const appId = c.req.param("appId");
    await deleteApp(deps.db, workspaceId, appId);
    c.get("log").info({ workspace_id: workspaceId, app_id: appId }, "app deleted");
    return c.body(null, 204);
  });
  docs.add({
    method: "delete",
    path: `${docsPath}/{appId}`,
    summary: "Delete an app with its service keys and connections (admin)",
    tag,
    auth: "workspace",
    responses: { 204: { description: "Deleted" }, ...errorDocs(401, 403, 404) },
  });
}
