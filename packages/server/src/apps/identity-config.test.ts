import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Vault } from "../vault/vault.ts";
import {
  IdentityInputSchema,
  IdentityPatchSchema,
  identityToWire,
  secureUrlProblem,
  storedIdentity,
} from "./identity-config.ts";

const vault = new Vault([{ id: "t1", key: randomBytes(32) }]);
const secret = "s".repeat(32);

describe("identity URLs (issuer, jwks_url)", () => {
  it.each([
    "https://auth.example.com/",
    "https://tenant.auth0.com/.well-known/jwks.json",
    "http://localhost:8080/realms/dev",
    "http://127.0.0.1:9000",
    "http://[::1]:9000/jwks",
  ])("accepts %s", (url) => {
    expect(secureUrlProblem(url)).toBeNull();
  });

  it.each([
    ["plain http to a remote host", "http://auth.example.com/"],
    ["http to a host that only starts with localhost", "http://localhost.evil.com/"],
    ["http to a private address", "http://10.0.0.5/"],
    ["credentials", "https://user:pw@auth.example.com/"],
    ["a fragment", "https://auth.example.com/#x"],
    ["another scheme", "ftp://auth.example.com/"],
    ["javascript:", "javascript:alert(1)"],
    ["a relative URL", "/jwks"],
  ])("rejects %s", (_case, url) => {
    expect(secureUrlProblem(url)).not.toBeNull();
  });
});

describe("identity input", () => {
  it("requires an hs256 secret of at least 32 bytes, counting UTF-8 bytes", () => {
    expect(IdentityInputSchema.safeParse({ type: "hs256", secret: "s".repeat(31) }).success).toBe(false);
    expect(IdentityInputSchema.safeParse({ type: "hs256", secret }).success).toBe(true);
    // 16 two-byte characters are 32 bytes.
    expect(IdentityInputSchema.safeParse({ type: "hs256", secret: "é".repeat(16) }).success).toBe(true);
  });

  it("requires the secret on create but not on update", () => {
    expect(IdentityInputSchema.safeParse({ type: "hs256" }).success).toBe(false);
    expect(IdentityPatchSchema.safeParse({ type: "hs256" }).success).toBe(true);
  });

  it.each([
    ["an unknown type", { type: "saml" }],
    ["jwks without issuer", { type: "jwks" }],
    ["a secret on latchkey", { type: "latchkey", secret }],
    ["a secret on jwks", { type: "jwks", issuer: "https://a.example", secret }],
    ["an empty audience", { type: "jwks", issuer: "https://a.example", audience: "" }],
    ["a numeric issuer", { type: "jwks", issuer: 42 }],
  ])("rejects %s", (_case, input) => {
    expect(IdentityInputSchema.safeParse(input).success).toBe(false);
  });
});

describe("stored identity", () => {
  it("encrypts the hs256 secret bound to the app's row and never puts it in the wire form", () => {
    const stored = storedIdentity({ type: "hs256", secret, issuer: "my-app" }, "app_1", vault);
    if ("missingSecret" in stored) throw new Error("unexpected");
    expect(stored.identity_secret).not.toContain(secret);
    const context = { table: "apps", column: "identity_secret", rowId: "app_1" };
    expect(vault.decrypt(stored.identity_secret ?? "", context)).toBe(secret);
    expect(() => vault.decrypt(stored.identity_secret ?? "", { ...context, rowId: "app_2" })).toThrow();
    expect(identityToWire(stored)).toEqual({ type: "hs256", issuer: "my-app" });
  });

  it("generates a random 32-byte latchkey signing secret, kept while the app stays latchkey", () => {
    const context = { table: "apps", column: "identity_secret", rowId: "app_1" };
    const first = storedIdentity({ type: "latchkey" }, "app_1", vault);
    const second = storedIdentity({ type: "latchkey" }, "app_1", vault);
    if ("missingSecret" in first || "missingSecret" in second) throw new Error("unexpected");
    const decrypted = vault.decrypt(first.identity_secret ?? "", context);
    expect(Buffer.from(decrypted, "base64url")).toHaveLength(32);
    expect(vault.decrypt(second.identity_secret ?? "", context)).not.toBe(decrypted);
    const kept = storedIdentity({ type: "latchkey" }, "app_1", vault, first);
    if ("missingSecret" in kept) throw new Error("unexpected");
    expect(kept.identity_secret).toBe(first.identity_secret);
  });

  it("keeps the hs256 secret on update when none is sent, and needs one when switching to hs256", () => {
    const current = storedIdentity({ type: "hs256", secret }, "app_1", vault);
    if ("missingSecret" in current) throw new Error("unexpected");
    const updated = storedIdentity({ type: "hs256", audience: "x" }, "app_1", vault, current);
    expect(updated).toMatchObject({ identity_secret: current.identity_secret, identity_config: { audience: "x" } });
    const fromJwks = { identity_type: "jwks" as const, identity_secret: null };
    expect(storedIdentity({ type: "hs256" }, "app_1", vault, fromJwks)).toEqual({ missingSecret: true });
  });

  it("drops the secret when switching to jwks", () => {
    const stored = storedIdentity(
      { type: "jwks", issuer: "https://auth.example.com/", jwks_url: "https://auth.example.com/jwks" },
      "app_1",
      vault,
      { identity_type: "hs256", identity_secret: "lk1.x" },
    );
    expect(stored).toEqual({
      identity_type: "jwks",
      identity_config: { issuer: "https://auth.example.com/", jwks_url: "https://auth.example.com/jwks" },
      identity_secret: null,
    });
  });
});
