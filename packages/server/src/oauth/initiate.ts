import { appUserConnectorsMinimumPlan, planAtLeast } from "@latchkey/contracts";
import { z } from "zod";
import type { ResolvedProvider } from "../providers/provider.ts";
import type { AppRow } from "../db/schema.ts";
import { AppError, notFound } from "../errors/app-error.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { OAuthDeps } from "./oauth-deps.ts";
import { allowedReturnToUrl } from "../apps/return-origins.ts";
import { createOAuthState, type ConnectionOwner, type StartedFlow } from "./oauth-states.ts";
import { redirectUri } from "../providers/provider-client.ts";

/** Values an app user gives at initiate: names as the catalog declares them, values checked by the resolver. */
export const ConnectionValuesInput = z
  .record(
    z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, "a value name is lowercase letters, digits and _"),
    z.string().max(255),
  )
  .refine((values) => Object.keys(values).length <= 10, "at most 10 connection_values");

export interface ConnectRequest {
  app: AppRow;
  connectorId: string;
  owner: ConnectionOwner;
  /** From the body; absent → the request's Origin when allowed, else the app's first allowed origin. */
  returnTo: string | undefined;
  origin: string | undefined;
  /** Values the app user supplies (a Shopify shop), checked against the catalog's patterns. */
  connectionValues?: Record<string, string> | undefined;
}

/**
 * Starts a connect flow: checks the connector and plan, stores a state bound to this app,
 * connector, owner and return_to, and returns the provider's authorization URL.
 */
export async function startConnectFlow(
  ctx: RouteContext<OAuthDeps>,
  request: ConnectRequest,
): Promise<{ redirect_url: string }> {
  const { deps } = ctx;
  const returnTo = chooseReturnTo(request.app, request.returnTo, request.origin);
  const connector = await deps.db
    .selectFrom("connectors as c")
    .innerJoin("workspaces as w", "w.id", "c.workspace_id")
    .selectAll("c")
    .select("w.plan")
    .where("c.id", "=", request.connectorId)
    .where("c.workspace_id", "=", request.app.workspace_id)
    .where("c.status", "=", "enabled")
    .executeTakeFirst();
  if (!connector) throw notFound("Connector");
  const { plan, ...connectorRow } = connector;
  if (request.owner.type === "user" && !planAtLeast(plan, appUserConnectorsMinimumPlan)) {
    throw new AppError(
      "PLAN_REQUIRED",
      `App-user connections need the "${appUserConnectorsMinimumPlan}" plan or higher`,
      { required_plan: appUserConnectorsMinimumPlan, current_plan: plan },
    );
  }
  const provider = await deps.providers.resolve(connectorRow, { user: request.connectionValues });
  const flow = await createOAuthState(
    deps,
    {
      workspaceId: request.app.workspace_id,
      appId: request.app.id,
      connectorId: connectorRow.id,
      owner: request.owner,
      returnTo,
      connectionValues: request.connectionValues,
    },
    // A nonce is checked in the ID token, whose issuer must be known (oidc, or a configured issuer).
    { pkce: provider.pkce, nonce: provider.issuer !== null && provider.scopes.includes("openid") },
  );
  return { redirect_url: authorizationUrl(provider, connectorRow.client_id, redirectUri(deps), flow) };
}

function chooseReturnTo(app: AppRow, requested: string | undefined, origin: string | undefined): string {
  const origins = app.allowed_return_origins;
  if (requested !== undefined) {
    const url = allowedReturnToUrl(origins, requested);
    if (!url) {
      throw new AppError("RETURN_TO_NOT_ALLOWED", "return_to must be on one of the app's allowed return origins", {
        allowed_return_origins: origins,
      });
    }
    return url.href;
  }
  const fromOrigin = origin === undefined ? null : allowedReturnToUrl(origins, origin);
  if (fromOrigin) return fromOrigin.href;
  const first = origins[0];
  if (first === undefined) {
    throw new AppError("RETURN_TO_NOT_ALLOWED", "The app has no allowed return origins to send the user back to");
  }
  return first;
}

/**
 * The provider's authorization URL. The connector's fixed extra parameters go first so none of
 * them can replace a security parameter; scopes are the connector's own (a caller cannot add any).
 */
function authorizationUrl(provider: ResolvedProvider, clientId: string, callback: string, flow: StartedFlow): string {
  const url = new URL(provider.authorizationEndpoint);
  for (const [name, value] of Object.entries(provider.extraAuthorizeParams)) url.searchParams.set(name, value);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", clientId);
  url.searchParams.set("redirect_uri", callback);
  if (provider.scopes.length > 0)
    url.searchParams.set(provider.scopeParam, provider.scopes.join(provider.scopeSeparator));
  else url.searchParams.delete(provider.scopeParam);
  url.searchParams.set("state", flow.state);
  if (flow.codeChallenge !== null) {
    url.searchParams.set("code_challenge", flow.codeChallenge);
    url.searchParams.set("code_challenge_method", "S256");
  } else {
    url.searchParams.delete("code_challenge");
    url.searchParams.delete("code_challenge_method");
  }
  if (flow.nonce !== null) url.searchParams.set("nonce", flow.nonce);
  return url.href;
}
