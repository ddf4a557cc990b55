import { randomBytes } from "node:crypto";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, TestClock, type TestDeps } from "../../test/support/test-app.ts";
import { createProviderResolver } from "../providers/create-provider-resolver.ts";
import type { AppRow } from "../db/schema.ts";
import { Metrics } from "../kernel/metrics.ts";
import { appUserAuth } from "../access/auth.ts";
import { issueSecretKey } from "../access/secret-keys.ts";
import { createUserTokenVerifier } from "./create-user-token-verifier.ts";
import { insertApp, insertServiceKey, readApp } from "../../test/support/identity-fixtures.ts";
import { createWorkspace } from "../../test/support/tenants.ts";
import type { MintedUserTokenResponse } from "./routes.ts";

const signingSecret = () => randomBytes(32).toString("base64url");

describe("POST /api/apps/{appId}/users/{userId}/token (latchkey user tokens)", { timeout: 30_000 }, () => {
  const clock = new TestClock();
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let appA: AppRow;
  let appB: AppRow;
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    t = await createTestApp({ clock });
    const services = {
      userTokens: createUserTokenVerifier(t.deps),
      providers: createProviderResolver(t.deps),
      metrics: new Metrics(),
    };
    // Before any request: Hono takes no route once its router is built.
    t.routes.mount("GET", "/api/apps/:appId/identity-test/whoami", [appUserAuth({ ...t.deps, ...services })], (c) =>
      c.json({ user_id: c.get("appUser").userId }),
    );
    const workspaceId = (await createWorkspace(t)).id;
    appA = await insertApp(t.deps, workspaceId, { type: "latchkey", secret: signingSecret() });
    appB = await insertApp(t.deps, workspaceId, { type: "latchkey", secret: signingSecret() });
    keyA = (await insertServiceKey(t.deps, appA)).key;
    keyB = (await insertServiceKey(t.deps, appB)).key;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const tokenPath = (appId: string, userId: string) => `/api/apps/${appId}/users/${userId}/token`;
  const mint = (
    appId: string,
    userId: string,
    token: string | undefined,
    body?: unknown,
    headers?: Record<string, string>,
  ) =>
    t.call("POST", tokenPath(appId, userId), {
      ...(token !== undefined && { token }),
      ...(body !== undefined && { body }),
      ...(headers !== undefined && { headers }),
    });

  async function mintOk(appId: string, userId: string, key: string, body?: unknown): Promise<MintedUserTokenResponse> {
    const response = await mint(appId, userId, key, body);
    expect(response.status).toBe(201);
    return (await response.json()) as MintedUserTokenResponse;
  }

  async function expectError(response: Response, status: number, code: string): Promise<{ message: string }> {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: string; message: string }; token?: unknown };
    expect(body.error.code).toBe(code);
    expect(body.token).toBeUndefined();
    return body.error;
  }

  /** Minting writes nothing; a refused request must not have changed the app either. */
  async function expectAppUnchanged(app: AppRow): Promise<void> {
    expect(await readApp(t.deps, app.id)).toEqual(app);
  }

  describe("minting", () => {
    it("returns a Bearer token for the user, valid for an hour by default, that the verifier accepts", async () => {
      const before = clock.now().getTime();
      const minted = await mintOk(appA.id, "user-123", keyA);

      expect(minted.token_type).toBe("Bearer");
      expect(minted.expires_in).toBe(3600);
      const expiresAt = new Date(minted.expires_at).getTime();
      expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
      expect(expiresAt).toBeLessThanOrEqual(clock.now().getTime() + 3600_000);
      await expect(createUserTokenVerifier(t.deps).verify(appA, minted.token)).resolves.toEqual({ userId: "user-123" });
    });

    it("signs HS256 with iss = this Latchkey, aud = the app, sub = the user, and a short life", async () => {
      const minted = await mintOk(appA.id, "user-123", keyA, { expires_in: 600 });
      expect(decodeProtectedHeader(minted.token)).toMatchObject({ alg: "HS256", typ: "JWT" });
      const claims = decodeJwt(minted.token);
      expect(claims).toMatchObject({ iss: t.deps.config.publicUrl, aud: appA.id, sub: "user-123" });
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);
      expect(typeof claims.jti).toBe("string");
    });

    it("accepts the shortest and longest lifetimes, and an empty JSON body", async () => {
      expect((await mintOk(appA.id, "u", keyA, { expires_in: 60 })).expires_in).toBe(60);
      expect((await mintOk(appA.id, "u", keyA, { expires_in: 86_400 })).expires_in).toBe(86_400);
      const empty = await mint(appA.id, "u", keyA, undefined, { "content-type": "application/json" });
      expect(empty.status).toBe(201);
    });

    it("lets the minted token through appUserAuth as that user", async () => {
      const minted = await mintOk(appA.id, "user-7", keyA);
      const response = await t.call("GET", `/api/apps/${appA.id}/identity-test/whoami`, { token: minted.token });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ user_id: "user-7" });
    });

    it("uses the URL-decoded user id", async () => {
      const verifier = createUserTokenVerifier(t.deps);
      for (const [encoded, userId] of [
        ["alice%40example.com", "alice@example.com"],
        ["org%2Fuser%201", "org/user 1"],
        ["%E2%9C%93", "✓"],
      ] as const) {
        const minted = await mintOk(appA.id, encoded, keyA);
        await expect(verifier.verify(appA, minted.token)).resolves.toEqual({ userId });
      }
    });

    it("issues tokens that expire", async () => {
      const minted = await mintOk(appA.id, "u", keyA, { expires_in: 60 });
      clock.advance(2 * 60_000);
      try {
        const refused = await t.call("GET", `/api/apps/${appA.id}/identity-test/whoami`, { token: minted.token });
        expect((await expectError(refused, 401, "INVALID_USER_TOKEN")).message).toMatch(/expired/);
      } finally {
        clock.advance(-2 * 60_000);
      }
    });

    it("never writes the minted token to the log", async () => {
      const minted = await mintOk(appA.id, "log-check", keyA);
      expect(t.logs.text).toContain("user token minted");
      expect(t.logs.text).not.toContain(minted.token);
    });

    it("is described in /openapi.json with its body and response schemas", async () => {
      const response = await t.call("GET", "/openapi.json");
      expect(response.status).toBe(200);
      const document = (await response.json()) as {
        paths: Record<string, Record<string, { requestBody: unknown; responses: Record<string, unknown> }>>;
        components: { schemas: Record<string, unknown> };
      };
      const operation = document.paths["/api/apps/{appId}/users/{userId}/token"]?.post;
      const schemaOf = (part: unknown) => {
        const ref = /"\$ref":"#\/components\/schemas\/([^"]+)"/.exec(JSON.stringify(part))?.[1] ?? "";
        return JSON.stringify(document.components.schemas[ref]);
      };
      expect(schemaOf(operation?.requestBody)).toContain("expires_in");
      expect(schemaOf(operation?.responses["201"])).toContain("token_type");
      expect(Object.keys(operation?.responses ?? {})).toEqual(
        expect.arrayContaining(["201", "400", "401", "404", "409"]),
      );
    });
  });

  describe("tokens of one app are not tokens of another", () => {
    it("rejects a token minted for app A when presented to app B", async () => {
      const minted = await mintOk(appA.id, "user-1", keyA);
      await expect(createUserTokenVerifier(t.deps).verify(appB, minted.token)).rejects.toMatchObject({
        code: "INVALID_USER_TOKEN",
      });
      const refused = await t.call("GET", `/api/apps/${appB.id}/identity-test/whoami`, { token: minted.token });
      await expectError(refused, 401, "INVALID_USER_TOKEN");
    });

    it("rejects a token minted by a Latchkey with another public URL", async () => {
      const minted = await mintOk(appA.id, "user-1", keyA);
      const elsewhere: TestDeps = {
        ...t.deps,
        config: { ...t.deps.config, publicUrl: "https://other-latchkey.example" },
      };
      await expect(createUserTokenVerifier(elsewhere).verify(appA, minted.token)).rejects.toMatchObject({
        code: "INVALID_USER_TOKEN",
        message: expect.stringMatching(/issuer/),
      });
    });

    it("rejects a latchkey token once the app's signing secret changes", async () => {
      const app = await insertApp(t.deps, appA.workspace_id, { type: "latchkey", secret: signingSecret() });
      const key = (await insertServiceKey(t.deps, app)).key;
      const minted = await mintOk(app.id, "u", key);
      await t.deps.db
        .updateTable("apps")
        .set({
          identity_secret: t.deps.vault.encrypt(signingSecret(), {
            table: "apps",
            column: "identity_secret",
            rowId: app.id,
          }),
          updated_at: new Date(app.updated_at.getTime() + 1000),
        })
        .where("id", "=", app.id)
        .execute();
      await expect(
        createUserTokenVerifier(t.deps).verify(await readApp(t.deps, app.id), minted.token),
      ).rejects.toMatchObject({
        code: "INVALID_USER_TOKEN",
        message: expect.stringMatching(/signature/),
      });
    });
  });

  describe("authentication", () => {
    it("answers 401 without a service key", async () => {
      await expectError(await mint(appA.id, "u", undefined), 401, "UNAUTHENTICATED");
      await expectError(
        await mint(appA.id, "u", undefined, {}, { authorization: `Basic ${keyA}` }),
        401,
        "UNAUTHENTICATED",
      );
      await expectAppUnchanged(appA);
    });

    it("answers 401 for an unknown service key", async () => {
      await expectError(await mint(appA.id, "u", issueSecretKey("service").key), 401, "UNAUTHENTICATED");
      await expectError(await mint(appA.id, "u", "lk_svc_not-a-real-key"), 401, "UNAUTHENTICATED");
    });

    it("answers 401 for a revoked service key", async () => {
      const revoked = await insertServiceKey(t.deps, appA);
      expect((await mint(appA.id, "u", revoked.key)).status).toBe(201);
      await t.deps.db
        .updateTable("service_keys")
        .set({ revoked_at: clock.now() })
        .where("id", "=", revoked.id)
        .execute();
      await expectError(await mint(appA.id, "u", revoked.key), 401, "UNAUTHENTICATED");
    });

    it("answers 401 for an admin API key", async () => {
      const { adminKey } = await createWorkspace(t);
      await expectError(await mint(appA.id, "u", adminKey), 401, "UNAUTHENTICATED");
    });

    it("answers 404 for another app's service key, in the same or another workspace, and for an unknown app", async () => {
      await expectError(await mint(appA.id, "u", keyB), 404, "NOT_FOUND");
      const otherWorkspace = (await createWorkspace(t)).id;
      const foreignApp = await insertApp(t.deps, otherWorkspace, { type: "latchkey", secret: signingSecret() });
      const foreignKey = (await insertServiceKey(t.deps, foreignApp)).key;
      await expectError(await mint(appA.id, "u", foreignKey), 404, "NOT_FOUND");
      await expectError(await mint("app_doesnotexist", "u", keyA), 404, "NOT_FOUND");
      await expectAppUnchanged(appA);
    });

    it("answers 400 when X-App-Id names another app", async () => {
      await expectError(await mint(appA.id, "u", keyA, {}, { "x-app-id": appB.id }), 400, "INVALID_REQUEST");
    });
  });

  describe("bad input", () => {
    it("answers 409 CONFLICT for apps that verify their own user tokens", async () => {
      for (const identity of [
        { type: "hs256" as const, secret: "a-shared-secret-of-at-least-32-bytes-0123456789" },
        { type: "jwks" as const, config: { issuer: "https://idp.example", jwks_url: "https://idp.example/jwks" } },
      ]) {
        const app = await insertApp(t.deps, appA.workspace_id, identity);
        const key = (await insertServiceKey(t.deps, app)).key;
        const error = await expectError(await mint(app.id, "u", key), 409, "CONFLICT");
        expect(error.message).toContain(`"${identity.type}"`);
        expect(error.message).toContain('"latchkey"');
        await expectAppUnchanged(app);
      }
    });

    it("answers 400 for a user id with control characters or longer than 255 characters", async () => {
      for (const userId of ["a%0Ab", "%00", "tab%09", "del%7F", "x".repeat(256)]) {
        const error = await expectError(await mint(appA.id, userId, keyA), 400, "INVALID_REQUEST");
        expect(error.message).toMatch(/userId/);
      }
      expect((await mint(appA.id, "x".repeat(255), keyA)).status).toBe(201);
      await expectAppUnchanged(appA);
    });

    it("never mints for an empty user id", async () => {
      const response = await mint(appA.id, "", keyA);
      expect(response.status).toBe(404);
    });

    it("answers 400 for an expires_in out of range or of the wrong type, or an unknown field", async () => {
      for (const body of [
        { expires_in: 59 },
        { expires_in: 86_401 },
        { expires_in: 0 },
        { expires_in: -60 },
        { expires_in: 1.5 },
        { expires_in: "3600" },
        { expires_in: null },
        { expiresIn: 600 },
        [],
        "3600",
      ]) {
        const error = await expectError(await mint(appA.id, "u", keyA, body), 400, "INVALID_REQUEST");
        expect(error.message).toMatch(/body/);
      }
      await expectAppUnchanged(appA);
    });

    it("answers 400 for a body that is not JSON and 415 for another content type", async () => {
      await expectError(await mint(appA.id, "u", keyA, "{not json"), 400, "INVALID_REQUEST");
      await expectError(
        await mint(appA.id, "u", keyA, "expires_in=60", { "content-type": "application/x-www-form-urlencoded" }),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      );
    });

    it("answers 413 for an oversized body", async () => {
      const huge = { expires_in: 600, padding: "x".repeat(t.deps.config.bodyLimitBytes) };
      await expectError(await mint(appA.id, "u", keyA, huge), 413, "PAYLOAD_TOO_LARGE");
      await expectAppUnchanged(appA);
    });
  });
});
