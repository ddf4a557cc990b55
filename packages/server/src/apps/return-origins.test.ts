import { describe, expect, it } from "vitest";
import {
  AllowedReturnOriginsSchema,
  allowedReturnToUrl,
  isAllowedReturnTo,
  normalizeOrigins,
  originProblem,
} from "./return-origins.ts";

describe("allowed return origins (stored)", () => {
  it.each([
    ["https://app.example.com", "https://app.example.com"],
    ["https://app.example.com/", "https://app.example.com"],
    ["HTTPS://APP.Example.COM", "https://app.example.com"],
    ["https://app.example.com:443", "https://app.example.com"],
    ["http://app.example.com:80/", "http://app.example.com"],
    ["https://app.example.com:8443", "https://app.example.com:8443"],
    ["http://localhost:3000", "http://localhost:3000"],
    ["http://127.0.0.1:5173", "http://127.0.0.1:5173"],
    ["http://[::1]:8080", "http://[::1]:8080"],
    ["https://bücher.example", "https://xn--bcher-kva.example"],
  ])("accepts %s and stores it as %s", (input, stored) => {
    expect(originProblem(input)).toBeNull();
    expect(normalizeOrigins([input])).toEqual([stored]);
  });

  it.each([
    ["a path", "https://app.example.com/callback"],
    ["a dot path that URL parsing would erase", "https://app.example.com/."],
    ["a query", "https://app.example.com/?next=1"],
    ["an empty query", "https://app.example.com?"],
    ["a fragment", "https://app.example.com#top"],
    ["userinfo", "https://user:pw@app.example.com"],
    ["an empty userinfo", "https://@app.example.com"],
    ["a wildcard", "https://*.example.com"],
    ["another scheme", "ftp://app.example.com"],
    ["javascript:", "javascript:alert(1)"],
    ["data:", "data:text/html,hi"],
    ["no scheme", "app.example.com"],
    ["a scheme without slashes", "https:app.example.com"],
    ["a protocol-relative URL", "//app.example.com"],
    ["a backslash", "https://app.example.com\\"],
    ["whitespace", " https://app.example.com"],
    ["a tab inside the host", "https://app.exa\tmple.com"],
    ["an empty string", ""],
    ["no host", "https://"],
    ["an invalid port", "https://app.example.com:99999"],
  ])("rejects an origin with %s", (_case, input) => {
    expect(originProblem(input)).not.toBeNull();
    expect(AllowedReturnOriginsSchema.safeParse([input]).success).toBe(false);
  });

  it("removes duplicates after normalizing, keeping the first position", () => {
    expect(
      normalizeOrigins(["https://b.example", "https://a.example", "HTTPS://B.EXAMPLE:443/", "https://a.example"]),
    ).toEqual(["https://b.example", "https://a.example"]);
  });

  it("needs at least one origin and allows at most 50", () => {
    const origins = (count: number) => Array.from({ length: count }, (_, i) => `https://app${i}.example.com`);
    expect(AllowedReturnOriginsSchema.safeParse([]).success).toBe(false);
    expect(AllowedReturnOriginsSchema.safeParse(origins(50)).success).toBe(true);
    expect(AllowedReturnOriginsSchema.safeParse(origins(51)).success).toBe(false);
  });
});

describe("isAllowedReturnTo", () => {
  const origins = normalizeOrigins(["https://app.example.com", "http://localhost:3000"]);

  it.each([
    "https://app.example.com",
    "https://app.example.com/",
    "https://app.example.com/settings/integrations?tab=google#done",
    "https://app.example.com:443/settings",
    "HTTPS://APP.EXAMPLE.COM/Settings",
    "http://localhost:3000/after-connect",
  ])("allows %s", (returnTo) => {
    expect(isAllowedReturnTo(origins, returnTo)).toBe(true);
  });

  it.each([
    ["a suffix trick", "https://app.example.com.evil.com/"],
    ["a prefix trick", "https://evil-app.example.com/"],
    ["a parent domain", "https://example.com/"],
    ["a subdomain", "https://www.app.example.com/"],
    ["userinfo naming the allowed host", "https://evil.com@app.example.com/"],
    ["userinfo hiding the real host", "https://app.example.com@evil.com/"],
    ["an empty userinfo", "https://@app.example.com/"],
    ["user and password", "https://user:pw@app.example.com/"],
    ["http instead of https", "http://app.example.com/"],
    ["https instead of http", "https://localhost:3000/"],
    ["another port", "https://app.example.com:8443/"],
    ["another loopback port", "http://localhost:3001/"],
    ["the default port of the other scheme", "https://localhost:80/"],
    ["a trailing-dot host", "https://app.example.com./"],
    ["javascript:", "javascript:alert(document.cookie)"],
    ["javascript: with a comment looking like the origin", "javascript://app.example.com/%0aalert(1)"],
    ["data:", "data:text/html,<script>alert(1)</script>"],
    ["a protocol-relative URL", "//app.example.com/"],
    ["a relative path", "/settings"],
    ["a scheme without slashes", "https:app.example.com"],
    ["a backslash authority", "https:\\\\app.example.com\\"],
    ["a backslash before @", "https://app.example.com\\@evil.com/"],
    ["a newline", "https://app.example.com/\nx"],
    ["a tab inside the host", "https://app.exa\tmple.com/"],
    ["leading whitespace", " https://app.example.com/"],
    ["an empty string", ""],
    ["not a URL", "not a url"],
  ])("rejects %s", (_case, returnTo) => {
    expect(isAllowedReturnTo(origins, returnTo)).toBe(false);
  });

  it("rejects everything when the app has no origins", () => {
    expect(isAllowedReturnTo([], "https://app.example.com/")).toBe(false);
  });

  it("rejects an overlong URL", () => {
    expect(isAllowedReturnTo(origins, `https://app.example.com/${"a".repeat(3000)}`)).toBe(false);
  });

  it("gives back the normalized URL to redirect to", () => {
    expect(allowedReturnToUrl(origins, "HTTPS://App.Example.com:443/x?y=1")?.href).toBe(
      "https://app.example.com/x?y=1",
    );
  });
});
