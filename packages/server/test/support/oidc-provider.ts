/**
 * A real OAuth 2.0 / OpenID Connect authorization server for integration tests: panva's
 * oidc-provider on 127.0.0.1, with authorization code + PKCE (required), refresh token rotation
 * with reuse detection, revocation, userinfo and RFC 9207 `iss`, plus knobs tests need to
 * provoke failures (outage, slow token endpoint, revoked grants) and counters to check what
 * reached it.
 */
import { createHash, randomBytes } from "node:crypto";
import type { EventEmitter } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { exportJWK, generateKeyPair } from "jose";
import type Provider from "oidc-provider";
import type { Account, AdapterPayload, Configuration, errors, KoaContextWithOIDC } from "oidc-provider";
import { CookieJar } from "./cookie-jar.ts";
import { silenceOidcProviderNotices } from "./oidc-provider-quiet.ts";
import { OidcProviderStore } from "./oidc-provider-store.ts";

export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "none";

export interface AuthorizationServerOptions {
  /** Lifetime of issued access tokens (default 3600). */
  accessTokenTtlSeconds?: number;
  /** Rotate refresh tokens on every use, revoking the grant when a spent one is replayed (default true). */
  refreshTokenRotation?: boolean;
}

export interface TestClient {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
  /** Default: client_secret_basic with a secret, none without. Enforced strictly at the token and revocation endpoints. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** Space-separated allow list of scopes the client may request (default: any supported scope). */
  scope?: string;
}

export interface TokenSet {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  id_token?: string;
}

export interface AuthorizationServerCounters {
  /** POST requests that arrived at the token endpoint, including those refused by an outage. */
  tokenRequests: number;
  /** Successful authorization_code grants. */
  authorizationCodeGrants: number;
  /** Successful refresh_token grants (requests that reached the provider and got tokens). */
  refreshGrants: number;
  /** refresh_token grant requests answered with an OAuth error (not outage responses). */
  failedRefreshGrants: number;
  /** Successful (200) requests to the revocation endpoint. */
  revocations: number;
  /** Grants the provider revoked itself: refresh token revocation, reuse of a rotated refresh token. */
  grantsRevoked: number;
  /** Token endpoint requests answered 503 or left hanging by setOutage. */
  outageResponses: number;
}

export interface AuthorizationServer {
  /** http://127.0.0.1:<port> */
  issuer: string;
  discoveryUrl: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string;
  userinfoEndpoint: string;
  jwksUri: string;
  /** Registers (or replaces) a client at runtime; it may use authorization_code and refresh_token. */
  addClient(client: TestClient): void;
  /**
   * Drives the user's browser through the authorization URL: dev login as `login` (the account's
   * sub) and consent, with fetch and a fresh cookie jar. Returns the redirect to the client's
   * redirect_uri (code/state/iss, or error=access_denied with `deny`) without requesting it.
   */
  authorize(authorizationUrl: string, user: { login: string; deny?: boolean }): Promise<URL>;
  /** A full code + PKCE flow for `clientId`, authenticating as the client is registered. Counts as a grant. */
  obtainTokens(input: {
    clientId: string;
    clientSecret?: string;
    redirectUri: string;
    scope: string;
    login: string;
  }): Promise<TokenSet>;
  /** The sub of a valid access token, asked of the userinfo endpoint; throws when it is invalid or revoked. */
  userinfoSub(accessToken: string): Promise<string>;
  /** Whether a refresh token could still be used, read from the store without spending it. */
  isRefreshTokenActive(refreshToken: string): Promise<boolean>;
  counters: AuthorizationServerCounters;
  resetCounters(): void;
  /** The provider-side "user removed the app": every grant of the account and its tokens are gone. */
  revokeGrantsOf(login: string): Promise<void>;
  /** "error": the token endpoint answers 503; "hang": it never answers until the client aborts; null: normal. */
  setOutage(mode: "error" | "hang" | null): void;
  /** Milliseconds the token endpoint waits before handling each request, to widen race windows. */
  setTokenDelay(ms: number): void;
  /** Unexpected errors inside the provider (5xx); a passing test expects this to stay empty. */
  serverErrors: Error[];
  close(): Promise<void>;
}

const routes = {
  authorization: "/auth",
  token: "/token",
  revocation: "/token/revocation",
  pushed_authorization_request: "/request",
  userinfo: "/me",
  jwks: "/jwks",
} as const;

const customScopes = ["api:read", "api:write"];
const supportedScopes = ["openid", "email", "profile", "offline_access", ...customScopes];
const clientAuthenticatedPaths = new Set<string>([
  routes.token,
  routes.revocation,
  routes.pushed_authorization_request,
]);
const maxBodyBytes = 64 * 1024;

export async function startAuthorizationServer(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  assertOptions(options);
  silenceOidcProviderNotices();
  // Imported here, after the notice filter, because the package warns as soon as it loads.
  const { default: ProviderClass, errors } = await import("oidc-provider");

  const clients = new Map<string, RegisteredClient>();
  const store = new OidcProviderStore((clientId) => clients.get(clientId)?.metadata);
  const counters = zeroCounters();
  const serverErrors: Error[] = [];
  let outage: "error" | "hang" | null = null;
  let tokenDelayMs = 0;
  const oneAtATime = perKeyQueue();

  // The issuer must contain the port, so the provider is built once the server listens.
  let providerCallback: ProviderCallback | undefined;
  const server = createServer((req, res) => {
    if (!providerCallback) return respondJson(res, 503, { error: "temporarily_unavailable" });
    void handleRequest(providerCallback, req, res).catch((error: unknown) => {
      serverErrors.push(error instanceof Error ? error : new Error(String(error)));
      if (!res.headersSent) respondJson(res, 500, { error: "server_error" });
    });
  });
  // Node closes an idle keep-alive socket after 5 s; a client whose idle timer runs late (a busy
  // event loop: PGlite runs in-process) may send on it just as it closes and get ECONNRESET.
  // Real providers keep sockets far longer; so does the harness.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new ProviderClass(issuer, await providerConfiguration(options, store, errors));
  watchProvider(provider, counters, serverErrors);
  providerCallback = provider.callback();

  async function handleRequest(toProvider: ProviderCallback, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", issuer).pathname;
    const isTokenRequest = req.method === "POST" && path === routes.token;
    if (isTokenRequest) {
      counters.tokenRequests++;
      if (outage) {
        counters.outageResponses++;
        // "hang": leave the request open; the client's abort (or close()) ends it.
        if (outage === "error") respondJson(res, 503, { error: "temporarily_unavailable" });
        return;
      }
    }
    if (req.method !== "POST" || !clientAuthenticatedPaths.has(path)) return void toProvider(req, res);

    // The body is read before the delay: a request the server has received is processed even
    // when its client gives up waiting, which is how a rotated refresh token gets lost.
    const body = await readBody(req);
    if (body === "aborted") return;
    if (body === "too-large")
      return respondJson(res, 413, { error: "invalid_request", error_description: "request body too large" });
    if (isTokenRequest && tokenDelayMs > 0) await sleep(tokenDelayMs);
    const params = new URLSearchParams(body);
    if (!usesRegisteredAuthMethod(req.headers, params, clients)) {
      if (isTokenRequest && params.get("grant_type") === "refresh_token") counters.failedRefreshGrants++;
      return rejectClientAuthentication(res, req.headers, issuer);
    }
    // oidc-provider reads an already-consumed body from req.body (see its selective_body.js).
    Object.assign(req, { body });
    // Requests spending the same refresh token run one after the other, so a double spend is
    // always seen as reuse (as with a transactional store), never a coin toss on interleaving.
    const refreshToken = isTokenRequest ? params.get("refresh_token") : null;
    if (refreshToken) return oneAtATime(refreshToken, () => toProvider(req, res));
    await toProvider(req, res);
  }

  const endpoints = {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    authorizationEndpoint: `${issuer}${routes.authorization}`,
    tokenEndpoint: `${issuer}${routes.token}`,
    revocationEndpoint: `${issuer}${routes.revocation}`,
    userinfoEndpoint: `${issuer}${routes.userinfo}`,
    jwksUri: `${issuer}${routes.jwks}`,
  };

  const authorize = (authorizationUrl: string, user: { login: string; deny?: boolean }) =>
    driveBrowser(issuer, authorizationUrl, user);

  return {
    ...endpoints,
    counters,
    serverErrors,
    addClient(client) {
      const registered = registerClient(client);
      // Validate now, so a bad test client fails here rather than as an opaque invalid_client later.
      validateClientMetadata(provider, registered.metadata);
      clients.set(client.clientId, registered);
    },
    authorize,
    async obtainTokens(input) {
      const registered = clients.get(input.clientId);
      if (!registered) throw new Error(`obtainTokens: unknown client ${input.clientId}`);
      return runCodeFlow(endpoints, registered, input, authorize);
    },
    async userinfoSub(accessToken) {
      const response = await fetch(endpoints.userinfoEndpoint, { headers: { authorization: `Bearer ${accessToken}` } });
      if (!response.ok) {
        throw new Error(
          `userinfo rejected the access token: ${response.status} ${response.headers.get("www-authenticate") ?? ""}`,
        );
      }
      const claims = (await response.json()) as { sub?: unknown };
      if (typeof claims.sub !== "string") throw new Error("userinfo answered without a sub");
      return claims.sub;
    },
    async isRefreshTokenActive(refreshToken) {
      const token = await provider.RefreshToken.find(refreshToken);
      if (!token?.isValid || !token.grantId) return false;
      const grant = await provider.Grant.find(token.grantId);
      return grant !== undefined && !grant.isExpired;
    },
    resetCounters() {
      Object.assign(counters, zeroCounters());
    },
    async revokeGrantsOf(login) {
      store.revokeGrantsOf(login);
    },
    setOutage(mode) {
      outage = mode;
    },
    setTokenDelay(ms) {
      tokenDelayMs = Math.max(0, ms);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

type ProviderCallback = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function assertOptions(options: AuthorizationServerOptions): void {
  const ttl = options.accessTokenTtlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1)) {
    throw new Error(`startAuthorizationServer: accessTokenTtlSeconds must be a positive integer, got ${ttl}`);
  }
}

/** Runs tasks sharing a key strictly one after another; tasks with different keys run freely. */
function perKeyQueue(): (key: string, task: () => Promise<void>) => Promise<void> {
  const tails = new Map<string, Promise<void>>();
  return async (key, task) => {
    const run = (tails.get(key) ?? Promise.resolve()).then(task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

interface RegisteredClient {
  authMethod: TokenEndpointAuthMethod;
  secret: string | undefined;
  metadata: AdapterPayload;
}

function registerClient(client: TestClient): RegisteredClient {
  const authMethod = client.tokenEndpointAuthMethod ?? (client.clientSecret ? "client_secret_basic" : "none");
  if (authMethod !== "none" && !client.clientSecret) {
    throw new Error(`addClient: ${client.clientId} uses ${authMethod} and needs a clientSecret`);
  }
  const metadata: AdapterPayload = {
    client_id: client.clientId,
    redirect_uris: client.redirectUris,
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: authMethod,
  };
  if (authMethod !== "none") metadata.client_secret = client.clientSecret;
  if (client.scope !== undefined) metadata.scope = client.scope;
  return { authMethod, secret: authMethod === "none" ? undefined : client.clientSecret, metadata };
}

/** Client.validate is async; the constructor it wraps validates synchronously (and is untyped). */
function validateClientMetadata(provider: Provider, metadata: AdapterPayload): void {
  const ClientModel = provider.Client as unknown as new (metadata: AdapterPayload) => object;
  try {
    new ClientModel(metadata);
  } catch (error) {
    const description =
      error instanceof Error && "error_description" in error
        ? `${error.message}: ${String(error.error_description)}`
        : String(error);
    throw new Error(`addClient ${String(metadata.client_id)}: ${description}`, { cause: error });
  }
}

async function providerConfiguration(
  options: AuthorizationServerOptions,
  store: OidcProviderStore,
  providerErrors: typeof errors,
): Promise<Configuration> {
  const accessTokenTtl = options.accessTokenTtlSeconds ?? 3600;
  return {
    adapter: store.adapter,
    jwks: { keys: [await signingKey()] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    routes,
    scopes: supportedScopes,
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
    },
    findAccount: (_ctx, sub) => testAccount(sub),
    pkce: { required: () => true },
    rotateRefreshToken: options.refreshTokenRotation ?? true,
    // Refresh tokens for every client allowed the grant, without the offline_access + prompt=consent dance.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    // ...and they outlive the dev login session, as refresh tokens of real providers do.
    expiresWithSession: () => false,
    features: {
      devInteractions: { enabled: true },
      revocation: {
        enabled: true,
        // oidc-provider's default policy, stated here so it does not print a notice when used.
        allowedPolicy: (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === "none") return false;
          throw new providerErrors.InvalidRequest("client is not authorized to revoke the presented token");
        },
      },
      userinfo: { enabled: true },
      // Without resource indicators, custom scopes such as api:read are plain granted scopes.
      resourceIndicators: { enabled: false },
    },
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Interaction: 600,
      Session: 600,
    },
    renderError: (ctx, out) => {
      ctx.type = "json";
      ctx.body = out;
    },
  };
}

async function signingKey() {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg: "RS256", use: "sig", kid: randomBytes(8).toString("hex") };
}

function testAccount(login: string): Account {
  return {
    accountId: login,
    claims: () => ({
      sub: login,
      email: `${login}@example.test`,
      email_verified: true,
      name: `Test User ${login}`,
      preferred_username: login,
    }),
  };
}

function watchProvider(provider: Provider, counters: AuthorizationServerCounters, serverErrors: Error[]): void {
  provider.on("grant.success", (ctx) => {
    const grantType = grantTypeOf(ctx);
    if (grantType === "authorization_code") counters.authorizationCodeGrants++;
    if (grantType === "refresh_token") counters.refreshGrants++;
  });
  provider.on("grant.error", (ctx) => {
    if (grantTypeOf(ctx) === "refresh_token") counters.failedRefreshGrants++;
  });
  provider.on("grant.revoked", () => {
    counters.grantsRevoked++;
  });
  provider.on("server_error", (_ctx, error) => {
    serverErrors.push(error);
  });
  // Koa would print errors that escape its middleware; keep them for the test to inspect instead.
  (provider as EventEmitter).on("error", (error: Error) => {
    serverErrors.push(error);
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method === "POST" && ctx.path === routes.revocation && ctx.status === 200) counters.revocations++;
  });
}

function grantTypeOf(ctx: KoaContextWithOIDC): unknown {
  return ctx.oidc?.params?.grant_type;
}

function zeroCounters(): AuthorizationServerCounters {
  return {
    tokenRequests: 0,
    authorizationCodeGrants: 0,
    refreshGrants: 0,
    failedRefreshGrants: 0,
    revocations: 0,
    grantsRevoked: 0,
    outageResponses: 0,
  };
}

/**
 * oidc-provider accepts a secret either in the Basic header or in the body for clients of both
 * secret methods; real providers (and OpenID Connect's registration metadata) do not.
 */
function usesRegisteredAuthMethod(
  headers: IncomingHttpHeaders,
  params: URLSearchParams,
  clients: Map<string, RegisteredClient>,
): boolean {
  const basicClientId = basicAuthClientId(headers.authorization);
  const used =
    basicClientId !== undefined
      ? "client_secret_basic"
      : params.has("client_secret")
        ? "client_secret_post"
        : undefined;
  const clientId = basicClientId ?? params.get("client_id");
  if (used === undefined || clientId === null) return true;
  const registered = clients.get(clientId)?.authMethod;
  return registered === undefined || registered === used;
}

function basicAuthClientId(authorization: string | undefined): string | undefined {
  const match = /^basic\s+(\S+)$/i.exec(authorization ?? "");
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const separator = decoded.indexOf(":");
  if (separator === -1) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, separator).replace(/\+/g, "%20"));
  } catch {
    return undefined;
  }
}

function rejectClientAuthentication(res: ServerResponse, headers: IncomingHttpHeaders, issuer: string): void {
  const body = { error: "invalid_client", error_description: "client authentication failed" };
  const extra: Record<string, string> = {};
  if (headers.authorization !== undefined) {
    extra["www-authenticate"] =
      `Basic realm="${issuer}", error="invalid_client", error_description="client authentication failed"`;
  }
  respondJson(res, 401, body, extra);
}

async function readBody(req: IncomingMessage): Promise<string | "too-large" | "aborted"> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > maxBodyBytes) return "too-large";
      chunks.push(buffer);
    }
  } catch {
    return "aborted";
  }
  return Buffer.concat(chunks).toString("utf8");
}

function respondJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

async function driveBrowser(
  issuer: string,
  authorizationUrl: string,
  user: { login: string; deny?: boolean },
): Promise<URL> {
  const jar = new CookieJar();
  let url = new URL(authorizationUrl);
  if (url.origin !== issuer) throw new Error(`authorize: ${url.origin} is not this authorization server (${issuer})`);
  let response = await browserRequest(jar, url);
  for (let step = 0; step < 20; step++) {
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url);
      if (!isServerPage(issuer, url)) return url;
      response = await browserRequest(jar, url);
      continue;
    }
    if (response.status === 200 && url.pathname.startsWith("/interaction/")) {
      response = await submitInteraction(jar, url, await response.text(), user);
      continue;
    }
    throw new Error(`authorize: ${response.status} at ${url.pathname}: ${(await response.text()).slice(0, 500)}`);
  }
  throw new Error("authorize: too many redirects");
}

function isServerPage(issuer: string, url: URL): boolean {
  return (
    url.origin === issuer &&
    (url.pathname.startsWith(`${routes.authorization}`) || url.pathname.startsWith("/interaction/"))
  );
}

async function submitInteraction(
  jar: CookieJar,
  url: URL,
  page: string,
  user: { login: string; deny?: boolean },
): Promise<Response> {
  if (user.deny) return browserRequest(jar, new URL(`${url.pathname}/abort`, url));
  const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
  if (prompt === "login")
    return browserRequest(jar, url, new URLSearchParams({ prompt, login: user.login, password: "test" }));
  if (prompt === "consent") return browserRequest(jar, url, new URLSearchParams({ prompt }));
  throw new Error(`authorize: unexpected interaction page at ${url.pathname}`);
}

async function browserRequest(jar: CookieJar, url: URL, form?: URLSearchParams): Promise<Response> {
  const headers: Record<string, string> = { accept: "text/html" };
  const cookie = jar.headerFor(url);
  if (cookie) headers.cookie = cookie;
  const init: RequestInit = { redirect: "manual", headers };
  if (form) {
    init.method = "POST";
    init.body = form;
  }
  const response = await fetch(url, init);
  jar.store(url, response);
  return response;
}

async function runCodeFlow(
  endpoints: { authorizationEndpoint: string; tokenEndpoint: string; issuer: string },
  client: RegisteredClient,
  input: { clientId: string; clientSecret?: string; redirectUri: string; scope: string; login: string },
  authorize: (url: string, user: { login: string }) => Promise<URL>,
): Promise<TokenSet> {
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(16).toString("base64url");
  const url = new URL(endpoints.authorizationEndpoint);
  url.search = new URLSearchParams({
    client_id: input.clientId,
    response_type: "code",
    redirect_uri: input.redirectUri,
    scope: input.scope,
    state,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  const callback = await authorize(url.href, { login: input.login });
  const code = callback.searchParams.get("code");
  if (!code || callback.searchParams.get("state") !== state || callback.searchParams.get("iss") !== endpoints.issuer) {
    throw new Error(`obtainTokens: authorization failed: ${callback.search}`);
  }
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: input.redirectUri,
    code_verifier: verifier,
  });
  const response = await fetch(endpoints.tokenEndpoint, {
    method: "POST",
    ...clientAuthentication(client, input.clientId, input.clientSecret ?? client.secret, body),
  });
  const tokens = (await response.json()) as Partial<TokenSet> & { error?: string };
  if (!response.ok || !tokens.access_token || !tokens.refresh_token) {
    throw new Error(`obtainTokens: token endpoint answered ${response.status} ${tokens.error ?? ""}`);
  }
  return tokens as TokenSet;
}

function clientAuthentication(
  client: RegisteredClient,
  clientId: string,
  secret: string | undefined,
  body: URLSearchParams,
): { headers: Record<string, string>; body: URLSearchParams } {
  const headers: Record<string, string> = { accept: "application/json" };
  if (client.authMethod === "client_secret_basic") {
    const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");
    headers.authorization = `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret ?? "")}`).toString("base64")}`;
  } else {
    body.set("client_id", clientId);
    if (client.authMethod === "client_secret_post") body.set("client_secret", secret ?? "");
  }
  return { headers, body };
}
