import { createHmac } from "node:crypto";
import { SignJWT, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, TestClock, testConfig } from "../../test/support/test-app.ts";
import type { AppRow } from "../db/schema.ts";
import { VaultError } from "../vault/vault.ts";
import { createUserTokenVerifier } from "./create-user-token-verifier.ts";
import { insertApp, updateApp } from "../../test/support/identity-fixtures.ts";
import { createWorkspace } from "../../test/support/tenants.ts";
import { newSigningKey, signToken, withoutUndefined } from "../../test/support/jwks-server.ts";

const secret = "a-shared-secret-of-at-least-32-bytes-0123456789";
const issuer = "https://auth.my-app.example";
const audience = "my-app";

async function hs(claims: Record<string, unknown>, key = secret, alg = "HS256", expiresIn = 300): Promise<string> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = withoutUndefined({ iat: nowSeconds, exp: nowSeconds + expiresIn, ...claims });
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(new TextEncoder().encode(key));
}

function rawHs256(payloadJson: string): string {
  const encode = (text: string) => Buffer.from(text).toString("base64url");
  const signingInput = `${encode('{"alg":"HS256","typ":"JWT"}')}.${encode(payloadJson)}`;
  return `${signingInput}.${createHmac("sha256", secret).update(signingInput).digest("base64url")}`;
}

describe("user tokens of an hs256 app", { timeout: 30_000 }, () => {
  const clock = new TestClock();
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let workspaceId: string;
  let app: AppRow;

  beforeAll(async () => {
    t = await createTestApp({ clock });
    workspaceId = (await createWorkspace(t)).id;
    app = await insertApp(t.deps, workspaceId, { type: "hs256", config: { issuer, audience }, secret });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const verify = (token: string, target = app) => createUserTokenVerifier(t.deps).verify(target, token);
  const good = (sub = "user-1") => ({ iss: issuer, aud: audience, sub });

  async function expectRejected(verified: unknown, message?: RegExp): Promise<void> {
    const error: unknown = await Promise.resolve(verified).then(
      () => new Error("the token was accepted"),
      (rejection: unknown) => rejection,
    );
    expect(error).toMatchObject({ code: "INVALID_USER_TOKEN", status: 401 });
    if (message) expect((error as Error).message).toMatch(message);
  }

  it("accepts a token signed with the app's secret, returning its sub", async () => {
    await expect(verify(await hs(good("user-9")))).resolves.toEqual({ userId: "user-9" });
  });

  it("accepts any issuer and audience when the app configures neither", async () => {
    const open = await insertApp(t.deps, workspaceId, { type: "hs256", secret });
    await expect(verify(await hs({ sub: "u", iss: "whoever", aud: "anything" }), open)).resolves.toEqual({
      userId: "u",
    });
    await expect(verify(await hs({ sub: "u" }), open)).resolves.toEqual({ userId: "u" });
  });

  it("rejects a token signed with another secret", async () => {
    await expectRejected(verify(await hs(good(), "another-secret-of-at-least-32-bytes-000000")), /signature/);
  });

  it("rejects HS384 and HS512 tokens even with the right secret", async () => {
    await expectRejected(verify(await hs(good(), secret, "HS384")), /algorithm/);
    await expectRejected(verify(await hs(good(), secret, "HS512")), /algorithm/);
  });

  it("rejects an RS256 token", async () => {
    const rsa = await newSigningKey("RS256", "k");
    await expectRejected(verify(await signToken(rsa, good())), /algorithm/);
  });

  it('rejects alg "none"', async () => {
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const nowSeconds = Math.floor(Date.now() / 1000);
    const token = `${encode({ alg: "none" })}.${encode({ ...good(), iat: nowSeconds, exp: nowSeconds + 60 })}.`;
    await expectRejected(verify(token), /algorithm/);
  });

  it("rejects a wrong or missing issuer when one is configured", async () => {
    await expectRejected(verify(await hs({ ...good(), iss: "https://elsewhere.example" })), /issuer/);
    await expectRejected(verify(await hs({ ...good(), iss: undefined })), /issuer/);
  });

  it("rejects a wrong or missing audience when one is configured", async () => {
    await expectRejected(verify(await hs({ ...good(), aud: "other-app" })), /audience/);
    await expectRejected(verify(await hs({ ...good(), aud: undefined })), /audience/);
  });

  it("rejects an expired token, a token without exp, and one not valid yet", async () => {
    await expectRejected(verify(await hs(good(), secret, "HS256", -60)), /expired/);
    await expectRejected(verify(await hs({ ...good(), exp: undefined })), /expiry/);
    await expectRejected(verify(await hs({ ...good(), nbf: Math.floor(Date.now() / 1000) + 600 })), /not valid yet/);
  });

  it("rejects an exp of 1e400 (Infinity), an exp 100 years ahead, and an iat a day in the future", async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    // JSON.stringify cannot write 1e400: the payload is written by hand, as an attacker would.
    const infinite = rawHs256(`{"iss":"${issuer}","aud":"${audience}","sub":"user-1","iat":${nowSeconds},"exp":1e400}`);
    await expectRejected(verify(infinite), /lives longer/);
    await expectRejected(verify(await hs(good(), secret, "HS256", 100 * 365 * 24 * 3600)), /lives longer/);
    await expectRejected(verify(await hs({ ...good(), iat: nowSeconds + 86_400 })), /in the future/);
  });

  it("accepts a token up to the configured maximum lifetime, and refuses one just over it", async () => {
    const config = testConfig({ LATCHKEY_USER_TOKEN_MAX_LIFETIME_SECONDS: "600" });
    const verifyStrict = (token: string) => createUserTokenVerifier({ ...t.deps, config }).verify(app, token);
    await expect(verifyStrict(await hs(good(), secret, "HS256", 600))).resolves.toEqual({ userId: "user-1" });
    await expectRejected(verifyStrict(await hs(good(), secret, "HS256", 3600)), /600 seconds/);
    // The default (24 h) lets a day-long token through.
    await expect(verify(await hs(good(), secret, "HS256", 86_400))).resolves.toEqual({ userId: "user-1" });
  });

  it("rejects a missing or empty sub", async () => {
    await expectRejected(verify(await hs({ ...good(), sub: undefined })), /subject/);
    await expectRejected(verify(await hs({ ...good(), sub: "" })), /subject/);
  });

  it("uses the new secret as soon as the app's secret changes", async () => {
    const changing = await insertApp(t.deps, workspaceId, { type: "hs256", secret });
    const verifier = createUserTokenVerifier(t.deps);
    const oldToken = await hs({ sub: "u" });
    await expect(verifier.verify(changing, oldToken)).resolves.toEqual({ userId: "u" });

    const newSecret = "the-rotated-shared-secret-0123456789-abcdef";
    const rotated = await updateApp(t.deps, changing, { type: "hs256", secret: newSecret });
    await expectRejected(verifier.verify(rotated, oldToken), /signature/);
    await expect(verifier.verify(rotated, await hs({ sub: "u" }, newSecret))).resolves.toEqual({ userId: "u" });
  });

  it("answers 401 and logs the problem when the app row has no secret", async () => {
    const broken = await insertApp(t.deps, workspaceId, { type: "hs256" });
    await expectRejected(verify(await hs(good()), broken), /identity settings cannot verify/);
    expect(t.logs.text).toContain("app identity settings cannot verify user tokens");
  });

  it("refuses to use a secret encrypted for another app's row (a server fault, not the caller's)", async () => {
    const other = await insertApp(t.deps, workspaceId, { type: "hs256", secret });
    // Copy app's ciphertext onto `other`: the vault binds it to app's row, so it must not decrypt.
    await t.deps.db
      .updateTable("apps")
      .set({ identity_secret: app.identity_secret })
      .where("id", "=", other.id)
      .execute();
    const swapped = { ...other, identity_secret: app.identity_secret };
    await expect(verify(await hs({ sub: "u" }), swapped)).rejects.toBeInstanceOf(VaultError);
  });

  describe("remembering verified tokens", () => {
    it("serves a repeated token from memory, but never past its expiry", async () => {
      const verifier = createUserTokenVerifier(t.deps);
      const token = await hs(good("user-cached"), secret, "HS256", 40);
      await expect(verifier.verify(app, token)).resolves.toEqual({ userId: "user-cached" });
      // Remembered: answered at once, without a promise.
      expect(verifier.verify(app, token)).toEqual({ userId: "user-cached" });
      clock.advance(75_000); // past exp (40 s) and the 30 s clock tolerance
      await expectRejected(verifier.verify(app, token), /expired/);
      clock.advance(-75_000);
    });

    it("forgets earlier verifications when the app's identity settings change", async () => {
      const own = await insertApp(t.deps, workspaceId, { type: "hs256", config: { issuer, audience }, secret });
      const verifier = createUserTokenVerifier(t.deps);
      const token = await hs(good("user-rotated"));
      await expect(verifier.verify(own, token)).resolves.toEqual({ userId: "user-rotated" });
      const rotated = await updateApp(t.deps, own, {
        type: "hs256",
        config: { issuer, audience },
        secret: "a-brand-new-secret-of-at-least-32-bytes-987654",
      });
      await expectRejected(verifier.verify(rotated, token), /signature/);
    });

    it("does not remember rejected tokens", async () => {
      const verifier = createUserTokenVerifier(t.deps);
      const forged = await hs(good("user-forged"), "another-secret-of-at-least-32-bytes-000000");
      await expectRejected(verifier.verify(app, forged), /signature/);
      await expectRejected(verifier.verify(app, forged), /signature/);
    });
  });
});
