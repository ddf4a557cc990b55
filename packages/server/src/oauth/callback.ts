import * as oauth from "oauth4webapi";
import type { ResolvedProvider } from "../providers/provider.ts";
import type { OAuthStateRow } from "../db/schema.ts";
import { isStorableText } from "../db/storable-text.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { OAuthDeps } from "./oauth-deps.ts";
import { saveConnection, type ProviderTokens } from "../connections/connection-store.ts";
import { consumeOAuthState, decryptVerifier } from "./oauth-states.ts";
import { redirectUri, type ProviderClient, type ProviderClientFactory } from "../providers/provider-client.ts";
import { classifyProviderFailure, failureLogFields, safeErrorCode } from "../providers/provider-failure.ts";
import { accountFromProfile, readUserinfo } from "../providers/provider-account.ts";
import { expiryFrom, splitScopes } from "../providers/token-values.ts";
import { isAllowedReturnTo } from "../apps/return-origins.ts";

/** How the callback ends: back to the app (return_to), or a page when no usable state says where that is. */
export type CallbackResult =
  | { kind: "redirect"; location: string; outcome: "connected" | "error"; error: string | null; connectorId: string }
  | { kind: "page"; reason: "missing_state" | "unknown_state" | "return_to_not_allowed" };

/** Time spent waiting for the provider, so the callback can report its own work without it. */
export class ProviderStopwatch {
  ms = 0;
  async time<T>(call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      this.ms += performance.now() - started;
    }
  }
}

const statePattern = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * Finishes a connect flow: consumes the state (single use), validates the authorization response
 * (state, RFC 9207 `iss`, provider error), redeems the code at the state's connector with the
 * state's PKCE verifier, reads the provider account and stores the connection for the state's
 * owner. Nothing from the request is trusted beyond what the state vouches for.
 */
export async function completeConnectFlow(
  ctx: RouteContext<OAuthDeps>,
  clients: ProviderClientFactory,
  params: URLSearchParams,
  stopwatch: ProviderStopwatch,
  requestId: string | null = null,
): Promise<CallbackResult> {
  const state = params.get("state");
  if (state === null || !statePattern.test(state)) return { kind: "page", reason: "missing_state" };
  const flow = await consumeOAuthState(ctx.deps, state);
  if (!flow) return { kind: "page", reason: "unknown_state" };
  // The allowlist may have changed since the flow started: never redirect to a removed origin.
  if (!(await returnToStillAllowed(ctx, flow))) return { kind: "page", reason: "return_to_not_allowed" };
  if (flow.expires_at.getTime() <= ctx.deps.clock.now().getTime()) return backToApp(flow, "invalid_state");
  return backToApp(flow, await connectWithProvider(ctx, clients, flow, state, params, stopwatch, requestId));
}

async function returnToStillAllowed(ctx: RouteContext<OAuthDeps>, flow: OAuthStateRow): Promise<boolean> {
  const app = await ctx.deps.db
    .selectFrom("apps")
    .select("allowed_return_origins")
    .where("id", "=", flow.app_id)
    .executeTakeFirst();
  return app !== undefined && isAllowedReturnTo(app.allowed_return_origins, flow.return_to);
}

/** The provider half of the callback, for a valid state. Resolves to null when connected, else the latchkey_error. */
async function connectWithProvider(
  ctx: RouteContext<OAuthDeps>,
  clients: ProviderClientFactory,
  flow: OAuthStateRow,
  state: string,
  params: URLSearchParams,
  stopwatch: ProviderStopwatch,
  requestId: string | null,
): Promise<string | null> {
  const connector = await ctx.deps.db
    .selectFrom("connectors")
    .selectAll()
    .where("id", "=", flow.connector_id)
    .where("workspace_id", "=", flow.workspace_id)
    .executeTakeFirst();
  if (connector?.status !== "enabled") return "connector_unavailable";

  let client: ProviderClient;
  try {
    client = clients(connector, await stopwatch.time(() => ctx.deps.providers.resolve(connector)));
  } catch (error) {
    logFailure(ctx, flow, "provider_setup", error);
    return "provider_unavailable";
  }

  let response: URLSearchParams;
  try {
    // Without a known issuer there is nothing to compare `iss` with; the per-connector state still
    // ties the response to this connector (mix-up defence).
    response = oauth.validateAuthResponse(
      client.as,
      client.client,
      client.knowsIssuer ? params : withoutIss(params),
      state,
    );
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) return safeErrorCode(error.error);
    logFailure(ctx, flow, "authorization_response", error);
    return "invalid_response";
  }

  let tokens: oauth.TokenEndpointResponse;
  try {
    tokens = await stopwatch.time(() => redeemCode(ctx, client, flow, response));
  } catch (error) {
    logFailure(ctx, flow, "code_exchange", error);
    return classifyProviderFailure(error).kind === "unavailable" ? "provider_unavailable" : "token_exchange_failed";
  }

  const account = await stopwatch.time(() => readAccount(ctx, client, flow, tokens));
  await saveConnection(ctx.deps, {
    workspaceId: flow.workspace_id,
    appId: flow.app_id,
    connectorId: flow.connector_id,
    ownerType: flow.owner_type,
    userId: flow.user_id,
    tokens: providerTokens(ctx, client.provider, tokens),
    account,
    connectionConfig: connectionConfig(client.provider, tokens, params),
    requestId,
  });
  return null;
}

async function redeemCode(
  ctx: RouteContext<OAuthDeps>,
  client: ProviderClient,
  flow: OAuthStateRow,
  response: URLSearchParams,
): Promise<oauth.TokenEndpointResponse> {
  const verifier = decryptVerifier(ctx.deps, flow);
  const http = client.http();
  const exchange = await oauth.authorizationCodeGrantRequest(
    client.as,
    client.client,
    client.clientAuth,
    response,
    redirectUri(ctx.deps),
    verifier ?? oauth.nopkce,
    http,
  );
  return oauth.processAuthorizationCodeResponse(client.as, client.client, exchange, {
    expectedNonce: flow.nonce ?? oauth.expectNoNonce,
  });
}

/** The provider account from the ID token and/or userinfo; a failing userinfo does not fail the connect. */
async function readAccount(
  ctx: RouteContext<OAuthDeps>,
  client: ProviderClient,
  flow: OAuthStateRow,
  tokens: oauth.TokenEndpointResponse,
): Promise<Record<string, unknown> | null> {
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  let profile: Record<string, unknown> | null = claims ? { ...claims } : null;
  if (client.provider.userinfoEndpoint !== null) {
    try {
      const response = await oauth.userInfoRequest(client.as, client.client, tokens.access_token, client.http());
      profile = { ...profile, ...(await readUserinfo(response, claims?.sub ?? null)) };
    } catch (error) {
      logFailure(ctx, flow, "userinfo", error);
    }
  }
  return profile === null ? null : accountFromProfile(profile, client.provider.account);
}

function providerTokens(
  ctx: RouteContext<OAuthDeps>,
  provider: ResolvedProvider,
  tokens: oauth.TokenEndpointResponse,
): ProviderTokens {
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token ?? null,
    tokenType: tokens.token_type,
    expiresAt: expiryFrom(ctx.deps.clock.now(), tokens.expires_in),
    scopes: tokens.scope === undefined ? provider.scopes : splitScopes(tokens.scope),
  };
}

/** The provider values API calls need later (instance_url, realmId…), from the token response or the callback. */
function connectionConfig(
  provider: ResolvedProvider,
  tokens: oauth.TokenEndpointResponse,
  params: URLSearchParams,
): Record<string, string> | null {
  const config: Record<string, string> = {};
  for (const field of provider.connectionConfigFields) {
    const fromTokens = tokens[field];
    const value =
      typeof fromTokens === "string" || typeof fromTokens === "number" ? String(fromTokens) : params.get(field);
    if (value !== null && value.length <= 2048 && isStorableText(value)) config[field] = value;
  }
  return Object.keys(config).length > 0 ? config : null;
}

function backToApp(flow: OAuthStateRow, error: string | null): CallbackResult {
  const url = new URL(flow.return_to);
  url.searchParams.set("latchkey_connector", flow.connector_id);
  url.searchParams.set("latchkey_status", error === null ? "connected" : "error");
  if (error !== null) url.searchParams.set("latchkey_error", error);
  else url.searchParams.delete("latchkey_error");
  return {
    kind: "redirect",
    location: url.href,
    outcome: error === null ? "connected" : "error",
    error,
    connectorId: flow.connector_id,
  };
}

function withoutIss(params: URLSearchParams): URLSearchParams {
  const copy = new URLSearchParams(params);
  copy.delete("iss");
  return copy;
}

/** Codes and statuses only: oauth4webapi errors carry the request parameters (code, state) and raw bodies. */
function logFailure(ctx: RouteContext<OAuthDeps>, flow: OAuthStateRow, step: string, error: unknown): void {
  ctx.deps.logger.warn(
    { app_id: flow.app_id, connector_id: flow.connector_id, step, ...failureLogFields(classifyProviderFailure(error)) },
    "connect flow step failed",
  );
}
