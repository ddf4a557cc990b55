import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fillTemplate,
  TemplateError,
  templateUrlProblems,
  templateUses,
  valuePattern,
  type TemplateValueSpec,
} from "./url-template.ts";

const shop: TemplateValueSpec = { name: "shop", format: "label", pattern: "^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$" };
const tenant: TemplateValueSpec = { name: "tenant", format: "label", pattern: "^[A-Za-z0-9.-]{1,100}$" };
const region: TemplateValueSpec = { name: "region", format: "choice", choices: ["com", "eu", "com.au"] };
const base: TemplateValueSpec = { name: "base_url", format: "base_url" };
const specs = [shop, tenant, region, base];

const shopUrl = "https://{shop}.myshopify.com/admin/oauth/authorize";
const tenantUrl = "https://login.example.com/{tenant}/oauth2/token?x=1";
const regionUrl = "https://accounts.zoho.{region}/oauth/v2/token";
const baseUrl = "{base_url}/realms/acme/protocol/openid-connect/token";

describe("fillTemplate: the values it accepts", () => {
  it("fills a host label, a path segment, a closed choice and a base URL", () => {
    expect(fillTemplate(shopUrl, { shop: "acme-store" }, specs)).toBe(
      "https://acme-store.myshopify.com/admin/oauth/authorize",
    );
    expect(fillTemplate(tenantUrl, { tenant: "contoso.onmicrosoft.com" }, specs)).toBe(
      "https://login.example.com/contoso.onmicrosoft.com/oauth2/token?x=1",
    );
    expect(fillTemplate(regionUrl, { region: "com.au" }, specs)).toBe("https://accounts.zoho.com.au/oauth/v2/token");
    expect(fillTemplate(baseUrl, { base_url: "https://sso.example.com:8443/auth" }, specs)).toBe(
      "https://sso.example.com:8443/auth/realms/acme/protocol/openid-connect/token",
    );
  });

  it("percent-encodes a path value so it stays one segment", () => {
    const loose: TemplateValueSpec = { name: "tenant", format: "label", pattern: "^.{1,100}$" };
    expect(fillTemplate(tenantUrl, { tenant: "a/b?c#d" }, [loose])).toBe(
      "https://login.example.com/a%2Fb%3Fc%23d/oauth2/token?x=1",
    );
  });

  it("fills the built-in {client_id} in a path without a declaration", () => {
    expect(fillTemplate("https://api.github.com/applications/{client_id}/grant", { client_id: "Iv1.abc" }, [])).toBe(
      "https://api.github.com/applications/Iv1.abc/grant",
    );
  });
});

describe("fillTemplate: hostile values never change the host", () => {
  it.each([
    ["a host with a path", "evil.com/"],
    ["two labels", "a.b"],
    ["user info", "x@y"],
    ["a dot segment", ".."],
    ["nothing", ""],
    ["a fragment", "evil.com#"],
    ["a query", "evil.com?"],
    ["a port", "a:443"],
    ["an encoded dot", "a%2eb"],
    ["a backslash", "evil\\com"],
    ["uppercase", "ACME"],
    ["a full-width letter", "ａcme"],
    ["a trailing dot", "acme."],
    ["a space", "ac me"],
    ["a newline", "acme\n"],
  ])("refuses %s as a host label", (_label, value) => {
    expect(() => fillTemplate(shopUrl, { shop: value }, specs)).toThrow(TemplateError);
  });

  it.each([".", "..", ""])("refuses the path segment %j", (value) => {
    const loose: TemplateValueSpec = { name: "tenant", format: "label", pattern: "^.*$" };
    expect(() => fillTemplate(tenantUrl, { tenant: value }, [loose])).toThrow(TemplateError);
  });

  it.each(["evil.com", "com.evil.com", "com/", "COM", "com.au.evil.com"])(
    "refuses %j outside a closed choice",
    (value) => {
      expect(() => fillTemplate(regionUrl, { region: value }, specs)).toThrow(TemplateError);
    },
  );

  it.each([
    ["http", "http://sso.example.com"],
    ["user info", "https://user:pass@sso.example.com"],
    ["a query", "https://sso.example.com?x=1"],
    ["a fragment", "https://sso.example.com#x"],
    ["a trailing slash", "https://sso.example.com/"],
    ["a dot segment", "https://sso.example.com/a/../b"],
    ["javascript:", "javascript:alert(1)"],
    ["a bare host", "sso.example.com"],
    ["a single-label host", "https://localhost"],
    ["a backslash trick", "https://evil.com\\@sso.example.com"],
  ])("refuses a base URL with %s", (_label, value) => {
    expect(() => fillTemplate(baseUrl, { base_url: value }, specs)).toThrow(TemplateError);
  });

  it("refuses a missing value and never echoes a given one", () => {
    expect(() => fillTemplate(shopUrl, {}, specs)).toThrow("{shop} has no value");
    expect(() => fillTemplate(shopUrl, { shop: "secret.evil" }, specs)).toThrow(/^(?!.*secret)/);
  });

  it("property: any string as a host label yields the template's domain or an error", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z0-9.@:/?#%\\-]{0,20}$/)), (value) => {
        let filled: string;
        try {
          filled = fillTemplate(shopUrl, { shop: value }, specs);
        } catch (error) {
          expect(error).toBeInstanceOf(TemplateError);
          return;
        }
        const url = new URL(filled);
        expect(url.hostname).toBe(`${value}.myshopify.com`);
        expect(url.hostname.split(".")).toHaveLength(3);
        expect(url.pathname).toBe("/admin/oauth/authorize");
      }),
      { numRuns: 2000 },
    );
  });

  it("property: any string as a path value keeps the origin and the number of segments", () => {
    const loose: TemplateValueSpec = { name: "tenant", format: "label", pattern: "^[\\s\\S]*$" };
    fc.assert(
      fc.property(fc.string(), (value) => {
        let filled: string;
        try {
          filled = fillTemplate(tenantUrl, { tenant: value }, [loose]);
        } catch (error) {
          expect(error).toBeInstanceOf(TemplateError);
          return;
        }
        const url = new URL(filled);
        expect(url.origin).toBe("https://login.example.com");
        expect(url.pathname.split("/")).toHaveLength(4);
        expect(decodeURIComponent(url.pathname.split("/")[1] ?? "")).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: any string as a base URL is refused or is exactly the URL's origin and prefix", () => {
    fc.assert(
      fc.property(fc.oneof(fc.webUrl(), fc.string()), (value) => {
        let filled: string;
        try {
          filled = fillTemplate(baseUrl, { base_url: value }, specs);
        } catch (error) {
          expect(error).toBeInstanceOf(TemplateError);
          return;
        }
        const given = new URL(value);
        const url = new URL(filled);
        expect(url.protocol).toBe("https:");
        expect(url.host).toBe(given.host);
        expect(filled.startsWith(`${value}/realms/acme/`)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("templates: where they may sit", () => {
  it("reports each template's slot", () => {
    expect(templateUses("https://{org}.{okta_domain}/oauth2/{version}/token")).toEqual([
      { name: "org", slot: "host" },
      { name: "okta_domain", slot: "host" },
      { name: "version", slot: "path" },
    ]);
    expect(templateUses(baseUrl)).toEqual([{ name: "base_url", slot: "base_url" }]);
  });

  it.each([
    ["in a query", "https://example.com/x?tenant={tenant}"],
    ["in a port", "https://example.com:{port}/x"],
    ["in part of a host label", "https://shop-{shop}.example.com/x"],
    ["in part of a path segment", "https://example.com/v{version}/x"],
    ["in user info", "https://{user}@example.com/x"],
    ["in the scheme", "{scheme}://example.com/x"],
    ["with a stray brace", "https://example.com/{x"],
    ["with a fragment", "https://example.com/x#{y}"],
  ])("refuses a template %s", (_label, url) => {
    expect(() => templateUses(url)).toThrow(TemplateError);
  });

  it("refuses a host label template without a fixed domain after it", () => {
    expect(templateUrlProblems("https://{shop}.com/x", specs)).toEqual([
      "{shop} in a host needs at least two fixed labels after it (a domain it stays under)",
    ]);
    expect(templateUrlProblems("https://{shop}/x", specs)).toHaveLength(1);
  });

  it("refuses undeclared templates, base URLs in the middle and client_id outside a path", () => {
    expect(templateUrlProblems("https://{nope}.example.com/x", specs)).toEqual([
      "{nope} is not a declared connection value",
    ]);
    expect(templateUrlProblems("https://example.com/{base_url}", specs)).toEqual([
      "{base_url} is a base URL: it may only start a URL",
    ]);
    expect(templateUrlProblems("{shop}/x", specs)).toEqual(["{shop} starts the URL but is not a base_url value"]);
    expect(templateUrlProblems("https://{client_id}.example.com/x", specs)).toEqual([
      "{client_id} may only fill a path segment",
    ]);
  });

  it("derives an anchored pattern for closed choices", () => {
    expect(valuePattern(region)).toBe("^(?:com|eu|com\\.au)$");
  });
});
