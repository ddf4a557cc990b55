/**
 * The demo provider over HTTP, as a browser and a client use it: its labelled sign-in and consent
 * pages, authorization code + PKCE, refresh tokens, revocation, and the calendar API's answers
 * to good and bad tokens.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJar } from "../../../packages/server/test/support/cookie-jar.ts";
import { type DemoProvider, eventsFor, startDemoProvider } from "./provider.ts";

const client = {
  clientId: "demo-client",
  clientSecret: "demo-client-secret-value",
  redirectUri: "http://localhost:4410/oauth/callback",
};
const basic = `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString("base64")}`;

describe("the demo provider", () => {
  let provider: DemoProvider;

  beforeAll(async () => {
    provider = await startDemoProvider({ port: 0, client });
  });
  afterAll(async () => {
    await provider?.close();
  });

  /** A browser at the authorization URL, up to the first interaction page. */
  async function startAuthorization(scope: string) {
    const jar = new CookieJar();
    const verifier = randomBytes(32).toString("base64url");
    const state = randomBytes(8).toString("hex");
    const url = new URL(`${provider.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: client.clientId,
      response_type: "code",
      redirect_uri: client.redirectUri,
      scope,
      state,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    }).toString();
    const request = async (target: string, form?: Record<string, string>) => {
      const at = new URL(target, provider.issuer);
      const cookie = jar.headerFor(at);
      const response = await fetch(at, {
        redirect: "manual",
        headers: { accept: "text/html", ...(cookie && { cookie }) },
        ...(form && { method: "POST", body: new URLSearchParams(form) }),
      });
      jar.store(at, response);
      return response;
    };
    const first = await request(url.href);
    expect(first.status).toBe(303);
    const interaction = first.headers.get("location") ?? "";
    expect(interaction).toMatch(/^\/interaction\//);
    return { request, interaction, verifier, state };
  }

  /** Follows redirects on the provider until a page (200) or a redirect away from it. */
  async function follow(request: (target: string) => Promise<Response>, response: Response): Promise<Response> {
    let current = response;
    while (current.status >= 300 && current.status < 400) {
      const location = new URL(current.headers.get("location") ?? "", provider.issuer);
      if (location.origin !== provider.issuer) return current;
      current = await request(location.href);
    }
    return current;
  }

  async function connect(login: string, scope: string) {
    const flow = await startAuthorization(scope);
    const loginPage = await flow.request(flow.interaction);
    expect(loginPage.status).toBe(200);
    const loggedIn = await follow(flow.request, await flow.request(`${flow.interaction}/login`, { login }));
    const consentPage = await loggedIn.text();
    expect(consentPage).toContain("Allow access to your calendar?");
    // The consent step is an interaction of its own: its form says where to answer.
    const confirm = /action="(\/interaction\/[\w-]+\/confirm)"/.exec(consentPage)?.[1] ?? "";
    const done = await follow(flow.request, await flow.request(confirm, {}));
    const callback = new URL(done.headers.get("location") ?? "");
    expect(`${callback.origin}${callback.pathname}`).toBe(client.redirectUri);
    expect(callback.searchParams.get("state")).toBe(flow.state);
    const code = callback.searchParams.get("code") ?? "";
    return tokenRequest({
      grant_type: "authorization_code",
      code,
      redirect_uri: client.redirectUri,
      code_verifier: flow.verifier,
    });
  }

  async function tokenRequest(body: Record<string, string>) {
    const response = await fetch(`${provider.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic },
      body: new URLSearchParams(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { access_token: string; refresh_token: string; scope: string };
  }

  const events = (token?: string, method = "GET") =>
    fetch(provider.eventsUrl, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  it("publishes discovery with PKCE S256 and a revocation endpoint", async () => {
    const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery.issuer).toBe(provider.issuer);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);
    expect(discovery.revocation_endpoint).toBe(`${provider.issuer}/token/revocation`);
    expect(discovery.scopes_supported).toContain("calendar.read");
  });

  it("labels its sign-in page as a demo and refuses an unusable account name", async () => {
    const flow = await startAuthorization("openid calendar.read");
    const page = await (await flow.request(flow.interaction)).text();
    expect(page).toContain("Demo provider — not a real account");
    expect(page).toContain("Calendar demo (through Latchkey)");
    const refused = await flow.request(`${flow.interaction}/login`, { login: "not a name!" });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("Use 1–40 letters");
    const empty = await flow.request(`${flow.interaction}/login`, {});
    expect(empty.status).toBe(400);
  });

  it("answers an unknown or expired interaction with a page, not a crash", async () => {
    const response = await fetch(`${provider.issuer}/interaction/no-such-uid`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("This sign-in has expired");
  });

  it("takes the user back to the client with access_denied when they cancel", async () => {
    const flow = await startAuthorization("openid calendar.read");
    const back = await follow(flow.request, await flow.request(`${flow.interaction}/abort`, {}));
    const callback = new URL(back.headers.get("location") ?? "");
    expect(callback.searchParams.get("error")).toBe("access_denied");
  });

  it("serves the account's events for a token with calendar.read, and refreshes it", async () => {
    const tokens = await connect("ada", "openid email calendar.read");
    expect(tokens.scope.split(" ")).toContain("calendar.read");
    const answer = await events(tokens.access_token);
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { account: string; events: { title: string }[] };
    expect(body.account).toBe("ada");
    expect(body.events.map((e) => e.title)).toEqual(eventsFor("ada", new Date()).map((e) => e.title));

    const refreshed = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await events(refreshed.access_token)).status).toBe(200);
  });

  it("refuses a missing, malformed, unknown or revoked token, a token without calendar.read, and other methods", async () => {
    const missing = await events();
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toContain("Bearer");
    const malformed = await fetch(provider.eventsUrl, { headers: { authorization: "Basic abc" } });
    expect(malformed.status).toBe(401);
    const unknown = await events("not-a-token");
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: "invalid_token" });

    const narrow = await connect("bo", "openid");
    const forbidden = await events(narrow.access_token);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: "insufficient_scope" });

    const tokens = await connect("cy", "openid calendar.read");
    const revoked = await fetch(`${provider.issuer}/token/revocation`, {
      method: "POST",
      headers: { authorization: basic },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(revoked.status).toBe(200);
    expect((await events(tokens.access_token)).status).toBe(401);

    const post = await events(tokens.access_token, "POST");
    expect(post.status).toBe(405);
  });

  it("gives each account its own events", () => {
    const now = new Date("2026-03-02T08:00:00Z");
    const ada = eventsFor("ada", now);
    expect(ada[0]).toEqual({
      id: "evt_ada_1",
      title: "Stand-up with Ada's team",
      start: "2026-03-02T09:00:00.000Z",
      end: "2026-03-02T09:15:00.000Z",
      location: "Video call",
    });
    expect(eventsFor("bo", now)[0]?.title).toBe("Stand-up with Bo's team");
  });
});
