import { type CallbackError, isProviderCallbackError } from "@latchkey/contracts";
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
import { newCapture, textAt, type TokenAnswerCapture } from "../providers/token-answer.ts";
import { verifyQueryHmac } from "../providers/callback-hmac.ts";
import { isAllowedReturnTo } from "../apps/return-origins.ts";

/** How the callback ends: back to the app (return_to), or a page when no usable state says where that is. */
export type CallbackResult =
  | {
      kind: "redirect";
      location: string;
      outcome: "connected" | "error";
      error: CallbackError | null;
      connectorId: string;
    }
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
): Promise<CallbackError | null> {
  const connector = await ctx.deps.db
    .selectFrom("connectors")
    .selectAll()
    .where("id", "=", flow.connector_id)
    .where("workspace_id", "=", flow.workspace_id)
    .executeTakeFirst();
  if (connector?.status !== "enabled") return "connector_unavailable";

  let client: ProviderClient;
  try {
    client = clients(
      connector,
      await stopwatch.time(() => ctx.deps.providers.resolve(connector, { user: flow.connection_values })),
    );
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
    if (error instanceof oauth.AuthorizationResponseError) return providerError(ctx, flow, error);
    logFailure(ctx, flow, "authorization_response", error);
    return "invalid_response";
  }

  const hookProblem = callbackHookProblem(client, params);
  if (hookProblem !== null) {
    logFailure(ctx, flow, "callback_hook", new Error(hookProblem));
    return "invalid_response";
  }

  let tokens: oauth.TokenEndpointResponse;
  const capture = newCapture();
  try {
    tokens = await stopwatch.time(() => redeemCode(ctx, client, flow, response, capture));
  } catch (error) {
    logFailure(ctx, flow, "code_exchange", error);
    return classifyProviderFailure(error).kind === "unavailable" ? "provider_unavailable" : "token_exchange_failed";
  }

  const lookups = await stopwatch.time(() => runLookups(ctx, client, flow, tokens.access_token));
  const answers: ProviderAnswers = { callback: params, token: capture.body ?? { ...tokens }, lookups };
  const account = await stopwatch.time(() => readAccount(ctx, client, flow, tokens, answers));
  try {
    await saveConnection(ctx.deps, {
      workspaceId: flow.workspace_id,
      appId: flow.app_id,
      connectorId: flow.connector_id,
      ownerType: flow.owner_type,
      userId: flow.user_id,
      tokens: providerTokens(ctx, client.provider, tokens),
      account,
      connectionConfig: connectionConfig(client.provider, answers),
      requestId,
    });
  } catch (error) {
    // The state is spent: the user goes back to the app with an error to retry from, never a 500 page
    // (server_error, OAuth's own word for an unexpected condition on the authorization side).
    ctx.deps.logger.error(
      { app_id: flow.app_id, connector_id: flow.connector_id, step: "save_connection", err: error },
      "connect flow could not store the connection",
    );
    return "server_error";
  }
  return null;
}

async function redeemCode(
  ctx: RouteContext<OAuthDeps>,
  client: ProviderClient,
  flow: OAuthStateRow,
  response: URLSearchParams,
  capture: TokenAnswerCapture,
): Promise<oauth.TokenEndpointResponse> {
  const verifier = decryptVerifier(ctx.deps, flow);
  const http = client.tokenHttp(capture, ctx.deps.clock.now());
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

/**
 * The provider account, from where the provider description says it is: the ID token and/or
 * userinfo (the default), the token answer, or a lookup. A failing userinfo does not fail the connect.
 */
async function readAccount(
  ctx: RouteContext<OAuthDeps>,
  client: ProviderClient,
  flow: OAuthStateRow,
  tokens: oauth.TokenEndpointResponse,
  answers: ProviderAnswers,
): Promise<Record<string, unknown> | null> {
  const source = client.provider.accountSource;
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  if (source.from === "token_response") return accountFromProfile(answers.token, client.provider.account);
  if (source.from === "lookup") {
    const answer = source.lookup === null ? undefined : answers.lookups[source.lookup];
    return answer === undefined ? null : accountFromProfile({ data: answer }, prefixed(client.provider.account));
  }
  let profile: Record<string, unknown> | null = claims ? { ...claims } : null;
  if (source.from === "userinfo" && client.provider.userinfoEndpoint !== null) {
    try {
      const response = await client.fetch(client.provider.userinfoEndpoint, {
        method: source.userinfoMethod,
        headers: requestHeaders(source.userinfoHeaders, `Bearer ${tokens.access_token}`),
      });
      profile = { ...profile, ...(await readUserinfo(response, claims?.sub ?? null)) };
    } catch (error) {
      logFailure(ctx, flow, "userinfo", error);
    }
  }
  return profile === null ? null : accountFromProfile(profile, client.provider.account);
}

/** Accept JSON unless the description says otherwise; its headers by name, whatever their case. */
function requestHeaders(described: Record<string, string>, authorization: string): Headers {
  const headers = new Headers({ accept: "application/json" });
  for (const [name, value] of Object.entries(described)) headers.set(name, value);
  headers.set("authorization", authorization);
  return headers;
}

const prefixed = (paths: ResolvedProvider["account"]): ResolvedProvider["account"] => ({
  id: `data.${paths.id}`,
  email: `data.${paths.email}`,
  name: `data.${paths.name}`,
});

/** What the provider said during the connect: where kept values and the account are read. */
interface ProviderAnswers {
  callback: URLSearchParams;
  token: Record<string, unknown>;
  lookups: Record<string, unknown>;
}

/** Bounded, JSON-only answers of the description's lookups; a failed lookup leaves its values out. */
async function runLookups(
  ctx: RouteContext<OAuthDeps>,
  client: ProviderClient,
  flow: OAuthStateRow,
  accessToken: string,
): Promise<Record<string, unknown>> {
  const answers: Record<string, unknown> = {};
  for (const lookup of client.provider.lookups) {
    try {
      const response = await client.fetch(lookup.url, {
        method: lookup.method,
        headers: {
          accept: "application/json",
          ...lookup.headers,
          authorization: `${lookup.authScheme} ${accessToken}`,
        },
      });
      if (!response.ok) throw new Error(`lookup answered ${response.status}`);
      answers[lookup.name] = JSON.parse(await response.text());
    } catch (error) {
      logFailure(ctx, flow, `lookup_${lookup.name}`, error);
    }
  }
  return answers;
}

/** Named logic the data cannot express, run on the callback before the code is redeemed. */
function callbackHookProblem(client: ProviderClient, params: URLSearchParams): string | null {
  if (client.provider.hooks.includes("shopify-callback-hmac")) {
    return verifyQueryHmac(params, client.clientSecret()) ? null : "the callback's hmac does not verify";
  }
  return null;
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

/**
 * What API calls need later, kept as connection_config: the connector's and the app user's values,
 * and what the provider gave (callback parameters such as QuickBooks `realmId`, token-answer fields
 * such as Salesforce `instance_url`, lookup answers such as an Atlassian cloud id).
 */
function connectionConfig(provider: ResolvedProvider, answers: ProviderAnswers): Record<string, string> | null {
  const config: Record<string, string> = { ...provider.connectionValues };
  for (const kept of provider.keptValues) {
    let value: string | null = null;
    if (kept.from === "callback") value = answers.callback.get(kept.path);
    else if (kept.from === "token_response") value = textAt(answers.token, kept.path);
    else if (kept.lookup !== undefined) value = textAt(answers.lookups[kept.lookup], kept.path);
    if (value === null && kept.alsoCallback) value = answers.callback.get(kept.path);
    if (value === null || value.length > 2048 || !isStorableText(value)) continue;
    if (kept.check && !kept.check(value)) continue;
    config[kept.name] = value;
  }
  return Object.keys(config).length > 0 ? config : null;
}

/**
 * The provider's error code when it is a standard one; else `provider_error`, with the provider's
 * code (made safe) in the log.
 */
function providerError(
  ctx: RouteContext<OAuthDeps>,
  flow: OAuthStateRow,
  error: oauth.AuthorizationResponseError,
): CallbackError {
  const code = safeErrorCode(error.error);
  if (isProviderCallbackError(code)) return code;
  ctx.deps.logger.warn(
    { app_id: flow.app_id, connector_id: flow.connector_id, step: "authorization_response", provider_error: code },
    "provider answered the authorization with a non-standard error code",
  );
  return "provider_error";
}

function backToApp(flow: OAuthStateRow, error: CallbackError | null): CallbackResult {
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
