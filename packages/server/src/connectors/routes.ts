import { catalog, clientAuthMethods, findProvider, providerIds } from "@latchkey/catalog";
import type { Connector } from "@latchkey/contracts";
import type { Context } from "hono";
import { z } from "zod";
import type { ConnectorRow } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv } from "../http/app-env.ts";
import type { RouteContext } from "../http/route-context.ts";
import { workspaceRoutes } from "../access/workspace-routes.ts";
import type { AccessDeps } from "../access/auth.ts";
import type { Config } from "../config/config.ts";
import type { Vault } from "../vault/vault.ts";
import {
  ClientIdSchema,
  ClientSecretSchema,
  clientSecretProblem,
  compactOptions,
  ConnectorNameSchema,
  connectorOptionsSchema,
  ConnectorStatusSchema,
  connectorStatuses,
  createConnectorBodySchema,
  type CreateConnectorBody,
  effectiveAuthMethod,
  mergeOptions,
  ScopesSchema,
  splitCreateBody,
  type ConnectorOptions,
} from "../providers/connector-options.ts";
import {
  connectorToWire,
  deleteConnector,
  insertConnector,
  listConnectors,
  requireConnector,
  updateConnector,
  type ConnectorChanges,
} from "./connectors.ts";
import type { ProviderUrlPolicy } from "../providers/provider-urls.ts";
import { recordAudit } from "../events/record-event.ts";
import { memberOrigin } from "../events/request-origin.ts";
import { requestLog } from "../http/request-context.ts";

const connectorsPath = "/api/workspaces/{workspaceId}/connectors";
const connectorPath = `${connectorsPath}/{connectorId}`;
const tag = "Connectors";

type Discriminable = [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]];

/** An unknown provider gets an answer that lists the valid ones. */
const unknownProvider = `provider must be one of: ${providerIds.join(", ")}`;

const UpdateConnectorBody = z
  .strictObject({
    name: ConnectorNameSchema.optional(),
    client_id: ClientIdSchema.optional(),
    client_secret: ClientSecretSchema.nullable().optional().describe("A new secret (rotation), or null to remove it"),
    scopes: ScopesSchema.optional(),
    status: ConnectorStatusSchema.optional(),
    options: z
      .record(z.string().regex(/^[a-z][a-z_]{0,63}$/, "an option name is lowercase letters and _"), z.unknown())
      .optional()
      .describe("Provider options to change; null removes one (back to the provider default)"),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "Send at least one of name, client_id, client_secret, scopes, status, options",
  });

const ConnectorSchema: z.ZodType<Connector> = z.object({
  id: z.string(),
  workspace_id: z.string(),
  provider: z.string(),
  name: z.string(),
  client_id: z.string(),
  scopes: z.array(z.string()),
  status: z.enum(connectorStatuses),
  callback_url: z.string().describe("The redirect URI to register at the provider"),
  options: z.record(z.string(), z.unknown()),
  has_client_secret: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

export function registerConnectorRoutes(ctx: RouteContext<AccessDeps & { vault: Vault; config: Config }>): void {
  const { deps } = ctx;
  const { forMembers, forAdmins } = workspaceRoutes(ctx, tag);
  const urlPolicy: ProviderUrlPolicy = { denyPrivateNetwork: deps.config.denyPrivateNetwork };
  // One body schema per provider, chosen by `provider`: each validates the raw body (never a copy,
  // which would turn a "__proto__" key into a prototype). Built on the first create (or /openapi.json),
  // not at start: ~55 strict object schemas were a tenth of a PostgreSQL start's CPU.
  const CreateConnectorBody = z.lazy(() =>
    z.discriminatedUnion(
      "provider",
      [...catalog.values()].map((description) =>
        createConnectorBodySchema(description, urlPolicy),
      ) as unknown as Discriminable,
      { error: (issue) => (issue.code === "invalid_union" ? unknownProvider : undefined) },
    ),
  ) as unknown as z.ZodType<CreateConnectorBody>;
  const toWire = (row: ConnectorRow) => connectorToWire(row, deps.config.publicUrl);

  forAdmins({
    method: "post",
    path: connectorsPath,
    summary:
      "Register a connector: OAuth client credentials for one provider, with the provider's options top-level. The client secret is stored encrypted and never returned (admin)",
    body: CreateConnectorBody,
    responses: { 201: { description: "Created", schema: z.object({ connector: ConnectorSchema }) } },
    handler: async (c, { body }) => {
      const description = findProvider(body.provider);
      if (!description) throw new AppError("INVALID_REQUEST", `Unknown provider "${body.provider}"`);
      const { fields, options } = splitCreateBody(body);
      const workspaceId = c.get("member").workspaceId;
      const row = await insertConnector(deps.db, deps.vault, {
        workspaceId,
        provider: body.provider,
        name: fields.name ?? description.display_name,
        clientId: fields.client_id,
        clientSecret: fields.client_secret ?? null,
        scopes: fields.scopes ?? [],
        options: compactOptions(options),
        status: fields.status ?? "enabled",
        now: deps.clock.now(),
      });
      logChange(c, row, "connector created");
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "connector.created",
        target: row.id,
        data: { provider: row.provider, name: row.name },
      });
      return c.json({ connector: toWire(row) }, 201);
    },
  });

  forMembers({
    method: "get",
    path: connectorsPath,
    summary: "List the workspace's connectors (never their secrets)",
    responses: { 200: { description: "OK", schema: z.object({ connectors: z.array(ConnectorSchema) }) } },
    handler: async (c) => {
      const rows = await listConnectors(deps.db, c.get("member").workspaceId);
      return c.json({ connectors: rows.map(toWire) });
    },
  });

  forMembers({
    method: "get",
    path: connectorPath,
    summary: "Get a connector (never its secret)",
    responses: { 200: { description: "OK", schema: z.object({ connector: ConnectorSchema }) } },
    handler: async (c) => {
      const row = await requireConnector(deps.db, c.get("member").workspaceId, c.req.param("connectorId") ?? "");
      return c.json({ connector: toWire(row) });
    },
  });

  forAdmins({
    method: "patch",
    path: connectorPath,
    summary: "Change a connector's name, client id, secret (rotation), scopes, options or status (admin)",
    body: UpdateConnectorBody,
    responses: { 200: { description: "OK", schema: z.object({ connector: ConnectorSchema }) } },
    errors: ["CONFLICT"],
    handler: async (c, { body }) => {
      const workspaceId = c.get("member").workspaceId;
      const target = { workspaceId, connectorId: c.req.param("connectorId") ?? "", now: deps.clock.now() };
      const row = await updateConnector(deps.db, deps.vault, target, (current) => planUpdate(current, body, urlPolicy));
      logChange(c, row, "connector updated", { secret_rotated: typeof body.client_secret === "string" });
      await recordAudit(deps, {
        ...memberOrigin(c),
        action: "connector.updated",
        target: row.id,
        data: { changed: Object.keys(body), status: row.status },
      });
      return c.json({ connector: toWire(row) });
    },
  });

  forAdmins({
    method: "delete",
    path: connectorPath,
    summary: "Delete a connector with all its connections (admin)",
    responses: { 204: { description: "Deleted" } },
    handler: async (c) => {
      const workspaceId = c.get("member").workspaceId;
      const connectorId = c.req.param("connectorId") ?? "";
      const origin = memberOrigin(c);
      // One transaction: the connector, its connections' events and the audit record go together or not at all.
      const connectionsRemoved = await deps.db.transaction().execute(async (trx) => {
        const at = deps.clock.now();
        const removed = await deleteConnector(trx, { workspaceId, connectorId }, origin, at);
        await recordAudit(
          { db: trx, clock: deps.clock },
          {
            ...origin,
            action: "connector.deleted",
            target: connectorId,
            data: { connections_removed: removed },
            at,
          },
        );
        return removed;
      });
      requestLog(c).info(
        { workspace_id: workspaceId, connector_id: connectorId, connections_removed: connectionsRemoved },
        "connector deleted",
      );
      return c.body(null, 204);
    },
  });
}

type UpdateBody = z.output<typeof UpdateConnectorBody>;

/** The one stored option a PATCH that leaves the options alone still needs, for the client-secret rule. */
const StoredAuthMethod = z
  .object({ token_endpoint_auth_method: z.enum(clientAuthMethods).optional() })
  .catch({ token_endpoint_auth_method: undefined });

/** The changes a PATCH makes, validated against the connector's provider as it will be after them. */
function planUpdate(current: ConnectorRow, body: UpdateBody, policy: ProviderUrlPolicy): ConnectorChanges {
  const description = findProvider(current.provider);
  if (!description) {
    throw new AppError(
      "CONFLICT",
      `Connector ${current.id} uses provider "${current.provider}", which this server does not know`,
    );
  }
  const options: ConnectorOptions =
    body.options === undefined
      ? StoredAuthMethod.parse(current.options)
      : parseOrThrowAt(
          connectorOptionsSchema(description, policy),
          mergeOptions(current.options, body.options),
          "options",
        );
  const hasSecret = body.client_secret === undefined ? current.client_secret !== null : body.client_secret !== null;
  const secretProblem = clientSecretProblem(effectiveAuthMethod(description, options), hasSecret);
  if (secretProblem) {
    const hint = hasSecret ? "; send client_secret: null to remove the stored secret" : "";
    throw new AppError("INVALID_REQUEST", `Invalid body: client_secret: ${secretProblem}${hint}`, {
      issues: [{ path: "client_secret", message: `${secretProblem}${hint}` }],
    });
  }
  return {
    name: body.name,
    clientId: body.client_id,
    clientSecret: body.client_secret,
    scopes: body.scopes,
    status: body.status,
    options: body.options === undefined ? undefined : compactOptions(options),
  };
}

/** parseOrThrow, with issue paths prefixed by the field the value came from. */
function parseOrThrowAt<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: [field, ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
  const first = issues[0];
  throw new AppError("INVALID_REQUEST", `Invalid body: ${first ? `${first.path}: ${first.message}` : "invalid"}`, {
    issues,
  });
}

function logChange(c: Context<AppEnv>, row: ConnectorRow, message: string, extra: Record<string, unknown> = {}): void {
  requestLog(c).info(
    { workspace_id: row.workspace_id, connector_id: row.id, provider: row.provider, status: row.status, ...extra },
    message,
  );
}
