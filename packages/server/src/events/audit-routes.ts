import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import type { EventRow } from "../db/schema.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";

const ListAuditEventsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,17}$/, "must be the next_cursor of a previous page")
    .optional()
    .describe("next_cursor of the previous page"),
  action: z
    .string()
    .regex(/^[a-z_]+\.[a-z_]+$/, "must look like connection.created or app.updated")
    .optional(),
  target: z.string().min(1).max(200).optional().describe("Id of the thing acted on (a connection, an app…)"),
  app_id: z.string().min(1).max(64).optional(),
});

const ActorSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("member"), id: z.string(), email: z.string() }),
  z.object({ type: z.literal("operator") }),
  z.object({ type: z.literal("app_user"), id: z.string() }),
  z.object({ type: z.literal("app"), id: z.string() }),
  z.object({ type: z.literal("system") }),
]);

export const AuditEventSchema = z.object({
  id: z.string(),
  type: z.enum(["connection", "admin"]),
  action: z.string().describe("e.g. connection.created, connection.refreshed, app.updated, webhook.secret_rotated"),
  actor: ActorSchema,
  target: z.string(),
  app_id: z.string().nullable(),
  data: z.record(z.string(), z.unknown()).describe("Ids, names and statuses; never a key, secret or token"),
  request_id: z.string().nullable(),
  created_at: z.string(),
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

export function auditEventToWire(row: EventRow): AuditEvent {
  return {
    id: row.id,
    type: row.type,
    action: row.action,
    actor: row.actor,
    target: row.target,
    app_id: row.app_id,
    data: row.data,
    request_id: row.request_id,
    created_at: row.created_at.toISOString(),
  };
}

/** `GET /api/workspaces/{workspaceId}/audit-events`: admin actions and connection events, newest first. */
export function registerAuditRoutes(ctx: RouteContext<AccessDeps>): void {
  const { forMembers } = workspaceRoutes(ctx, "Audit");
  const { deps } = ctx;
  forMembers({
    method: "get",
    path: "/api/workspaces/{workspaceId}/audit-events",
    summary: "The workspace's audit log, newest first: admin actions and connection events (never a secret)",
    query: ListAuditEventsQuery,
    responses: {
      200: {
        description: "One page; pass next_cursor as cursor for the next (older) one",
        schema: z.object({ events: z.array(AuditEventSchema), next_cursor: z.string().nullable() }),
      },
    },
    handler: async (c, { query }) => {
      let select = deps.db.selectFrom("events").selectAll().where("workspace_id", "=", c.get("member").workspaceId);
      if (query.cursor !== undefined) select = select.where("seq", "<", query.cursor);
      if (query.action !== undefined) select = select.where("action", "=", query.action);
      if (query.target !== undefined) select = select.where("target", "=", query.target);
      if (query.app_id !== undefined) select = select.where("app_id", "=", query.app_id);
      const rows = await select
        .orderBy("seq", "desc")
        .limit(query.limit + 1)
        .execute();
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return c.json({
        events: page.map(auditEventToWire),
        next_cursor: rows.length > query.limit && last ? String(last.seq) : null,
      });
    },
  });
}
