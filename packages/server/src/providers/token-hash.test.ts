import type * as oauth from "oauth4webapi";
import { describe, expect, it } from "vitest";
import { tokenHash, tokenHashAuthentication } from "./token-hash.ts";

const as: oauth.AuthorizationServer = { issuer: "https://api.smartsheet.com" };
const client: oauth.Client = { client_id: "abc" };

describe("smartsheet-token-hash", () => {
  it("hashes secret|value as lowercase hex SHA-256 (vector from `printf 'secret|code' | openssl dgst -sha256`)", () => {
    expect(tokenHash("secret", "code")).toBe("875ccbea123ce4cf3682ad9f52be303c7a92c2eddf00e24bbeb583c3bf28765a");
  });

  it("replaces client_secret with client_id and the hash of the code, or of the refresh token", async () => {
    const auth = tokenHashAuthentication("secret");
    const code = new URLSearchParams({ grant_type: "authorization_code", code: "c1", client_secret: "secret" });
    await auth(as, client, code, new Headers());
    expect(Object.fromEntries(code)).toEqual({
      grant_type: "authorization_code",
      code: "c1",
      client_id: "abc",
      hash: tokenHash("secret", "c1"),
    });
    const refresh = new URLSearchParams({ grant_type: "refresh_token", refresh_token: "r1" });
    await auth(as, client, refresh, new Headers());
    expect(refresh.get("hash")).toBe(tokenHash("secret", "r1"));
    expect(refresh.has("client_secret")).toBe(false);
  });

  it("refuses a grant it has nothing to hash for rather than sending an unsigned request", () => {
    const auth = tokenHashAuthentication("secret");
    expect(() => auth(as, client, new URLSearchParams({ grant_type: "client_credentials" }), new Headers())).toThrow(
      /client_credentials/,
    );
  });
});
