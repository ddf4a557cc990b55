import type { CreateServiceKeyResponse } from "@latchkey/contracts";
import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import { notFound } from "../errors/app-error.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import { NameSchema } from "../workspaces/wire-schemas.ts";
import { requireAppRow } from "./apps.ts";
import { serviceKeys } from "./service-keys.ts";
import { ServiceKeyInfoSchema } from "./wire-schemas.ts";
import { recordAudit } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";
import { requestLog } from "../http/request-context.ts";

const CreateServiceKeyBody = z.strictObject({ name: NameSchema });

const keysPath = "/api/workspaces/{workspaceId}/apps/{appId}/service-keys";
const tag = "Service keys";

/** An app's service keys. Several may be active at once, so a key can be rotated without downtime. */
export function registerServiceKeyRoutes(ctx: RouteContext<AccessDeps>): void {
  const { deps } = ctx;
  const { forMembers, forAdmins } = workspaceRoutes(ctx, tag);

  forMembers({
    method: "get",
    path: keysPath,
    summary: "List an app's service keys (metadata only, never the keys)",
    responses: { 200: { description: "OK", schema: z.object({ keys: z.array(ServiceKeyInfoSchema) }) } },
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const appRow = await requireAppRow(deps.db, workspaceId, c.req.param("appId") ?? "");
      return c.json({ keys: await serviceKeys.list(deps.db, { workspaceId, ownerId: appRow.id }) });
    },
  });

  forAdmins({
    method: "post",
    path: keysPath,
    summary: "Create a service key for the app; the key is returned once (admin)",
    body: CreateServiceKeyBody,
    responses: {
      201: { description: "Created", schema: z.object({ service_key: z.string(), key: ServiceKeyInfoSchema }) },
    },
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const appRow = await requireAppRow(deps.db, workspaceId, c.req.param("appId") ?? "");
      const issued = await serviceKeys.issue(deps.db, {
        workspaceId,
        ownerId: appRow.id,
        name: body.name,
        now: deps.clock.now(),
      });
      requestLog(c).info(
        { workspace_id: workspaceId, app_id: appRow.id, key_id: issued.info.id },
        "service key created",
      );
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "service_key.created",
        target: issued.info.id,
        appId: appRow.id,
        data: { name: issued.info.name, prefix: issued.info.prefix },
      });
      const response: CreateServiceKeyResponse = { service_key: issued.key, key: issued.info };
      return c.json(response, 201);
    },
  });

  forAdmins({
    method: "delete",
    path: `${keysPath}/{keyId}`,
    summary: "Revoke a service key (admin)",
    responses: { 204: { description: "Revoked" } },
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const appId = c.req.param("appId") ?? "";
      const keyId = c.req.param("keyId") ?? "";
      const target = { workspaceId, ownerId: appId, keyId, now: deps.clock.now() };
      if ((await serviceKeys.revoke(deps.db, target)) === "not-found") {
        throw notFound("Service key");
      }
      requestLog(c).info({ workspace_id: workspaceId, app_id: appId, key_id: keyId }, "service key revoked");
      await recordAudit(deps, { ...memberOrigin(c), action: "service_key.revoked", target: keyId, appId });
      return c.body(null, 204);
    },
  });
}
