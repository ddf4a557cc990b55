import { z } from "zod";
import type { AccessDeps } from "../access/auth.ts";
import { findAppRow } from "../apps/apps.ts";
import type { Config } from "../config/config.ts";
import { AppError, notFound } from "../errors/app-error.ts";
import { recordAudit, webhookEventTypes } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import type { Vault } from "../vault/vault.ts";
import {
  createWebhook,
  deliveryToWire,
  requireWebhook,
  rotateWebhookSecret,
  updateWebhook,
  webhookToWire,
} from "./webhook-store.ts";
import { webhookUrlSchema } from "./webhook-url.ts";

/** What the webhook routes need. */
export interface WebhookRouteDeps extends AccessDeps {
  config: AccessDeps["config"] & Pick<Config, "production" | "denyPrivateNetwork">;
  vault: Vault;
}

const EventsSchema = z
  .array(z.enum(webhookEventTypes))
  .min(1)
  .max(webhookEventTypes.length)
  .refine((events) => new Set(events).size === events.length, { message: "must not repeat an event" });
const AppIdSchema = z.string().min(1).max(64);
const DescriptionSchema = z.string().trim().max(500);
const StatusSchema = z.enum(["enabled", "disabled"]);

const WebhookSchema = z.object({
  id: z.string(),
  workspace_id: z.string(),
  app_id: z.string().nullable().describe("Only this app's connections; null: every app of the workspace"),
  url: z.string(),
  events: z.array(z.enum(webhookEventTypes)),
  description: z.string(),
  status: StatusSchema,
  previous_secret_expires_at: z
    .string()
    .nullable()
    .describe("While set, deliveries also carry a signature with the previous secret"),
  created_at: z.string(),
  updated_at: z.string(),
});

const DeliverySchema = z.object({
  id: z.string().describe("Sent as the webhook-id header, the same on every attempt"),
  webhook_id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  state: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number(),
  next_attempt_at: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  last_status: z.number().nullable().describe("The receiver's HTTP status on the last attempt"),
  last_error: z.string().nullable(),
  delivered_at: z.string().nullable(),
  created_at: z.string(),
});

const ListDeliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,17}$/, "must be the next_cursor of a previous page")
    .optional(),
  state: z.enum(["pending", "delivered", "failed"]).optional(),
});

const RotateBody = z.strictObject({
  overlap_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(86_400)
    .describe("How long the previous secret keeps signing alongside the new one (default 24 h)"),
});

const webhooksPath = "/api/workspaces/{workspaceId}/webhooks";
const webhookPath = `${webhooksPath}/{webhookId}`;
const tag = "Webhooks";

export function registerWebhookRoutes(ctx: RouteContext<WebhookRouteDeps>): void {
  const { deps } = ctx;
  const { forAdmins } = workspaceRoutes(ctx, tag);
  const UrlSchema = webhookUrlSchema(deps.config);
  const CreateBody = z.strictObject({
    url: UrlSchema,
    events: EventsSchema,
    app_id: AppIdSchema.nullable().optional(),
    description: DescriptionSchema.optional(),
    status: StatusSchema.optional(),
  });
  const UpdateBody = z
    .strictObject({
      url: UrlSchema.optional(),
      events: EventsSchema.optional(),
      app_id: AppIdSchema.nullable().optional(),
      description: DescriptionSchema.optional(),
      status: StatusSchema.optional(),
    })
    .refine((body) => Object.values(body).some((value) => value !== undefined), {
      message: "Send at least one of url, events, app_id, description, status",
    });

  /** An app_id in a body must name an app of this workspace. */
  const checkApp = async (workspaceId: string, appId: string | null | undefined) => {
    if (appId === null || appId === undefined) return;
    if (!(await findAppRow(deps.db, workspaceId, appId))) {
      throw new AppError("INVALID_REQUEST", "Invalid body: app_id: no such app in this workspace", {
        issues: [{ path: "app_id", message: "no such app in this workspace" }],
      });
    }
  };
  const webhookId = (c: { req: { param(name: string): string | undefined } }) => c.req.param("webhookId") ?? "";

  forAdmins({
    method: "post",
    path: webhooksPath,
    summary: "Subscribe a URL to connection events; the signing secret (whsec_…) is returned once (admin)",
    body: CreateBody,
    responses: { 201: { description: "Created", schema: z.object({ webhook: WebhookSchema, secret: z.string() }) } },
    handler: async (c, { body }) => {
      const origin = memberOrigin(c);
      await checkApp(origin.workspaceId, body.app_id);
      const created = await createWebhook(deps, origin.workspaceId, {
        url: body.url,
        events: body.events,
        appId: body.app_id ?? null,
        description: body.description ?? "",
        status: body.status ?? "enabled",
      });
      await recordAudit(deps, {
        ...origin,
        action: "webhook.created",
        target: created.row.id,
        appId: created.row.app_id,
        data: { url: created.row.url, events: body.events },
      });
      return c.json({ webhook: webhookToWire(created.row, deps.clock.now()), secret: created.secret }, 201);
    },
  });

  forAdmins({
    method: "get",
    path: webhooksPath,
    summary: "List the workspace's webhooks (never their secrets) (admin)",
    responses: { 200: { description: "OK", schema: z.object({ webhooks: z.array(WebhookSchema) }) } },
    handler: async (c) => {
      const rows = await deps.db
        .selectFrom("webhooks")
        .selectAll()
        .where("workspace_id", "=", c.get("member").workspaceId)
        .orderBy("created_at")
        .orderBy("id")
        .execute();
      const now = deps.clock.now();
      return c.json({ webhooks: rows.map((row) => webhookToWire(row, now)) });
    },
  });

  forAdmins({
    method: "get",
    path: webhookPath,
    summary: "Get a webhook (never its secret) (admin)",
    responses: { 200: { description: "OK", schema: z.object({ webhook: WebhookSchema }) } },
    handler: async (c) => {
      const row = await requireWebhook(deps.db, c.get("member").workspaceId, webhookId(c));
      return c.json({ webhook: webhookToWire(row, deps.clock.now()) });
    },
  });

  forAdmins({
    method: "patch",
    path: webhookPath,
    summary: "Change a webhook's URL, events, app, description or status (admin)",
    body: UpdateBody,
    responses: { 200: { description: "OK", schema: z.object({ webhook: WebhookSchema }) } },
    handler: async (c, { body }) => {
      const origin = memberOrigin(c);
      await requireWebhook(deps.db, origin.workspaceId, webhookId(c));
      await checkApp(origin.workspaceId, body.app_id);
      const row = await updateWebhook(deps, origin.workspaceId, webhookId(c), {
        ...(body.url !== undefined && { url: body.url }),
        ...(body.events !== undefined && { events: body.events }),
        ...(body.app_id !== undefined && { appId: body.app_id }),
        ...(body.description !== undefined && { description: body.description }),
        ...(body.status !== undefined && { status: body.status }),
      });
      await recordAudit(deps, {
        ...origin,
        action: "webhook.updated",
        target: row.id,
        appId: row.app_id,
        data: { changed: Object.keys(body) },
      });
      return c.json({ webhook: webhookToWire(row, deps.clock.now()) });
    },
  });

  forAdmins({
    method: "delete",
    path: webhookPath,
    summary: "Delete a webhook and its pending deliveries (admin)",
    responses: { 204: { description: "Deleted" } },
    handler: async (c) => {
      const origin = memberOrigin(c);
      const deleted = await deps.db
        .deleteFrom("webhooks")
        .where("workspace_id", "=", origin.workspaceId)
        .where("id", "=", webhookId(c))
        .returning("id")
        .executeTakeFirst();
      if (!deleted) throw notFound("Webhook");
      await recordAudit(deps, { ...origin, action: "webhook.deleted", target: deleted.id });
      return c.body(null, 204);
    },
  });

  forAdmins({
    method: "post",
    path: `${webhookPath}/rotate-secret`,
    summary:
      "Replace the signing secret; the new one is returned once, the old one keeps signing alongside it for overlap_seconds (admin)",
    body: RotateBody,
    responses: { 200: { description: "Rotated", schema: z.object({ webhook: WebhookSchema, secret: z.string() }) } },
    handler: async (c, { body }) => {
      const origin = memberOrigin(c);
      const rotated = await rotateWebhookSecret(deps, origin.workspaceId, webhookId(c), body.overlap_seconds * 1000);
      await recordAudit(deps, {
        ...origin,
        action: "webhook.secret_rotated",
        target: rotated.row.id,
        appId: rotated.row.app_id,
        data: { overlap_seconds: body.overlap_seconds },
      });
      return c.json({ webhook: webhookToWire(rotated.row, deps.clock.now()), secret: rotated.secret });
    },
  });

  forAdmins({
    method: "get",
    path: `${webhookPath}/deliveries`,
    summary: "The webhook's deliveries, newest event first: state, attempts, last answer (admin)",
    query: ListDeliveriesQuery,
    responses: {
      200: {
        description: "One page; pass next_cursor as cursor for the next (older) one",
        schema: z.object({ deliveries: z.array(DeliverySchema), next_cursor: z.string().nullable() }),
      },
    },
    handler: async (c, { query }) => {
      const webhook = await requireWebhook(deps.db, c.get("member").workspaceId, webhookId(c));
      let select = deps.db
        .selectFrom("webhook_deliveries as d")
        .innerJoin("events as e", "e.id", "d.event_id")
        .selectAll("d")
        .select("e.action as event_type")
        .where("d.webhook_id", "=", webhook.id);
      if (query.cursor !== undefined) select = select.where("d.event_seq", "<", query.cursor);
      if (query.state !== undefined) select = select.where("d.state", "=", query.state);
      const rows = await select
        .orderBy("d.event_seq", "desc")
        .limit(query.limit + 1)
        .execute();
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return c.json({
        deliveries: page.map(deliveryToWire),
        next_cursor: rows.length > query.limit && last ? String(last.event_seq) : null,
      });
    },
  });

  forAdmins({
    method: "post",
    path: `${webhookPath}/deliveries/{deliveryId}/redeliver`,
    summary: "Send a delivery again now, with the same webhook-id, and retry it on the schedule as if new (admin)",
    responses: { 202: { description: "Queued", schema: z.object({ delivery: DeliverySchema }) } },
    handler: async (c) => {
      const origin = memberOrigin(c);
      const webhook = await requireWebhook(deps.db, origin.workspaceId, webhookId(c));
      const now = deps.clock.now();
      const updated = await deps.db
        .updateTable("webhook_deliveries")
        .set({ state: "pending", next_attempt_at: now, retry_window_from: now, delivered_at: null })
        .where("webhook_id", "=", webhook.id)
        .where("id", "=", c.req.param("deliveryId") ?? "")
        .returning("id")
        .executeTakeFirst();
      if (!updated) throw notFound("Delivery");
      const row = await deps.db
        .selectFrom("webhook_deliveries as d")
        .innerJoin("events as e", "e.id", "d.event_id")
        .selectAll("d")
        .select("e.action as event_type")
        .where("d.id", "=", updated.id)
        .executeTakeFirstOrThrow();
      await recordAudit(deps, {
        ...origin,
        action: "webhook.redelivered",
        target: row.id,
        appId: webhook.app_id,
        data: { webhook_id: webhook.id, event_id: row.event_id },
      });
      return c.json({ delivery: deliveryToWire(row) }, 202);
    },
  });
}
