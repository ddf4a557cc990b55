import { type LatchkeyCallbackError, latchkeyCallbackErrors, providerCallbackErrors } from "@latchkey/contracts";
import type { Context } from "hono";
import type { AppRow } from "../db/schema.ts";
import type { AppEnv } from "../http/app-env.ts";
import { z } from "zod";
import { defineRoute } from "../http/define-route.ts";
import { connectLimitKey } from "../http/rate-limit.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { OAuthDeps } from "./oauth-deps.ts";
import { requireAppRow } from "../apps/apps.ts";
import { appUserAuth, assertAppIdHeader, workspaceAuth } from "../access/auth.ts";
import { callbackErrorPage } from "./callback-page.ts";
import { completeConnectFlow, ProviderStopwatch, type CallbackResult } from "./callback.ts";
import { ConnectionValuesInput, startConnectFlow } from "./initiate.ts";
import { requestLog } from "../http/request-context.ts";

/** `return_to` only: scopes and everything else come from the connector, so unknown fields are refused. */
export const InitiateBody = z.strictObject({
  return_to: z
    .string()
    .max(2048)
    .optional()
    .describe("Where the browser returns after the provider; must be on one of the app's allowed return origins"),
  connection_values: ConnectionValuesInput.optional().describe(
    "Values the app user supplies (a Shopify shop): the provider's user-supplied connection_values (GET /api/providers/{id})",
  ),
});

const InitiateResponse = z.object({ redirect_url: z.string().describe("Send the user's browser here") });

const CallbackQuery = z.object({
  state: z.string().optional(),
  code: z.string().optional(),
  iss: z.string().optional(),
  error: z.string().optional(),
});

/** What each of Latchkey's own `latchkey_error` values means, for the callback's docs. */
const latchkeyErrorMeanings: Record<LatchkeyCallbackError, string> = {
  invalid_state: "the flow expired",
  invalid_response: "the provider's answer failed validation, e.g. an `iss` that is not the connector's provider",
  token_exchange_failed: "the provider refused to redeem the code",
  provider_unavailable: "the provider could not be reached",
  connector_unavailable: "the connector was disabled or deleted meanwhile",
  provider_error: "the provider answered with an error code outside the standard ones",
};

export const callbackSummary = `The redirect URI every connector registers at its provider. Redirects the browser to return_to with latchkey_connector, latchkey_status (connected | error) and, on error, latchkey_error: the provider's OAuth error code (one of ${providerCallbackErrors.join(", ")}) or one of ${latchkeyCallbackErrors.map((code) => `${code} (${latchkeyErrorMeanings[code]})`).join(", ")}.`;

export function registerOAuthRoutes(ctx: RouteContext<OAuthDeps>): void {
  registerAppUserInitiate(ctx);
  registerSharedInitiate(ctx);
  registerCallback(ctx);
}

/** Both initiate routes, once the caller, the app and the body are known: the flow, its URL. */
async function answerInitiate(
  c: Context<AppEnv>,
  ctx: RouteContext<OAuthDeps>,
  app: AppRow,
  body: z.output<typeof InitiateBody>,
  owner: Parameters<typeof startConnectFlow>[1]["owner"],
): Promise<Response> {
  const flow = await startConnectFlow(ctx, {
    app,
    connectorId: c.req.param("connectorId") ?? "",
    owner,
    returnTo: body.return_to,
    origin: c.req.header("origin"),
    connectionValues: body.connection_values,
  });
  c.header("Cache-Control", "no-store");
  return c.json(flow, 200);
}

function registerAppUserInitiate(ctx: RouteContext<OAuthDeps>): void {
  const { deps } = ctx;
  const { perIp, connects } = deps.rateLimits;
  defineRoute(ctx, {
    method: "post",
    path: "/api/apps/{appId}/app-user-auth/connectors/{connectorId}/initiate",
    summary:
      "Start connecting the signed-in app user's account (Base44 connectAppUser). An empty body is valid: return_to defaults to the request's Origin when allowed, else the app's first allowed origin.",
    tag: "Connections",
    auth: "user",
    use: [perIp, appUserAuth(deps)],
    body: InitiateBody,
    responses: { 200: { description: "The provider's authorization URL", schema: InitiateResponse } },
    errors: ["RETURN_TO_NOT_ALLOWED", "NOT_FOUND", "PLAN_REQUIRED", "PROVIDER_UNAVAILABLE"],
    handler: async (c, { body }) => {
      const appRow = c.get("serviceApp").app;
      const userId = c.get("appUser").userId;
      connects.take(connectLimitKey(appRow.id, { userId }));
      return answerInitiate(c, ctx, appRow, body, { type: "user", userId });
    },
  });
}

function registerSharedInitiate(ctx: RouteContext<OAuthDeps>): void {
  const { deps } = ctx;
  const { perIp, connects } = deps.rateLimits;
  defineRoute(ctx, {
    method: "post",
    path: "/api/workspaces/{workspaceId}/apps/{appId}/connectors/{connectorId}/initiate",
    summary: "Start connecting the app's shared connection of a connector (admin; every plan)",
    tag: "Connections",
    auth: "workspace",
    use: [perIp, workspaceAuth(deps, "admin")],
    body: InitiateBody,
    responses: { 200: { description: "The provider's authorization URL", schema: InitiateResponse } },
    errors: ["RETURN_TO_NOT_ALLOWED", "FORBIDDEN", "NOT_FOUND", "PROVIDER_UNAVAILABLE"],
    handler: async (c, { body }) => {
      const appId = c.req.param("appId") ?? "";
      assertAppIdHeader(c, appId);
      const member = c.get("member");
      const appRow = await requireAppRow(deps.db, member.workspaceId, appId);
      connects.take(connectLimitKey(appRow.id, { memberId: member.memberId }));
      return answerInitiate(c, ctx, appRow, body, { type: "app" });
    },
  });
}

function registerCallback(ctx: RouteContext<OAuthDeps>): void {
  const { deps } = ctx;
  const { clients } = deps;
  const duration = deps.metrics.histogram<"outcome">({
    name: "latchkey_oauth_callback_duration_seconds",
    help: "Time the OAuth callback spends on its own work (excluding waiting for the provider), by outcome",
    labelNames: ["outcome"],
  });
  defineRoute(ctx, {
    method: "get",
    path: "/oauth/callback",
    summary: callbackSummary,
    tag: "OAuth",
    auth: "none",
    use: [deps.rateLimits.perIp],
    query: CallbackQuery,
    responses: {
      302: { description: "Back to the app's return_to" },
      400: {
        description:
          "INVALID_STATE: no usable state (missing, unknown or already used); a small HTML page, or the JSON error envelope for clients that ask for JSON",
      },
    },
    errors: ["RATE_LIMITED"],
    handler: async (c) => {
      // Hono answers HEAD with the GET handler; a link checker's HEAD must not use up the state.
      if (c.req.method === "HEAD") return c.body(null, 405, { Allow: "GET" });
      const started = performance.now();
      const stopwatch = new ProviderStopwatch();
      const result = await completeConnectFlow(
        ctx,
        clients,
        new URL(c.req.url).searchParams,
        stopwatch,
        c.get("requestId"),
      );
      const ownMs = performance.now() - started - stopwatch.ms;
      duration.observe({ outcome: outcomeOf(result) }, ownMs / 1000);
      requestLog(c).info(
        {
          outcome: outcomeOf(result),
          ...(result.kind === "redirect" && { connector_id: result.connectorId, error: result.error }),
          own_ms: Math.round(ownMs),
          provider_ms: Math.round(stopwatch.ms),
        },
        "oauth callback",
      );
      if (result.kind === "page") return callbackErrorPage(c, result.reason);
      // The callback URL carries the code: keep it out of the Referer the app's page would receive.
      c.header("Referrer-Policy", "no-referrer");
      c.header("Cache-Control", "no-store");
      return c.redirect(result.location, 302);
    },
  });
}

function outcomeOf(result: CallbackResult): string {
  return result.kind === "page" ? "invalid_state" : result.outcome;
}
