import type { CreateAppResponse } from "@latchkey/contracts";
import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import type { Vault } from "../vault/vault.ts";
import { NameSchema } from "../workspaces/wire-schemas.ts";
import { appToWire, createAppWithServiceKey, deleteApp, listApps, requireAppRow, updateApp } from "./apps.ts";
import { IdentityInputSchema, IdentityPatchSchema } from "./identity-config.ts";
import { AllowedReturnOriginsSchema } from "./return-origins.ts";
import { AppSchema, ServiceKeyInfoSchema } from "./wire-schemas.ts";
import { recordAudit } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";
import { requestLog } from "../http/request-context.ts";

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

const appsPath = "/api/workspaces/{workspaceId}/apps";
const appPath = `${appsPath}/{appId}`;
const tag = "Apps";

export function registerAppRoutes(ctx: RouteContext<AccessDeps & { vault: Vault }>): void {
  const { deps } = ctx;
  const { forMembers, forAdmins } = workspaceRoutes(ctx, tag);

  forAdmins({
    method: "post",
    path: appsPath,
    summary: "Create an app with its first service key; the key is returned once (admin)",
    body: CreateAppBody,
    responses: {
      201: {
        description: "Created",
        schema: z.object({ app: AppSchema, service_key: z.string(), key: ServiceKeyInfoSchema }),
      },
    },
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const created = await createAppWithServiceKey(deps.db, deps.vault, {
        workspaceId,
        name: body.name,
        allowedReturnOrigins: body.allowed_return_origins,
        identity: body.identity,
        now: deps.clock.now(),
      });
      requestLog(c).info({ workspace_id: workspaceId, app_id: created.app.id }, "app created");
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "app.created",
        target: created.app.id,
        appId: created.app.id,
        data: { name: created.app.name },
      });
      const response: CreateAppResponse = {
        app: created.app,
        service_key: created.serviceKey.key,
        key: created.serviceKey.info,
      };
      return c.json(response, 201);
    },
  });

  forMembers({
    method: "get",
    path: appsPath,
    summary: "List the workspace's apps",
    responses: { 200: { description: "OK", schema: z.object({ apps: z.array(AppSchema) }) } },
    handler: async (c) => c.json({ apps: await listApps(deps.db, c.get("member").workspaceId) }),
  });

  forMembers({
    method: "get",
    path: appPath,
    summary: "Get an app",
    responses: { 200: { description: "OK", schema: z.object({ app: AppSchema }) } },
    handler: async (c) => {
      const row = await requireAppRow(deps.db, c.get("member").workspaceId, c.req.param("appId") ?? "");
      return c.json({ app: appToWire(row) });
    },
  });

  forAdmins({
    method: "patch",
    path: appPath,
    summary: "Change an app's name, allowed return origins or identity config (admin)",
    body: UpdateAppBody,
    responses: { 200: { description: "OK", schema: z.object({ app: AppSchema }) } },
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const updated = await updateApp(deps.db, deps.vault, {
        workspaceId,
        appId: c.req.param("appId") ?? "",
        changes: { name: body.name, allowedReturnOrigins: body.allowed_return_origins, identity: body.identity },
        now: deps.clock.now(),
      });
      requestLog(c).info({ workspace_id: workspaceId, app_id: updated.id }, "app updated");
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "app.updated",
        target: updated.id,
        appId: updated.id,
        data: { changed: Object.keys(body) },
      });
      return c.json({ app: updated });
    },
  });

  forAdmins({
    method: "delete",
    path: appPath,
    summary: "Delete an app with its service keys and connections (admin)",
    responses: { 204: { description: "Deleted" } },
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const appId = c.req.param("appId") ?? "";
      const origin = memberOrigin(c);
      // One transaction: the app, its connections' events and the audit record go together or not at all.
      const connectionsRemoved = await deps.db.transaction().execute(async (trx) => {
        const at = deps.clock.now();
        const removed = await deleteApp(trx, { workspaceId, appId }, origin, at);
        await recordAudit(
          { db: trx, clock: deps.clock },
          { ...origin, action: "app.deleted", target: appId, appId, data: { connections_removed: removed }, at },
        );
        return removed;
      });
      requestLog(c).info(
        { workspace_id: workspaceId, app_id: appId, connections_removed: connectionsRemoved },
        "app deleted",
      );
      return c.body(null, 204);
    },
  });
}
