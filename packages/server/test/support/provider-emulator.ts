/**
 * A small OAuth provider emulator over real HTTP on 127.0.0.1, configured to answer exactly as one
 * provider's documentation shows: how it wants the client authenticated, how the token request
 * is encoded, which headers it insists on, whether it demands PKCE, and the shape of its answers
 * and error bodies. It checks every request the way that provider would and answers a wrong one
 * with the provider's own error (so the flow fails), and it records each check that failed in
 * `problems`, so a test can assert both the outcome and that nothing was sent wrong.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface EmulatorAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export const jsonAnswer = (body: unknown, status = 200): EmulatorAnswer => ({
  status,
  headers: { "content-type": "application/json; charset=utf-8" },
  body: JSON.stringify(body),
});

export const formAnswer = (body: Record<string, string>, status = 200): EmulatorAnswer => ({
  status,
  headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
  body: new URLSearchParams(body).toString(),
});

export interface EmulatedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The body as sent. */
  raw: string;
  /** The body's parameters, read as its Content-Type says (form or JSON); empty otherwise. */
  params: Record<string, string>;
  contentType: string;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** An OpenID Connect ID token for the code's nonce (issuer: the emulator's origin), when one was asked for. */
  idToken: string | null;
}

export type TokenFailure =
  /** The request is wrong (missing parameter, wrong encoding, unknown code). */
  | "invalid_request"
  /** Client authentication failed. */
  | "invalid_client"
  /** The code or refresh token is unknown, spent or revoked. */
  | "invalid_grant";

export interface EmulatorDialect {
  clientId: string;
  clientSecret: string;
  /**
   * How the provider expects the client to authenticate at its token endpoint. `hash`: `client_id`
   * in the body and `hash` = hex SHA-256 of `secret|code` (or `secret|refresh_token`), never the
   * secret itself (Smartsheet).
   */
  clientAuth: "basic" | "post" | "hash";
  /** The token request's body encoding the provider reads. */
  tokenEncoding: "form" | "json";
  /** A header value the provider insists on at the token endpoint (GitHub's Accept, Reddit's User-Agent). */
  tokenHeaders?: Record<string, RegExp>;
  /** `required`: refuses a flow without S256 PKCE; `supported`: checks it when sent. */
  pkce: "required" | "supported";
  /** A refresh token is single use: using it issues a new one and kills the old. */
  rotatesRefreshTokens?: boolean;
  /** The provider's successful token answer, in its own shape. */
  tokenAnswer(
    tokens: IssuedTokens,
    grant: "authorization_code" | "refresh_token",
    request: EmulatedRequest,
  ): EmulatorAnswer;
  /** The provider's error answer, in its own shape (Slack: ok:false with 200; GitHub: form with 200). */
  errorAnswer(failure: TokenFailure, request: EmulatedRequest): EmulatorAnswer;
}

export interface ProviderEmulator {
  /** http://127.0.0.1:<port> */
  origin: string;
  requests: EmulatedRequest[];
  requestsTo(path: string): EmulatedRequest[];
  /** Every check the provider made that a request failed, in words; [] when all was as documented. */
  problems: string[];
  /** The parameters of the last authorization request. */
  lastAuthorization: URLSearchParams | null;
  /**
   * The browser at the provider: checks the authorization URL (client id, redirect URI, state,
   * PKCE as the dialect demands), the user consents, and the provider redirects back with a code
   * (plus `extra` callback parameters, such as QuickBooks' realmId).
   */
  authorize(authorizationUrl: string, extra?: Record<string, string>): URL;
  /** Answers requests to `path` (userinfo, lookups, revocation). */
  on(path: string, answer: (request: EmulatedRequest) => EmulatorAnswer): void;
  /** Revokes every refresh token (the user removed the app at the provider). */
  revokeGrants(): void;
  close(): Promise<void>;
}

interface PendingCode {
  redirectUri: string;
  challenge: string | null;
  nonce: string | null;
}

export async function startProviderEmulator(
  dialect: EmulatorDialect,
  options: { tokenPath?: string } = {},
): Promise<ProviderEmulator> {
  const tokenPath = options.tokenPath ?? "/token";
  const requests: EmulatedRequest[] = [];
  const problems: string[] = [];
  const handlers = new Map<string, (request: EmulatedRequest) => EmulatorAnswer>();
  const codes = new Map<string, PendingCode>();
  const liveRefreshTokens = new Set<string>();
  let issued = 0;

  const issue = (nonce: string | null = null): IssuedTokens => {
    issued += 1;
    const tokens = {
      accessToken: `at-${issued}-${hex()}`,
      refreshToken: `rt-${issued}-${hex()}`,
      idToken: nonce === null ? null : idToken(origin, dialect.clientId, nonce),
    };
    liveRefreshTokens.add(tokens.refreshToken);
    return tokens;
  };

  const fail = (request: EmulatedRequest, failure: TokenFailure, problem: string | null): EmulatorAnswer => {
    if (problem !== null) problems.push(problem);
    return dialect.errorAnswer(failure, request);
  };

  const token = (request: EmulatedRequest): EmulatorAnswer => {
    if (request.method !== "POST") return fail(request, "invalid_request", `token request used ${request.method}`);
    const wanted = dialect.tokenEncoding === "json" ? "application/json" : "application/x-www-form-urlencoded";
    if (!request.contentType.startsWith(wanted)) {
      return fail(
        request,
        "invalid_request",
        `token request body is ${request.contentType || "untyped"}, not ${wanted}`,
      );
    }
    for (const [name, pattern] of Object.entries(dialect.tokenHeaders ?? {})) {
      const value = request.headers[name.toLowerCase()];
      if (typeof value !== "string" || !pattern.test(value)) {
        return fail(request, "invalid_request", `token request header ${name} is ${String(value)}`);
      }
    }
    const clientProblem = checkClient(dialect, request);
    if (clientProblem) return fail(request, "invalid_client", clientProblem);
    const params = request.params;
    if (params.grant_type === "authorization_code") {
      const pending = codes.get(params.code ?? "");
      codes.delete(params.code ?? "");
      if (!pending) return fail(request, "invalid_grant", "unknown or spent code");
      if (params.redirect_uri !== pending.redirectUri) return fail(request, "invalid_grant", "redirect_uri differs");
      if (pending.challenge !== null) {
        const verifier = params.code_verifier ?? "";
        if (createHash("sha256").update(verifier).digest("base64url") !== pending.challenge) {
          return fail(request, "invalid_grant", "code_verifier does not match the code_challenge");
        }
      } else if (params.code_verifier !== undefined) {
        return fail(request, "invalid_request", "code_verifier sent without a code_challenge");
      }
      return dialect.tokenAnswer(issue(pending.nonce), "authorization_code", request);
    }
    if (params.grant_type === "refresh_token") {
      const refreshToken = params.refresh_token ?? "";
      // A dead grant is the provider's answer, not a mistake of the request.
      if (!liveRefreshTokens.has(refreshToken)) return fail(request, "invalid_grant", null);
      if (dialect.rotatesRefreshTokens) liveRefreshTokens.delete(refreshToken);
      const tokens = issue();
      if (!dialect.rotatesRefreshTokens) {
        liveRefreshTokens.delete(tokens.refreshToken);
        tokens.refreshToken = refreshToken;
      }
      return dialect.tokenAnswer(tokens, "refresh_token", request);
    }
    return fail(request, "invalid_request", `grant_type ${String(params.grant_type)}`);
  };

  const server = createServer((req, res) => {
    void read(req).then((request) => {
      requests.push(request);
      const handler = request.path === tokenPath ? token : handlers.get(request.path);
      const answer = handler ? handler(request) : { status: 404, body: "not found" };
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const emulator: ProviderEmulator = {
    origin,
    requests,
    requestsTo: (path) => requests.filter((request) => request.path === path),
    problems,
    lastAuthorization: null,
    authorize(authorizationUrl, extra = {}) {
      const url = new URL(authorizationUrl);
      const params = url.searchParams;
      emulator.lastAuthorization = params;
      const redirectUri = params.get("redirect_uri");
      const state = params.get("state");
      if (params.get("client_id") !== dialect.clientId) problems.push("authorization: wrong client_id");
      if (params.get("response_type") !== "code") problems.push("authorization: response_type is not code");
      if (redirectUri === null || state === null)
        throw new Error("authorization request without redirect_uri or state");
      const challenge = params.get("code_challenge");
      if (challenge !== null && params.get("code_challenge_method") !== "S256") {
        problems.push("authorization: code_challenge_method is not S256");
      }
      if (dialect.pkce === "required" && challenge === null) {
        problems.push("authorization: PKCE is required");
        const back = new URL(redirectUri);
        back.searchParams.set("error", "invalid_request");
        back.searchParams.set("state", state);
        return back;
      }
      const code = `code-${hex()}`;
      codes.set(code, { redirectUri, challenge, nonce: params.get("nonce") });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", state);
      for (const [name, value] of Object.entries(extra)) back.searchParams.set(name, value);
      return back;
    },
    on: (path, answer) => void handlers.set(path, answer),
    revokeGrants: () => liveRefreshTokens.clear(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return emulator;
}

function checkClient(dialect: EmulatorDialect, request: EmulatedRequest): string | null {
  const authorization = request.headers.authorization;
  const fromBody = request.params.client_secret !== undefined;
  if (dialect.clientAuth === "basic") {
    if (fromBody) return "client_secret sent in the body; the provider wants HTTP Basic";
    // RFC 6749 section 2.3.1: id and secret form-urlencoded, joined by ":", base64.
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization ?? "");
    const [id, secret] = Buffer.from(match?.[1] ?? "", "base64")
      .toString("utf8")
      .split(":")
      .map((part) => decodeURIComponent(part.replace(/\+/g, " ")));
    return id === dialect.clientId && secret === dialect.clientSecret
      ? null
      : "HTTP Basic client authentication missing or wrong";
  }
  if (dialect.clientAuth === "hash") {
    if (fromBody) return "client_secret sent; the provider wants only its hash";
    if (authorization !== undefined)
      return "Authorization header sent; the provider wants client_id and hash in the body";
    const { grant_type, code, refresh_token, hash } = request.params;
    const proof = grant_type === "refresh_token" ? refresh_token : code;
    const expected = createHash("sha256")
      .update(`${dialect.clientSecret}|${proof ?? ""}`, "utf8")
      .digest("hex");
    return request.params.client_id === dialect.clientId && hash === expected
      ? null
      : "client_id / hash missing or wrong in the body";
  }
  if (authorization !== undefined) return "Authorization header sent; the provider wants the secret in the body";
  if (request.params.client_id !== dialect.clientId || request.params.client_secret !== dialect.clientSecret) {
    return "client_id / client_secret missing or wrong in the body";
  }
  return null;
}

async function read(req: IncomingMessage): Promise<EmulatedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString("utf8");
  const url = new URL(req.url ?? "/", "http://localhost");
  const contentType = (req.headers["content-type"] ?? "").toLowerCase();
  let params: Record<string, string> = {};
  if (contentType.startsWith("application/x-www-form-urlencoded")) {
    params = Object.fromEntries(new URLSearchParams(raw));
  } else if (contentType.startsWith("application/json")) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null && typeof parsed === "object") {
        params = Object.fromEntries(
          Object.entries(parsed as Record<string, unknown>).filter(
            (entry): entry is [string, string] => typeof entry[1] === "string",
          ),
        );
      }
    } catch {
      params = {};
    }
  }
  return {
    method: req.method ?? "GET",
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    raw,
    params,
    contentType,
  };
}

/** Claims as OpenID Connect Core 3.1.3.7 checks them; the token endpoint's answer is not signature-checked (TLS). */
function idToken(issuer: string, clientId: string, nonce: string): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = { iss: issuer, sub: "emulated-user", aud: clientId, iat: now, exp: now + 3600, nonce };
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${Buffer.from("unchecked").toString("base64url")}`;
}

const hex = () => randomBytes(6).toString("hex");
