/**
 * "Demo Calendar": a DEMO OAuth 2.0 / OpenID Connect authorization server that runs on this
 * machine so the demo needs no real account anywhere. It is panva's oidc-provider (a real,
 * certified authorization server: authorization code + PKCE, refresh tokens with rotation,
 * revocation, discovery) with its own clearly labelled sign-in and consent pages, plus a small
 * resource server: `GET /calendar/events` answers a few events for the account whose access
 * token it is given. Accounts are whatever name the person types; there are no passwords.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Account, Configuration, KoaContextWithOIDC } from "oidc-provider";
import { consentPage, errorPage, homePage, loginPage, type ScopeLine } from "./provider-pages.ts";

export const calendarScope = "calendar.read";

export interface DemoProviderOptions {
  /** The port to listen on (127.0.0.1); 0 for any. */
  port: number;
  /** The one client: Latchkey's connector. */
  client: { clientId: string; clientSecret: string; redirectUri: string };
}

export interface DemoProvider {
  /** http://127.0.0.1:<port> */
  issuer: string;
  eventsUrl: string;
  close(): Promise<void>;
}

export interface CalendarEvent {
  id: string;
  title: string;
  start: string;
  end: string;
  location: string;
}

const maxFormBytes = 16 * 1024;
const accountPattern = /^[a-z0-9][a-z0-9._-]{0,39}$/;

export async function startDemoProvider(options: DemoProviderOptions): Promise<DemoProvider> {
  silenceProviderNotices();
  // Imported after the notice filter: the package warns as soon as it loads on Node 20.
  const { default: Provider } = await import("oidc-provider");

  let handle: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  const server = createServer((req, res) => {
    if (!handle) return sendJson(res, 503, { error: "temporarily_unavailable" });
    handle(req, res).catch((error: unknown) => {
      console.error("[demo provider]", error);
      if (!res.headersSent) sendJson(res, 500, { error: "server_error" });
      else res.end();
    });
  });
  await listen(server, options.port);
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const provider = new Provider(issuer, configuration(options.client));
  const providerCallback = provider.callback();

  handle = async (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    const interaction = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(url.pathname);
    if (interaction) return handleInteraction(provider, req, res, interaction[2]);
    if (url.pathname === "/calendar/events") return handleEvents(provider, req, res);
    if (url.pathname === "/" && req.method === "GET") return sendHtml(res, 200, homePage(issuer));
    await providerCallback(req, res);
  };

  return {
    issuer,
    eventsUrl: `${issuer}/calendar/events`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type ProviderInstance = InstanceType<typeof import("oidc-provider").default>;

function configuration(client: DemoProviderOptions["client"]): Configuration {
  return {
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        client_name: "Calendar demo (through Latchkey)",
        redirect_uris: [client.redirectUri],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    scopes: ["openid", "profile", "email", "offline_access", calendarScope],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
    },
    findAccount: (_ctx: KoaContextWithOIDC, sub: string) => account(sub),
    pkce: { required: () => true },
    rotateRefreshToken: true,
    // Refresh tokens whenever the client may use them, as most real providers do.
    issueRefreshToken: (_ctx, oidcClient) => oidcClient.grantTypeAllowed("refresh_token"),
    expiresWithSession: () => false,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      // Without resource indicators, calendar.read is a plain granted scope on an opaque token.
      resourceIndicators: { enabled: false },
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 120,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Interaction: 600,
      Session: 3600,
    },
    renderError: (ctx, out) => {
      ctx.type = "html";
      ctx.body = errorPage({ ...out });
    },
  };
}

function signingKey() {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), alg: "RS256", use: "sig", kid: randomBytes(8).toString("hex") };
}

function account(login: string): Account {
  return {
    accountId: login,
    claims: () => ({
      sub: login,
      email: `${login}@demo-calendar.test`,
      email_verified: true,
      name: displayName(login),
      preferred_username: login,
    }),
  };
}

const displayName = (login: string) => login.charAt(0).toUpperCase() + login.slice(1);

// --- sign-in and consent ---------------------------------------------------------------------

async function handleInteraction(
  provider: ProviderInstance,
  req: IncomingMessage,
  res: ServerResponse,
  action: string | undefined,
): Promise<void> {
  let details: Awaited<ReturnType<ProviderInstance["interactionDetails"]>>;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    return sendHtml(res, 400, errorPage({ error: "This sign-in has expired. Go back to the app and start again." }));
  }
  const clientId = String(details.params.client_id ?? "");
  const oidcClient = await provider.Client.find(clientId);
  const clientName = oidcClient?.clientName ?? clientId;
  const uid = details.uid;

  if (req.method === "GET" && action === undefined) {
    if (details.prompt.name === "login") return sendHtml(res, 200, loginPage({ uid, clientName }));
    const scopes = String(details.params.scope ?? "").split(" ");
    return sendHtml(
      res,
      200,
      consentPage({ uid, clientName, account: details.session?.accountId ?? "", scopes: describeScopes(scopes) }),
    );
  }
  if (req.method !== "POST") return sendHtml(res, 405, errorPage({ error: "Method not allowed" }));

  if (action === "abort") {
    return provider.interactionFinished(
      req,
      res,
      { error: "access_denied", error_description: "The user denied access" },
      { mergeWithLastSubmission: false },
    );
  }
  const form = await readForm(req);
  if (form === null) return sendHtml(res, 413, errorPage({ error: "Form too large" }));
  if (action === "login" && details.prompt.name === "login") {
    const login = (form.get("login") ?? "").trim().toLowerCase();
    if (!accountPattern.test(login)) {
      const problem = "Use 1–40 letters, digits, dots, dashes or underscores, starting with a letter or digit.";
      return sendHtml(res, 400, loginPage({ uid, clientName, problem, value: login }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (action === "confirm" && details.prompt.name === "consent") {
    const accountId = details.session?.accountId;
    if (!accountId) return sendHtml(res, 400, errorPage({ error: "Not signed in" }));
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId });
    if (!grant) return sendHtml(res, 400, errorPage({ error: "This consent has expired" }));
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return sendHtml(res, 400, errorPage({ error: "This step does not match the sign-in in progress" }));
}

function describeScopes(scopes: string[]): ScopeLine[] {
  const known: Record<string, string> = {
    openid: "Know who you are at Demo Calendar",
    profile: "See your name",
    email: "See your email address",
    offline_access: "Keep access while you are away",
    [calendarScope]: "See the events in your calendar",
  };
  return scopes.filter((scope) => scope !== "").map((scope) => ({ scope, text: known[scope] ?? scope }));
}

// --- the calendar API (a resource server) ----------------------------------------------------

async function handleEvents(provider: ProviderInstance, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
  const match = /^Bearer ([\w.~+/-]+=*)$/i.exec(req.headers.authorization ?? "");
  if (!match?.[1]) {
    return sendJson(
      res,
      401,
      { error: "invalid_request", error_description: "Bearer access token required" },
      {
        "www-authenticate": 'Bearer realm="demo-calendar"',
      },
    );
  }
  const token = await provider.AccessToken.find(match[1]);
  if (!token?.isValid || !token.accountId) {
    return sendJson(
      res,
      401,
      { error: "invalid_token", error_description: "The access token is invalid or revoked" },
      {
        "www-authenticate": 'Bearer realm="demo-calendar", error="invalid_token"',
      },
    );
  }
  if (
    !String(token.scope ?? "")
      .split(" ")
      .includes(calendarScope)
  ) {
    return sendJson(
      res,
      403,
      { error: "insufficient_scope", scope: calendarScope },
      {
        "www-authenticate": `Bearer realm="demo-calendar", error="insufficient_scope", scope="${calendarScope}"`,
      },
    );
  }
  sendJson(res, 200, { account: token.accountId, events: eventsFor(token.accountId, new Date()) });
}

/** A few events in the coming days, the same ones for the same account on the same day. */
export function eventsFor(accountId: string, now: Date): CalendarEvent[] {
  const name = displayName(accountId);
  const templates = [
    { title: `Stand-up with ${name}'s team`, day: 0, hour: 9, minutes: 15, location: "Video call" },
    { title: "Design review: connections page", day: 0, hour: 14, minutes: 60, location: "Room 3" },
    { title: `1:1 — ${name} and Sam`, day: 1, hour: 11, minutes: 30, location: "Coffee corner" },
    { title: "Latchkey demo day", day: 2, hour: 16, minutes: 45, location: "Main hall" },
  ];
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return templates.map((template, index) => {
    const start = new Date(midnight + (template.day * 24 + template.hour) * 3600_000);
    return {
      id: `evt_${accountId}_${index + 1}`,
      title: template.title,
      start: start.toISOString(),
      end: new Date(start.getTime() + template.minutes * 60_000).toISOString(),
      location: template.location,
    };
  });
}

// --- plumbing --------------------------------------------------------------------------------

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxFormBytes) return null;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(html);
}

const noticePrefix = /^(?:\x1b\[[0-9;]*m)?oidc-provider (?:WARNING|NOTICE):/;
const silenced = Symbol.for("latchkey.demo.oidcProviderNoticesSilenced");

/** oidc-provider's development notices (Node 20, in-memory store) say what this demo already is. */
function silenceProviderNotices(): void {
  if (Reflect.get(console, silenced) === true) return;
  Reflect.set(console, silenced, true);
  for (const method of ["warn", "info"] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      if (typeof args[0] === "string" && noticePrefix.test(args[0])) return;
      original(...args);
    };
  }
}
