import { describe, expect, it } from "vitest";
import { identityUrlProblem } from "./identity-url-policy.ts";

describe("identityUrlProblem (where signing keys may be fetched from)", () => {
  it.each([
    "https://idp.example/.well-known/jwks.json",
    "https://idp.example:8443/realms/a/protocol/openid-connect/certs",
    "http://127.0.0.1:8080/jwks.json",
    "http://127.5.6.7/jwks.json",
    "http://localhost:3000/jwks.json",
    "http://[::1]:3000/jwks.json",
  ])("accepts %s in development", (url) => {
    expect(identityUrlProblem(url, { production: false })).toBeNull();
  });

  it.each([
    ["http://idp.example/jwks.json", /https/],
    ["http://10.0.0.5/jwks.json", /https/],
    ["http://127.0.0.1.nip.io/jwks.json", /https/],
    ["http://localhost.evil.example/jwks.json", /https/],
    ["ftp://idp.example/jwks.json", /https/],
    ["file:///etc/passwd", /https/],
    ["https://user:pass@idp.example/jwks.json", /credentials/],
    ["/relative/jwks.json", /not a valid URL/],
    ["", /not a valid URL/],
  ])("refuses %s", (url, problem) => {
    expect(identityUrlProblem(url, { production: false })).toMatch(problem);
  });

  it("refuses plain http on loopback in production, and still accepts https", () => {
    expect(identityUrlProblem("http://127.0.0.1:8080/jwks.json", { production: true })).toMatch(/production/);
    expect(identityUrlProblem("https://idp.example/jwks.json", { production: true })).toBeNull();
  });
});
