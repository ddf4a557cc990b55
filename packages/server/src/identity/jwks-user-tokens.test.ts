import { exportSPKI, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildTestApp, createTestApp, TestClock, type TestDeps } from "../../test/support/test-app.ts";
import type { AppRow } from "../db/schema.ts";
import { createProviderResolver } from "../providers/create-provider-resolver.ts";
import { Metrics } from "../kernel/metrics.ts";
import { appUserAuth } from "../access/auth.ts";
import { createUserTokenVerifier } from "./create-user-token-verifier.ts";
import { insertApp, updateApp } from "../../test/support/identity-fixtures.ts";
import { createWorkspace } from "../../test/support/tenants.ts";
import { failedFetchBackoffMs, jwksMaxAgeMs, unknownKidRefetchCooldownMs } from "./jwks-key-resolver.ts";
import {
  newSigningKey,
  signToken,
  startTestIdentityProvider,
  type TestIdentityProvider,
  type TestSigningKey,
} from "../../test/support/jwks-server.ts";

const audience = "https://api.my-app.example";

function unsignedToken(header: object, payload: object): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${encode(header)}.${encode(payload)}.`;
}

/** jose's JWKS cooldown and cache age read the wall clock, so time moves by moving Date. */
function advanceTime(ms: number): void {
  vi.setSystemTime(Date.now() + ms);
}

describe("user tokens of a jwks app", { timeout: 30_000 }, () => {
  const clock = new TestClock();
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let idp: TestIdentityProvider;
  let rsa: TestSigningKey;
  let ec: TestSigningKey;
  let attacker: TestSigningKey;
  let forger: TestSigningKey;
  let workspaceId: string;

  beforeAll(async () => {
    t = await createTestApp({ clock });
    [rsa, ec, attacker, forger] = await Promise.all([
      newSigningKey("RS256", "rsa-1"),
      newSigningKey("ES256", "ec-1"),
      newSigningKey("RS256", "rsa-1"),
      newSigningKey("ES256", "forged"),
    ]);
    idp = await startTestIdentityProvider();
    // Made through a sibling instance on the same database: a request to t.app would build its
    // router, and a test below still adds a route to it.
    workspaceId = (await createWorkspace(buildTestApp({ database: t.database, clock }))).id;
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await t?.close();
  });
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    idp.publish([rsa, ec]);
    idp.failWith(null);
    idp.setDiscoveryIssuer(idp.issuer);
    idp.requests.jwks = 0;
    idp.requests.discovery = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const jwksApp = (config: Record<string, string> = {}) =>
    insertApp(t.deps, workspaceId, {
      type: "jwks",
      config: { issuer: idp.issuer, audience, jwks_url: idp.jwksUrl, ...config },
    });
  const goodClaims = (sub = "user-42") => ({ iss: idp.issuer, aud: audience, sub });

  async function expectRejected(verified: unknown, message?: RegExp): Promise<void> {
    const error: unknown = await Promise.resolve(verified).then(
      () => new Error("the token was accepted"),
      (rejection: unknown) => rejection,
    );
    expect(error).toMatchObject({ code: "INVALID_USER_TOKEN", status: 401 });
    if (message) expect((error as Error).message).toMatch(message);
  }

  describe("accepts", () => {
    it.each(["RS256", "ES256", "PS256", "EdDSA"] as const)(
      "a valid %s token, returning its sub as the user id",
      async (alg) => {
        const key = await newSigningKey(alg, `${alg}-key`);
        idp.publish([rsa, key]);
        const app = await jwksApp();
        const token = await signToken(key, goodClaims(`user-${alg}`));
        await expect(createUserTokenVerifier(t.deps).verify(app, token)).resolves.toEqual({ userId: `user-${alg}` });
      },
    );

    it("a valid RS256 and a valid ES256 token of the same app", async () => {
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      await expect(verifier.verify(app, await signToken(rsa, goodClaims("a")))).resolves.toEqual({ userId: "a" });
      await expect(verifier.verify(app, await signToken(ec, goodClaims("b")))).resolves.toEqual({ userId: "b" });
    });

    it("a token with any audience when the app configures none", async () => {
      const noAudienceApp = await insertApp(t.deps, workspaceId, {
        type: "jwks",
        config: { issuer: idp.issuer, jwks_url: idp.jwksUrl },
      });
      const token = await signToken(rsa, { ...goodClaims(), aud: "something-else" });
      await expect(createUserTokenVerifier(t.deps).verify(noAudienceApp, token)).resolves.toEqual({
        userId: "user-42",
      });
    });

    it("a token that expired less than the 30 s clock tolerance ago", async () => {
      const app = await jwksApp();
      const token = await signToken(rsa, goodClaims(), { expiresIn: -10 });
      await expect(createUserTokenVerifier(t.deps).verify(app, token)).resolves.toEqual({ userId: "user-42" });
    });
  });

  describe("fetching keys", () => {
    it("fetches the JWKS once and verifies later tokens from the cache", async () => {
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      const tokens = await Promise.all(
        Array.from({ length: 20 }, (_, i) => signToken(i % 2 ? rsa : ec, goodClaims(`u${i}`))),
      );
      const users = await Promise.all(tokens.map((token) => verifier.verify(app, token)));
      expect(users.map((user) => user.userId)).toEqual(tokens.map((_, i) => `u${i}`));
      expect(idp.requests.jwks).toBe(1);
    });

    it("refetches once when the provider rotates to a new kid, then accepts tokens signed with it", async () => {
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      await verifier.verify(app, await signToken(rsa, goodClaims()));
      const rotated = await newSigningKey("RS256", "rsa-2");
      idp.publish([rotated]);
      advanceTime(unknownKidRefetchCooldownMs + 1000);

      for (let i = 0; i < 5; i++) {
        await expect(verifier.verify(app, await signToken(rotated, goodClaims(`r${i}`)))).resolves.toEqual({
          userId: `r${i}`,
        });
      }
      expect(idp.requests.jwks).toBe(2);
    });

    it("bounds JWKS fetches when many tokens name unknown kids", async () => {
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      await verifier.verify(app, await signToken(rsa, goodClaims()));
      const forged = (round: number) =>
        Promise.all(
          Array.from({ length: 50 }, (_, i) => signToken(forger, goodClaims(), { kid: `forged-${round}-${i}` })),
        );

      const firstWave = await forged(1);
      for (const token of firstWave) await expectRejected(verifier.verify(app, token), /key this app does not publish/);
      expect(idp.requests.jwks).toBe(1); // within the cooldown after the last fetch: no refetch at all

      advanceTime(unknownKidRefetchCooldownMs + 1000);
      const secondWave = await forged(2);
      await Promise.all(secondWave.map((token) => expectRejected(verifier.verify(app, token))));
      const thirdWave = await forged(3);
      await Promise.all(thirdWave.map((token) => expectRejected(verifier.verify(app, token))));
      expect(idp.requests.jwks).toBe(2); // one refetch for 100 unknown kids
    });

    it("finds the JWKS through the issuer's discovery document when no jwks_url is set, and caches both", async () => {
      const app = await insertApp(t.deps, workspaceId, { type: "jwks", config: { issuer: idp.issuer, audience } });
      const verifier = createUserTokenVerifier(t.deps);
      for (let i = 0; i < 10; i++) {
        await expect(verifier.verify(app, await signToken(ec, goodClaims(`d${i}`)))).resolves.toEqual({
          userId: `d${i}`,
        });
      }
      expect(idp.requests).toEqual({ discovery: 1, jwks: 1 });
    });

    it("rejects when the discovery document names another issuer, and fetches no JWKS", async () => {
      idp.setDiscoveryIssuer("https://evil.example");
      const app = await insertApp(t.deps, workspaceId, { type: "jwks", config: { issuer: idp.issuer, audience } });
      await expectRejected(
        createUserTokenVerifier(t.deps).verify(app, await signToken(rsa, goodClaims())),
        /signing keys are unavailable/,
      );
      expect(idp.requests.jwks).toBe(0);
    });

    it("answers 401 when the JWKS is unreachable, logs a warning without the token, and backs off", async () => {
      idp.failWith(503);
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      const token = await signToken(rsa, goodClaims());
      for (let i = 0; i < 10; i++) await expectRejected(verifier.verify(app, token), /signing keys are unavailable/);
      expect(idp.requests.jwks).toBe(1);
      expect(t.logs.text).toContain("could not fetch the app's signing keys");
      expect(t.logs.text).toContain("HTTP 503");
      expect(t.logs.text).not.toContain(token);

      idp.failWith(null);
      advanceTime(failedFetchBackoffMs + 1000);
      await expect(verifier.verify(app, token)).resolves.toEqual({ userId: "user-42" });
      expect(idp.requests.jwks).toBe(2);
    });

    it("answers 401 when nothing listens at the JWKS URL", async () => {
      const gone = await startTestIdentityProvider();
      await gone.close();
      const app = await jwksApp({ jwks_url: gone.jwksUrl });
      await expectRejected(
        createUserTokenVerifier(t.deps).verify(app, await signToken(rsa, goodClaims())),
        /unavailable/,
      );
    });

    it("keeps verifying with the last keys it fetched while the JWKS cannot be refreshed", async () => {
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      await verifier.verify(app, await signToken(rsa, goodClaims()));
      idp.failWith(500);
      advanceTime(jwksMaxAgeMs + 1000);

      await expect(verifier.verify(app, await signToken(rsa, goodClaims("later")))).resolves.toEqual({
        userId: "later",
      });
      await expect(verifier.verify(app, await signToken(ec, goodClaims("later2")))).resolves.toEqual({
        userId: "later2",
      });
      expect(idp.requests.jwks).toBe(2); // one failed refresh, then the backoff
    });

    it("refuses a plain-http JWKS URL that is not loopback, without fetching it", async () => {
      const fetched: string[] = [];
      const deps: TestDeps = {
        ...t.deps,
        fetch: (input) => {
          fetched.push(String(input));
          return Promise.reject(new Error("no"));
        },
      };
      const app = await jwksApp({ jwks_url: "http://idp.example/jwks.json" });
      await expectRejected(
        createUserTokenVerifier(deps).verify(app, await signToken(rsa, goodClaims())),
        /unavailable/,
      );
      expect(fetched).toEqual([]);
      expect(t.logs.text).toContain("plain http is allowed only for loopback");
    });

    it("refuses plain http even on loopback in production", async () => {
      const deps: TestDeps = { ...t.deps, config: { ...t.deps.config, production: true } };
      const app = await jwksApp();
      await expectRejected(createUserTokenVerifier(deps).verify(app, await signToken(rsa, goodClaims())));
      expect(idp.requests.jwks).toBe(0);
    });

    it("uses the app's new settings once its identity config changes", async () => {
      const app = await jwksApp();
      const verifier = createUserTokenVerifier(t.deps);
      const forOldAudience = await signToken(rsa, goodClaims());
      await expect(verifier.verify(app, forOldAudience)).resolves.toEqual({ userId: "user-42" });

      const changed = await updateApp(t.deps, app, {
        type: "jwks",
        config: { issuer: idp.issuer, audience: "https://new-api.example", jwks_url: idp.jwksUrl },
      });
      await expectRejected(verifier.verify(changed, forOldAudience), /audience/);
      const forNewAudience = await signToken(rsa, { ...goodClaims(), aud: "https://new-api.example" });
      await expect(verifier.verify(changed, forNewAudience)).resolves.toEqual({ userId: "user-42" });
    });
  });

  describe("rejects with 401 INVALID_USER_TOKEN", () => {
    let app: AppRow;
    beforeAll(async () => {
      app = await jwksApp();
    });
    const verify = (token: string) => createUserTokenVerifier(t.deps).verify(app, token);

    it('a token with alg "none"', async () => {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const token = unsignedToken(
        { alg: "none", typ: "JWT" },
        { ...goodClaims(), iat: nowSeconds, exp: nowSeconds + 300 },
      );
      await expectRejected(verify(token), /algorithm/);
    });

    it("an HS256 token keyed with the RSA public key (algorithm confusion)", async () => {
      const publicPem = await exportSPKI(
        await crypto.subtle.importKey("jwk", rsa.publicJwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, [
          "verify",
        ]),
      );
      const nowSeconds = Math.floor(Date.now() / 1000);
      for (const secret of [publicPem, JSON.stringify(rsa.publicJwk)]) {
        const token = await new SignJWT({ ...goodClaims(), iat: nowSeconds, exp: nowSeconds + 300 })
          .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
          .sign(new TextEncoder().encode(secret));
        await expectRejected(verify(token), /algorithm/);
      }
    });

    it("an expired token", async () => {
      await expectRejected(verify(await signToken(rsa, goodClaims(), { expiresIn: -120 })), /expired/);
    });

    it("a token living longer than the server's maximum user-token lifetime, or issued in the future", async () => {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const century = 100 * 365 * 24 * 3600;
      await expectRejected(verify(await signToken(rsa, goodClaims(), { expiresIn: century })), /lives longer/);
      await expectRejected(
        verify(await signToken(rsa, { ...goodClaims(), iat: undefined }, { expiresIn: 2 * 86_400 })),
        /lives longer/,
      );
      await expectRejected(
        verify(await signToken(rsa, { ...goodClaims(), iat: nowSeconds + 86_400, exp: nowSeconds + 3600 })),
        /in the future/,
      );
    });

    it("a token expired by the server's clock, even if the wall clock still says valid", async () => {
      const token = await signToken(rsa, goodClaims(), { expiresIn: 300 });
      clock.advance(10 * 60_000);
      try {
        await expectRejected(verify(token), /expired/);
      } finally {
        clock.advance(-10 * 60_000);
      }
    });

    it("a token whose nbf is in the future", async () => {
      const nbf = Math.floor(Date.now() / 1000) + 120;
      await expectRejected(verify(await signToken(rsa, { ...goodClaims(), nbf })), /not valid yet/);
    });

    it("a token from another issuer", async () => {
      await expectRejected(
        verify(await signToken(rsa, { ...goodClaims(), iss: "https://other-issuer.example" })),
        /issuer/,
      );
    });

    it("a token with no issuer", async () => {
      await expectRejected(verify(await signToken(rsa, { ...goodClaims(), iss: undefined })), /issuer/);
    });

    it("a token for another audience", async () => {
      await expectRejected(
        verify(await signToken(rsa, { ...goodClaims(), aud: "https://other-api.example" })),
        /audience/,
      );
    });

    it("a token with no audience when the app configures one", async () => {
      await expectRejected(verify(await signToken(rsa, { ...goodClaims(), aud: undefined })), /audience/);
    });

    it("a token with no sub", async () => {
      await expectRejected(verify(await signToken(rsa, { ...goodClaims(), sub: undefined })), /subject/);
    });

    it("a token with an empty, non-string or control-character sub", async () => {
      for (const sub of ["", 42, "user\nadmin", "x".repeat(256)]) {
        const token = await signToken(rsa, { ...goodClaims(), sub: sub as string });
        await expectRejected(verify(token), /subject/);
      }
    });

    it("a token with no exp", async () => {
      await expectRejected(verify(await signToken(rsa, { ...goodClaims(), exp: undefined })), /expiry/);
    });

    it("a token signed by another key under a published kid", async () => {
      await expectRejected(verify(await signToken(attacker, goodClaims())), /signature/);
    });

    it("a token whose payload was altered after signing", async () => {
      const [header, , signature] = (await signToken(rsa, goodClaims("user-1"))).split(".");
      const forgedPayload = Buffer.from(JSON.stringify({ ...goodClaims("admin"), exp: 9_999_999_999 })).toString(
        "base64url",
      );
      await expectRejected(verify(`${header}.${forgedPayload}.${signature}`), /signature/);
    });

    it("malformed tokens", async () => {
      for (const token of ["", "not-a-jwt", "a.b.c", "e30.e30.", "....", "x".repeat(20_000)]) {
        await expectRejected(verify(token));
      }
    });
  });

  describe("through appUserAuth", () => {
    it("lets a verified user through and answers 401 INVALID_USER_TOKEN otherwise, without echoing the token", async () => {
      const app = await jwksApp();
      const services = {
        userTokens: createUserTokenVerifier(t.deps),
        providers: createProviderResolver(t.deps),
        metrics: new Metrics(),
      };
      t.routes.mount("GET", "/api/apps/:appId/identity-test/whoami", [appUserAuth({ ...t.deps, ...services })], (c) =>
        c.json({ user_id: c.get("appUser").userId, app_id: c.get("serviceApp").app.id }),
      );
      const path = `/api/apps/${app.id}/identity-test/whoami`;

      const ok = await t.call("GET", path, { token: await signToken(rsa, goodClaims("user-7")) });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ user_id: "user-7", app_id: app.id });

      const expired = await signToken(rsa, goodClaims(), { expiresIn: -3600 });
      const refused = await t.call("GET", path, { token: expired });
      expect(refused.status).toBe(401);
      const text = await refused.text();
      expect(JSON.parse(text)).toMatchObject({
        error: { code: "INVALID_USER_TOKEN", message: "The user token has expired" },
      });
      expect(text).not.toContain(expired);
      expect(t.logs.text).not.toContain(expired);
    });
  });
});
