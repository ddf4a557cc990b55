import type { CreateServiceKeyResponse } from "@latchkey/contracts";
import { z } from "zod";
import { notFound } from "../errors/app-error.ts";
import { readJson } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { AccessDeps } from "../access/auth.ts";
import { requireAppRow } from "./apps.ts";
import { workspaceAuth } from "../access/auth.ts";
import { issueServiceKey, listServiceKeys, revokeServiceKey } from "./service-keys.ts";
import { bodyRouteErrors, errorDocs, NameSchema } from "../workspaces/wire-schemas.ts";
import { ServiceKeyInfoSchema } from "./wire-schemas.ts";

const CreateServiceKeyBody = z.strictObject({ name: NameSchema });

const keysPath = "/api/workspaces/:workspaceId/apps/:appId/service-keys";
const docsPath = "/api/workspaces/{workspaceId}/apps/{appId}/service-keys";
const tag = "Service keys";

/** An app's service keys. Several may be active at once, so a key can be rotated without downtime. */
export function registerServiceKeyRoutes({ app, deps, docs }: RouteContext<AccessDeps>): void {
  const readers = workspaceAuth(deps, "member");
  const admins = workspaceAuth(deps, "admin");

  app.get(keysPath, readers, async (c) => {
    const workspaceId = c.get("member").workspaceId;
    const appRow = await requireAppRow(deps.db, workspaceId, c.req.param("appId"));
    return c.json({ keys: await listServiceKeys(deps.db, workspaceId, appRow.id) });
  });
  docs.add({
    method: "get",
    path: docsPath,
    summary: "List an app's service keys (metadata only, never the keys)",
    tag,
    auth: "workspace",
    responses: {
      200: { description: "OK", schema: z.object({ keys: z.array(ServiceKeyInfoSchema) }) },
      ...errorDocs(401, 404),
    },
  });

  app.post(keysPath, admins, async (c) => {
    const body = await readJson(c, CreateServiceKeyBody);
    const workspaceId = c.get("member").workspaceId;
    const appRow = await requireAppRow(deps.db, workspaceId, c.req.param("appId"));
    const issued = await issueServiceKey(deps.db, {
      workspaceId,
      appId: appRow.id,
      name: body.name,
      now: deps.clock.now(),
    });
    c.get("log").info({ workspace_id: workspaceId, app_id: appRow.id, key_id: issued.info.id }, "service key created");
    const response: CreateServiceKeyResponse = { service_key: issued.serviceKey, key: issued.info };
    return c.json(response, 201);
  });
  docs.add({
    method: "post",
    path: docsPath,
    summary: "Create a service key for the app; the key is returned once (admin)",
    tag,
    auth: "workspace",
    body: CreateServiceKeyBody,
    responses: {
      201: { description: "Created", schema: z.object({ service_key: z.string(), key: ServiceKeyInfoSchema }) },
      ...errorDocs(...bodyRouteErrors, 403, 404),
    },
  });

  app.delete(`${keysPath}/:keyId`, admins, async (c) => {
    const workspaceId = c.get("member").workspaceId;
    const appId = c.req.param("appId");
    const keyId = c.req.param("keyId");
    if (!(await revokeServiceKey(deps.db, { workspaceId, appId, keyId, now: deps.clock.now() }))) {
      throw notFound("Service key");
    }
    c.get("log").info({ workspace_id: workspaceId, app_id: appId, key_id: keyId }, "service key revoked");
    return c.body(null, 204);
  });
  docs.add({
    method: "delete",
    path: `${docsPath}/{keyId}`,
    summary: "Revoke a service key (admin)",
    tag,
    auth: "workspace",
    responses: { 204: { description: "Revoked" }, ...errorDocs(401, 403, 404) },
  });
}
