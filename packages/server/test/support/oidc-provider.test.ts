import * as oauth from "oauth4webapi";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startAuthorizationServer, type AuthorizationServer, type TestClient } from "./oidc-provider.ts";

const redirectUri = "http://127.0.0.1:9/oauth/callback";
const insecure = { [oauth.allowInsecureRequests]: true } as const;

interface FlowClient {
  id: string;
  auth: oauth.ClientAuth;
}

const basicClient = {
  clientId: "basic-client",
  clientSecret: "basic-secret",
  redirectUris: [redirectUri],
} satisfies TestClient;
const postClient = {
  clientId: "post-client",
  clientSecret: "post-secret",
  redirectUris: [redirectUri],
  tokenEndpointAuthMethod: "client_secret_post",
} satisfies TestClient;
const publicClient = {
  clientId: "public-client",
  redirectUris: [redirectUri],
  tokenEndpointAuthMethod: "none",
} satisfies TestClient;

const asBasic: FlowClient = { id: basicClient.clientId, auth: oauth.ClientSecretBasic(basicClient.clientSecret) };
const asPost: FlowClient = { id: postClient.clientId, auth: oauth.ClientSecretPost(postClient.clientSecret) };
const asPublic: FlowClient = { id: publicClient.clientId, auth: oauth.None() };

async function discover(server: AuthorizationServer): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(server.issuer);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
}

async function authorizationUrl(
  server: AuthorizationServer,
  client: FlowClient,
  { scope, state, prompt, pkce = true }: { scope: string; state: string; prompt?: string; pkce?: boolean },
): Promise<{ url: string; verifier: string }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(server.authorizationEndpoint);
  url.searchParams.set("client_id", client.id);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("scope", scope);
  url.searchParams.set("state", state);
  if (prompt) url.searchParams.set("prompt", prompt);
  if (pkce) {
    url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set("code_challenge_method", "S256");
  }
  return { url: url.href, verifier };
}

async function connect(
  server: AuthorizationServer,
  as: oauth.AuthorizationServer,
  client: FlowClient,
  { login, scope = "openid email api:read", prompt }: { login: string; scope?: string; prompt?: string },
): Promise<oauth.TokenEndpointResponse> {
  const state = oauth.generateRandomState();
  const { url, verifier } = await authorizationUrl(server, client, { scope, state, ...(prompt ? { prompt } : {}) });
  const callback = await server.authorize(url, { login });
  const params = oauth.validateAuthResponse(as, { client_id: client.id }, callback, state);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    { client_id: client.id },
    client.auth,
    params,
    redirectUri,
    verifier,
    insecure,
  );
  return oauth.processAuthorizationCodeResponse(as, { client_id: client.id }, response);
}

async function refresh(
  as: oauth.AuthorizationServer,
  client: FlowClient,
  refreshToken: string,
  options: oauth.TokenEndpointRequestOptions = {},
): Promise<oauth.TokenEndpointResponse> {
  const response = await oauth.refreshTokenGrantRequest(as, { client_id: client.id }, client.auth, refreshToken, {
    ...insecure,
    ...options,
  });
  return oauth.processRefreshTokenResponse(as, { client_id: client.id }, response);
}

async function oauthErrorOf(promise: Promise<unknown>): Promise<{ error: string; status: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) return { error: error.error, status: error.status };
    // A 401 with a WWW-Authenticate challenge (HTTP Basic client authentication failed).
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      return { error: String(error.cause[0]?.parameters.error), status: error.response.status };
    }
    throw error;
  }
  throw new Error("expected an OAuth error response");
}

function refreshTokenOf(tokens: oauth.TokenEndpointResponse): string {
  if (!tokens.refresh_token) throw new Error("no refresh token issued");
  return tokens.refresh_token;
}

describe("test authorization server (oidc-provider)", () => {
  let server: AuthorizationServer;
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    server = await startAuthorizationServer();
    for (const client of [basicClient, postClient, publicClient]) server.addClient(client);
    as = await discover(server);
  });
  afterAll(async () => {
    await server.close();
  });
  afterEach(() => {
    server.setOutage(null);
    server.setTokenDelay(0);
    expect(server.serverErrors.splice(0)).toEqual([]);
  });

  it("publishes discovery metadata with its endpoints, S256 PKCE and RFC 9207 iss support", () => {
    expect(as.issuer).toBe(server.issuer);
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(as.authorization_endpoint).toBe(server.authorizationEndpoint);
    expect(as.token_endpoint).toBe(server.tokenEndpoint);
    expect(as.revocation_endpoint).toBe(server.revocationEndpoint);
    expect(as.userinfo_endpoint).toBe(server.userinfoEndpoint);
    expect(as.jwks_uri).toBe(server.jwksUri);
    expect(as.code_challenge_methods_supported).toEqual(["S256"]);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.scopes_supported).toEqual(
      expect.arrayContaining(["openid", "email", "profile", "offline_access", "api:read", "api:write"]),
    );
  });

  it("runs the code flow with PKCE through authorize() and issues access, refresh and id tokens", async () => {
    server.resetCounters();
    const tokens = await connect(server, as, asBasic, { login: "alice" });

    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.id_token).toEqual(expect.any(String));
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.scope?.split(" ").sort()).toEqual(["api:read", "email", "openid"]);
    expect(oauth.getValidatedIdTokenClaims(tokens)?.sub).toBe("alice");
    expect(await server.userinfoSub(tokens.access_token)).toBe("alice");
    expect(server.counters).toMatchObject({ tokenRequests: 1, authorizationCodeGrants: 1, refreshGrants: 0 });
  });

  it("puts iss and state in the authorization response", async () => {
    const state = oauth.generateRandomState();
    const { url } = await authorizationUrl(server, asBasic, { scope: "openid", state });

    const callback = await server.authorize(url, { login: "alice" });

    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get("iss")).toBe(server.issuer);
    expect(callback.searchParams.get("state")).toBe(state);
    expect(callback.searchParams.get("code")).toEqual(expect.any(String));
  });

  it("redirects with error=access_denied (and iss) when the user denies", async () => {
    const state = oauth.generateRandomState();
    const { url } = await authorizationUrl(server, asBasic, { scope: "openid email", state });

    const callback = await server.authorize(url, { login: "alice", deny: true });

    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("iss")).toBe(server.issuer);
    expect(callback.searchParams.get("state")).toBe(state);
    expect(callback.searchParams.has("code")).toBe(false);
    expect(() => oauth.validateAuthResponse(as, { client_id: asBasic.id }, callback, state)).toThrow(
      oauth.AuthorizationResponseError,
    );
  });

  it("requires PKCE, even from confidential clients", async () => {
    const state = oauth.generateRandomState();
    const { url } = await authorizationUrl(server, asBasic, { scope: "openid", state, pkce: false });

    const callback = await server.authorize(url, { login: "alice" });

    expect(callback.searchParams.get("error")).toBe("invalid_request");
    expect(callback.searchParams.get("error_description")).toMatch(/PKCE/);
    expect(callback.searchParams.has("code")).toBe(false);
  });

  it("rejects a code redeemed with the wrong PKCE verifier", async () => {
    const state = oauth.generateRandomState();
    const { url } = await authorizationUrl(server, asBasic, { scope: "openid", state });
    const params = oauth.validateAuthResponse(
      as,
      { client_id: asBasic.id },
      await server.authorize(url, { login: "alice" }),
      state,
    );

    const wrongVerifier = oauth.generateRandomCodeVerifier();
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      { client_id: asBasic.id },
      asBasic.auth,
      params,
      redirectUri,
      wrongVerifier,
      insecure,
    );

    expect(await oauthErrorOf(oauth.processAuthorizationCodeResponse(as, { client_id: asBasic.id }, response))).toEqual(
      {
        error: "invalid_grant",
        status: 400,
      },
    );
  });

  it("gives two users different subs at userinfo", async () => {
    const alice = await connect(server, as, asBasic, { login: "alice" });
    const bob = await connect(server, as, asBasic, { login: "bob" });

    expect(await server.userinfoSub(alice.access_token)).toBe("alice");
    expect(await server.userinfoSub(bob.access_token)).toBe("bob");
  });

  it("answers userinfo with the account's claims for the granted scopes", async () => {
    const tokens = await connect(server, as, asBasic, { login: "carol", scope: "openid email profile" });
    const response = await oauth.userInfoRequest(as, { client_id: asBasic.id }, tokens.access_token, insecure);

    const claims = await oauth.processUserInfoResponse(as, { client_id: asBasic.id }, "carol", response);

    expect(claims).toMatchObject({ sub: "carol", email: "carol@example.test", name: expect.stringContaining("carol") });
  });

  it("rotates refresh tokens, and a replayed spent one revokes the whole grant", async () => {
    const first = await connect(server, as, asBasic, { login: "alice" });
    const original = refreshTokenOf(first);
    server.resetCounters();

    const second = await refresh(as, asBasic, original);
    const rotated = refreshTokenOf(second);
    expect(rotated).not.toBe(original);
    expect(await server.userinfoSub(second.access_token)).toBe("alice");
    expect(await server.isRefreshTokenActive(original)).toBe(false);
    expect(await server.isRefreshTokenActive(rotated)).toBe(true);

    expect(await oauthErrorOf(refresh(as, asBasic, original))).toEqual({ error: "invalid_grant", status: 400 });

    expect(await server.isRefreshTokenActive(rotated)).toBe(false);
    expect(await oauthErrorOf(refresh(as, asBasic, rotated))).toEqual({ error: "invalid_grant", status: 400 });
    await expect(server.userinfoSub(second.access_token)).rejects.toThrow(/401/);
    expect(server.counters).toMatchObject({
      tokenRequests: 3,
      refreshGrants: 1,
      failedRefreshGrants: 2,
      grantsRevoked: 1,
    });
  });

  it("detects a double spend of one refresh token by concurrent requests as reuse", async () => {
    const tokens = await connect(server, as, asBasic, { login: "alice" });
    server.resetCounters();
    server.setTokenDelay(100);

    const outcomes = await Promise.allSettled([1, 2].map(() => refresh(as, asBasic, refreshTokenOf(tokens))));

    const winner = outcomes.find((outcome) => outcome.status === "fulfilled");
    const loser = outcomes.find((outcome) => outcome.status === "rejected");
    expect(winner).toBeDefined();
    expect(loser?.reason).toBeInstanceOf(oauth.ResponseBodyError);
    if (loser?.status !== "rejected") throw new Error("expected one refresh to fail");
    expect((loser.reason as oauth.ResponseBodyError).error).toBe("invalid_grant");
    if (winner?.status !== "fulfilled") throw new Error("unreachable");
    expect(await server.isRefreshTokenActive(refreshTokenOf(winner.value))).toBe(false);
    expect(server.counters).toMatchObject({ refreshGrants: 1, failedRefreshGrants: 1, grantsRevoked: 1 });
  });

  it("rejects a refresh token presented by another client", async () => {
    const tokens = await connect(server, as, asBasic, { login: "alice" });

    expect(await oauthErrorOf(refresh(as, asPost, refreshTokenOf(tokens)))).toEqual({
      error: "invalid_grant",
      status: 400,
    });
    expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
  });

  it("keeps the same refresh token when rotation is off", async () => {
    const fixed = await startAuthorizationServer({ refreshTokenRotation: false, accessTokenTtlSeconds: 60 });
    try {
      fixed.addClient(basicClient);
      const fixedAs = await discover(fixed);
      const tokens = await connect(fixed, fixedAs, asBasic, { login: "alice" });
      expect(tokens.expires_in).toBe(60);

      const once = await refresh(fixedAs, asBasic, refreshTokenOf(tokens));
      const twice = await refresh(fixedAs, asBasic, refreshTokenOf(tokens));

      expect(once.refresh_token ?? tokens.refresh_token).toBe(tokens.refresh_token);
      expect(twice.access_token).not.toBe(once.access_token);
      expect(fixed.counters.refreshGrants).toBe(2);
      expect(await fixed.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
    } finally {
      await fixed.close();
    }
  });

  it("issues refresh tokens whether or not offline_access is requested", async () => {
    const withoutPrompt = await connect(server, as, asBasic, { login: "alice", scope: "openid offline_access" });
    const withConsentPrompt = await connect(server, as, asBasic, {
      login: "alice",
      scope: "openid offline_access",
      prompt: "consent",
    });
    const plainOAuth = await connect(server, as, asBasic, { login: "alice", scope: "api:read api:write" });

    expect(await server.isRefreshTokenActive(refreshTokenOf(withoutPrompt))).toBe(true);
    expect(withConsentPrompt.scope?.split(" ")).toContain("offline_access");
    expect(await server.isRefreshTokenActive(refreshTokenOf(withConsentPrompt))).toBe(true);
    expect(plainOAuth.id_token).toBeUndefined();
    expect(plainOAuth.scope?.split(" ").sort()).toEqual(["api:read", "api:write"]);
    expect(refreshTokenOf(await refresh(as, asBasic, refreshTokenOf(plainOAuth)))).toEqual(expect.any(String));
  });

  it("revokes a refresh token at the revocation endpoint, taking its grant with it", async () => {
    const tokens = await connect(server, as, asBasic, { login: "alice" });
    server.resetCounters();

    const response = await oauth.revocationRequest(
      as,
      { client_id: asBasic.id },
      asBasic.auth,
      refreshTokenOf(tokens),
      insecure,
    );
    await oauth.processRevocationResponse(response);

    expect(server.counters.revocations).toBe(1);
    expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(false);
    expect(await oauthErrorOf(refresh(as, asBasic, refreshTokenOf(tokens)))).toEqual({
      error: "invalid_grant",
      status: 400,
    });
    await expect(server.userinfoSub(tokens.access_token)).rejects.toThrow(/401/);
  });

  it("revokes the grant's refresh tokens too when an access token is revoked (oidc-provider's default, like Google)", async () => {
    const tokens = await connect(server, as, asPost, { login: "alice" });
    const other = await connect(server, as, asPost, { login: "alice" });

    const response = await oauth.revocationRequest(
      as,
      { client_id: asPost.id },
      asPost.auth,
      tokens.access_token,
      insecure,
    );
    await oauth.processRevocationResponse(response);

    await expect(server.userinfoSub(tokens.access_token)).rejects.toThrow(/401/);
    expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(false);
    expect(await server.isRefreshTokenActive(refreshTokenOf(other))).toBe(true);
  });

  it("refuses to let one confidential client revoke another client's token", async () => {
    const tokens = await connect(server, as, asBasic, { login: "alice" });

    const response = await oauth.revocationRequest(
      as,
      { client_id: asPost.id },
      asPost.auth,
      refreshTokenOf(tokens),
      insecure,
    );

    expect(await oauthErrorOf(oauth.processRevocationResponse(response))).toEqual({
      error: "invalid_request",
      status: 400,
    });
    expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
  });

  it("answers 200 to the revocation of an unknown token (RFC 7009)", async () => {
    const response = await oauth.revocationRequest(
      as,
      { client_id: asBasic.id },
      asBasic.auth,
      "never-issued",
      insecure,
    );

    await expect(oauth.processRevocationResponse(response)).resolves.toBeUndefined();
  });

  it("revokeGrantsOf removes every grant of one account and leaves other accounts alone", async () => {
    const aliceA = await connect(server, as, asBasic, { login: "dave" });
    const aliceB = await connect(server, as, asPost, { login: "dave" });
    const bob = await connect(server, as, asBasic, { login: "erin" });

    await server.revokeGrantsOf("dave");

    for (const tokens of [aliceA, aliceB]) {
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(false);
      await expect(server.userinfoSub(tokens.access_token)).rejects.toThrow(/401/);
    }
    expect(await oauthErrorOf(refresh(as, asBasic, refreshTokenOf(aliceA)))).toEqual({
      error: "invalid_grant",
      status: 400,
    });
    expect(await server.isRefreshTokenActive(refreshTokenOf(bob))).toBe(true);
    expect(await server.userinfoSub(bob.access_token)).toBe("erin");
    expect(await server.userinfoSub((await refresh(as, asBasic, refreshTokenOf(bob))).access_token)).toBe("erin");
  });

  describe("client authentication", () => {
    it("rejects a client_secret_basic client that sends its secret in the body, and spends nothing", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      server.resetCounters();

      const wrongMethod: FlowClient = { id: asBasic.id, auth: oauth.ClientSecretPost(basicClient.clientSecret) };

      expect(await oauthErrorOf(refresh(as, wrongMethod, refreshTokenOf(tokens)))).toEqual({
        error: "invalid_client",
        status: 401,
      });
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
      expect(server.counters).toMatchObject({ tokenRequests: 1, refreshGrants: 0, failedRefreshGrants: 1 });
      expect(refreshTokenOf(await refresh(as, asBasic, refreshTokenOf(tokens)))).toEqual(expect.any(String));
    });

    it("rejects a client_secret_post client that uses HTTP Basic", async () => {
      const tokens = await connect(server, as, asPost, { login: "alice" });
      const wrongMethod: FlowClient = { id: asPost.id, auth: oauth.ClientSecretBasic(postClient.clientSecret) };

      expect(await oauthErrorOf(refresh(as, wrongMethod, refreshTokenOf(tokens)))).toEqual({
        error: "invalid_client",
        status: 401,
      });
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
    });

    it("rejects the wrong method at the revocation endpoint too", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      const wrongMethod = oauth.ClientSecretPost(basicClient.clientSecret);

      const response = await oauth.revocationRequest(
        as,
        { client_id: asBasic.id },
        wrongMethod,
        refreshTokenOf(tokens),
        insecure,
      );

      expect(await oauthErrorOf(oauth.processRevocationResponse(response))).toEqual({
        error: "invalid_client",
        status: 401,
      });
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
    });

    it("enforces the registered method at the pushed authorization request endpoint", async () => {
      const state = oauth.generateRandomState();
      const verifier = oauth.generateRandomCodeVerifier();
      const parameters = {
        response_type: "code",
        redirect_uri: redirectUri,
        scope: "openid",
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
      };
      const wrongMethod = oauth.ClientSecretPost(basicClient.clientSecret);
      const refused = await oauth.pushedAuthorizationRequest(
        as,
        { client_id: asBasic.id },
        wrongMethod,
        parameters,
        insecure,
      );
      expect(
        await oauthErrorOf(oauth.processPushedAuthorizationResponse(as, { client_id: asBasic.id }, refused)),
      ).toEqual({
        error: "invalid_client",
        status: 401,
      });

      const accepted = await oauth.pushedAuthorizationRequest(
        as,
        { client_id: asBasic.id },
        asBasic.auth,
        parameters,
        insecure,
      );
      const { request_uri } = await oauth.processPushedAuthorizationResponse(as, { client_id: asBasic.id }, accepted);
      const url = new URL(server.authorizationEndpoint);
      url.search = new URLSearchParams({ client_id: asBasic.id, request_uri }).toString();
      const callback = await server.authorize(url.href, { login: "alice" });

      expect(oauth.validateAuthResponse(as, { client_id: asBasic.id }, callback, state).get("code")).toEqual(
        expect.any(String),
      );
    });

    it("rejects a wrong secret", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      const wrongSecret: FlowClient = { id: asBasic.id, auth: oauth.ClientSecretBasic("not-the-secret") };

      expect(await oauthErrorOf(refresh(as, wrongSecret, refreshTokenOf(tokens)))).toEqual({
        error: "invalid_client",
        status: 401,
      });
    });

    it("serves public clients (none) with PKCE and rotation", async () => {
      const tokens = await connect(server, as, asPublic, { login: "alice" });
      const rotated = await refresh(as, asPublic, refreshTokenOf(tokens));

      expect(refreshTokenOf(rotated)).not.toBe(tokens.refresh_token);
      expect(await server.userinfoSub(rotated.access_token)).toBe("alice");
    });
  });

  describe("failure knobs", () => {
    it("answers 503 at the token endpoint during an outage and spends nothing", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      server.resetCounters();
      server.setOutage("error");

      const response = await oauth.refreshTokenGrantRequest(
        as,
        { client_id: asBasic.id },
        asBasic.auth,
        refreshTokenOf(tokens),
        insecure,
      );

      expect(response.status).toBe(503);
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
      expect(server.counters).toMatchObject({
        tokenRequests: 1,
        outageResponses: 1,
        refreshGrants: 0,
        failedRefreshGrants: 0,
      });

      server.setOutage(null);
      expect(refreshTokenOf(await refresh(as, asBasic, refreshTokenOf(tokens)))).toEqual(expect.any(String));
      expect(server.counters).toMatchObject({ tokenRequests: 2, refreshGrants: 1 });
    });

    it("leaves token requests hanging until the client gives up", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      server.resetCounters();
      server.setOutage("hang");
      const started = Date.now();

      const attempt = refresh(as, asBasic, refreshTokenOf(tokens), { signal: AbortSignal.timeout(300) });

      await expect(attempt).rejects.toThrow(/abort|timeout/i);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(server.counters).toMatchObject({ tokenRequests: 1, outageResponses: 1, refreshGrants: 0 });
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(true);
    });

    it("delays token responses by the configured time", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      server.setTokenDelay(300);
      const started = Date.now();

      await refresh(as, asBasic, refreshTokenOf(tokens));

      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    });

    it("still spends a refresh token whose caller gave up during the delay, as a real server would", async () => {
      const tokens = await connect(server, as, asBasic, { login: "alice" });
      server.resetCounters();
      server.setTokenDelay(400);

      await expect(
        refresh(as, asBasic, refreshTokenOf(tokens), { signal: AbortSignal.timeout(100) }),
      ).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 600));

      expect(server.counters.refreshGrants).toBe(1);
      expect(await server.isRefreshTokenActive(refreshTokenOf(tokens))).toBe(false);
    });
  });

  describe("harness", () => {
    it("obtainTokens returns a working token set without the caller driving a flow", async () => {
      server.resetCounters();
      const tokens = await server.obtainTokens({
        clientId: postClient.clientId,
        redirectUri,
        scope: "openid api:write",
        login: "frank",
      });

      expect(await server.userinfoSub(tokens.access_token)).toBe("frank");
      expect(await server.isRefreshTokenActive(tokens.refresh_token)).toBe(true);
      expect(tokens).toMatchObject({
        token_type: expect.stringMatching(/bearer/i),
        expires_in: 3600,
        id_token: expect.any(String),
      });
      expect(tokens.scope.split(" ").sort()).toEqual(["api:write", "openid"]);
      expect(server.counters).toMatchObject({ tokenRequests: 1, authorizationCodeGrants: 1 });
    });

    it("resetCounters zeroes every counter", async () => {
      await server.obtainTokens({ clientId: basicClient.clientId, redirectUri, scope: "openid", login: "alice" });

      server.resetCounters();

      expect(Object.values(server.counters).every((value) => value === 0)).toBe(true);
    });

    it("close() ends requests left hanging by an outage", async () => {
      const other = await startAuthorizationServer();
      other.addClient(basicClient);
      const otherAs = await discover(other);
      const tokens = await connect(other, otherAs, asBasic, { login: "alice" });
      other.setOutage("hang");

      const hanging = refresh(otherAs, asBasic, refreshTokenOf(tokens));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await other.close();

      await expect(hanging).rejects.toThrow();
    });

    it("refuses an access token lifetime that is not a positive integer", async () => {
      await expect(startAuthorizationServer({ accessTokenTtlSeconds: 0 })).rejects.toThrow(/accessTokenTtlSeconds/);
      await expect(startAuthorizationServer({ accessTokenTtlSeconds: 1.5 })).rejects.toThrow(/accessTokenTtlSeconds/);
    });

    it("isRefreshTokenActive is false for tokens it never issued", async () => {
      expect(await server.isRefreshTokenActive("not-a-refresh-token")).toBe(false);
      expect(await server.isRefreshTokenActive("")).toBe(false);
    });

    it("userinfoSub throws for a token it never issued", async () => {
      await expect(server.userinfoSub("not-an-access-token")).rejects.toThrow(/401/);
    });

    it("enforces a client's scope allow list", async () => {
      server.addClient({
        clientId: "narrow-client",
        clientSecret: "narrow-secret",
        redirectUris: [redirectUri],
        scope: "openid api:read",
      });
      const state = oauth.generateRandomState();
      const { url } = await authorizationUrl(
        server,
        { id: "narrow-client", auth: oauth.None() },
        { scope: "openid api:write", state },
      );

      const callback = await server.authorize(url, { login: "alice" });

      expect(callback.searchParams.get("error")).toBe("invalid_scope");
    });

    it("refuses to register a confidential client without a secret or with a bad redirect URI", () => {
      expect(() =>
        server.addClient({
          clientId: "no-secret",
          redirectUris: [redirectUri],
          tokenEndpointAuthMethod: "client_secret_basic",
        }),
      ).toThrow(/clientSecret/);
      expect(() =>
        server.addClient({ clientId: "bad-redirect", clientSecret: "s", redirectUris: ["not a url"] }),
      ).toThrow(/redirect_uris/);
    });

    it("authorize() explains an authorization request the server refuses to redirect", async () => {
      const state = oauth.generateRandomState();
      const { url } = await authorizationUrl(
        server,
        { id: "unknown-client", auth: oauth.None() },
        { scope: "openid", state },
      );

      await expect(server.authorize(url, { login: "alice" })).rejects.toThrow(/400.*invalid_client/);
    });
  });
});
