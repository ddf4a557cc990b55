/**
 * Test-only: a real identity provider's key endpoints over HTTP on 127.0.0.1 (random port), counting
 * requests, plus helpers to make keys and sign tokens. Imported only by *.test.ts files.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";

export interface TestSigningKey {
  kid: string;
  alg: "RS256" | "ES256" | "PS256" | "EdDSA";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function newSigningKey(alg: TestSigningKey["alg"], kid: string): Promise<TestSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicJwk };
}

export interface SignOptions {
  /** Header kid; defaults to the key's kid. null leaves it out. */
  kid?: string | null;
  /** Seconds from now (the real clock unless `now` is given). */
  expiresIn?: number;
  now?: Date;
}

/** A token with iat and exp set; `claims` adds or overrides (undefined removes). */
export async function signToken(
  key: TestSigningKey,
  claims: Record<string, unknown>,
  options: SignOptions = {},
): Promise<string> {
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const payload = { iat: nowSeconds, exp: nowSeconds + (options.expiresIn ?? 300), ...claims };
  const kid = options.kid === undefined ? key.kid : options.kid;
  return new SignJWT(withoutUndefined(payload))
    .setProtectedHeader({ alg: key.alg, typ: "JWT", ...(kid !== null && { kid }) })
    .sign(key.privateKey);
}

export function withoutUndefined(payload: Record<string, unknown>): JWTPayload {
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
}

export interface TestIdentityProvider {
  /** http://127.0.0.1:<port> */
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly requests: { jwks: number; discovery: number };
  /** The keys /jwks.json publishes (public parts). */
  publish(keys: TestSigningKey[]): void;
  /** Answer every request with this status (null: answer normally). */
  failWith(status: number | null): void;
  /** What the discovery document says its issuer is (defaults to `issuer`). */
  setDiscoveryIssuer(issuer: string): void;
  close(): Promise<void>;
}

export async function startTestIdentityProvider(keys: TestSigningKey[] = []): Promise<TestIdentityProvider> {
  let published = keys;
  let failure: number | null = null;
  let discoveryIssuer: string | undefined;
  const requests = { jwks: 0, discovery: 0 };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/jwks.json") requests.jwks++;
    if (path === "/.well-known/openid-configuration") requests.discovery++;
    if (failure !== null) return send(res, failure, { error: "unavailable" });
    if (path === "/jwks.json") return send(res, 200, { keys: published.map((key) => key.publicJwk) });
    if (path === "/.well-known/openid-configuration") {
      return send(res, 200, { issuer: discoveryIssuer ?? issuer, jwks_uri: `${issuer}/jwks.json` });
    }
    return send(res, 404, { error: "not_found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks.json`,
    requests,
    publish: (next) => {
      published = next;
    },
    failWith: (status) => {
      failure = status;
    },
    setDiscoveryIssuer: (value) => {
      discoveryIssuer = value;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
