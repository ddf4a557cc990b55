import { describe, expect, it } from "vitest";
import { buildCatalog, catalog, findProvider, providerIds } from "./catalog.ts";
import { genericOAuth2, genericOidc } from "./generic-providers.ts";
import { defineProvider, validateProviderDescription, type ProviderDescriptionInput } from "./provider-schema.ts";

const namedOAuth2: ProviderDescriptionInput = {
  id: "acme",
  display_name: "Acme",
  kind: "oauth2",
  authorization_url: "https://acme.example/oauth/authorize",
  token_url: "https://acme.example/oauth/token",
};

const namedOidc: ProviderDescriptionInput = {
  id: "acme-id",
  display_name: "Acme ID",
  kind: "oidc",
  issuer: "https://id.acme.example",
};

/** The defaults every description gets for the fields it leaves out (beyond the original flat fields). */
const structuredDefaults = {
  categories: [],
  scope_param: "scope",
  pkce_required: false,
  scope_presets: {},
  token_request: { encoding: "form", accept: "application/json", extra_params: {}, extra_headers: {} },
  token_response: {
    format: "json",
    access_token_path: "access_token",
    refresh_token_path: "refresh_token",
    token_type_path: "token_type",
    scope_path: "scope",
    expires: { kind: "expires_in", path: "expires_in" },
    error_path: "error",
    error_description_path: "error_description",
    errors_with_status_200: false,
  },
  account_source: { from: "userinfo", userinfo_method: "GET", userinfo_headers: {} },
  connection_values: [],
  connection_config: [],
  lookups: [],
  api_hosts: [],
  refresh: { supported: true, rotates: false, dead_grant_errors: [{ path: "error", values: ["invalid_grant"] }] },
  hooks: [],
  base44_integration_types: [],
};

function problemsOf(value: unknown): string[] {
  const result = validateProviderDescription(value);
  if (result.success) throw new Error("expected the description to be refused");
  return result.problems;
}

describe("validateProviderDescription: valid descriptions", () => {
  it("fills in every default for a minimal named oauth2 provider", () => {
    const result = validateProviderDescription(namedOAuth2);
    expect(result).toEqual({
      success: true,
      description: {
        ...namedOAuth2,
        generic: false,
        scope_separator: " ",
        token_endpoint_auth_method: "client_secret_basic",
        pkce: true,
        authorize_params: {},
        default_scopes: [],
        account_fields: { id: "sub", email: "email", name: "name" },
        connection_config_fields: [],
        iss_parameter_supported: false,
        ...structuredDefaults,
      },
    });
  });

  it("keeps every field a fully described oauth2 provider gives", () => {
    const full = {
      ...namedOAuth2,
      revocation_url: "https://acme.example/oauth/revoke",
      userinfo_url: "https://api.acme.example/me",
      scope_separator: ",",
      token_endpoint_auth_method: "client_secret_post",
      pkce: false,
      authorize_params: { access_type: "offline", prompt: "consent" },
      default_scopes: ["read:user", "repo"],
      account_fields: { id: "data.user.id", email: "data.user.email", name: "data.user.display_name" },
      connection_config_fields: ["instance_url"],
      iss_parameter_supported: true,
    };
    expect(validateProviderDescription(full)).toEqual({
      success: true,
      description: { ...structuredDefaults, ...full, generic: false },
    });
  });

  it("accepts a named oidc provider and merges partial account fields with the defaults", () => {
    const result = validateProviderDescription({ ...namedOidc, account_fields: { name: "preferred_username" } });
    expect(result.success && result.description.account_fields).toEqual({
      id: "sub",
      email: "email",
      name: "preferred_username",
    });
  });

  it("describes the generic oauth2 and oidc providers, which take endpoints from the connector", () => {
    expect(genericOAuth2).toMatchObject({ id: "oauth2", kind: "oauth2", generic: true, pkce: true });
    expect(genericOAuth2).not.toHaveProperty("authorization_url");
    expect(genericOidc).toMatchObject({
      id: "oidc",
      kind: "oidc",
      generic: true,
      token_endpoint_auth_method: "client_secret_basic",
      default_scopes: ["openid"],
    });
    expect(genericOidc).not.toHaveProperty("issuer");
  });
});

describe("validateProviderDescription: invalid descriptions", () => {
  it("refuses a named oauth2 provider without its endpoints, naming each", () => {
    const problems = problemsOf({ id: "acme", display_name: "Acme", kind: "oauth2" });
    expect(problems).toEqual([
      "authorization_url: a named oauth2 provider needs authorization_url",
      "token_url: a named oauth2 provider needs token_url",
    ]);
  });

  it("refuses a named oidc provider without an issuer", () => {
    expect(problemsOf({ id: "acme-id", display_name: "Acme ID", kind: "oidc" })).toEqual([
      "issuer: a named oidc provider needs issuer",
    ]);
  });

  it("refuses endpoints on a generic provider (they belong to each connector)", () => {
    expect(problemsOf({ ...namedOAuth2, generic: true })).toEqual([
      "authorization_url: a generic provider takes authorization_url from each connector",
      "token_url: a generic provider takes token_url from each connector",
    ]);
  });

  it.each([
    ["http", "http://acme.example/oauth/token"],
    ["javascript:", "javascript:alert(1)"],
    ["relative", "/oauth/token"],
    ["credentials", "https://user:pass@acme.example/oauth/token"],
    ["fragment", "https://acme.example/oauth/token#x"],
  ])("refuses a %s token_url", (_label, tokenUrl) => {
    expect(problemsOf({ ...namedOAuth2, token_url: tokenUrl })).toEqual([
      "token_url: must be an absolute https URL without credentials or fragment",
    ]);
  });

  it("refuses a token_url longer than 2048 characters", () => {
    expect(problemsOf({ ...namedOAuth2, token_url: `https://acme.example/${"a".repeat(2100)}` })).toEqual([
      "token_url: Too big: expected string to have <=2048 characters",
    ]);
  });

  it("refuses an unknown kind", () => {
    expect(problemsOf({ ...namedOAuth2, kind: "saml" })[0]).toMatch(/^kind: /);
  });

  it("refuses unknown fields, so a misspelt quirk is not silently ignored", () => {
    expect(problemsOf({ ...namedOAuth2, scope_seperator: "," })).toEqual([
      'description: Unrecognized key: "scope_seperator"',
    ]);
  });

  it.each([
    ["an uppercase id", { id: "Acme" }, "id"],
    ["an empty display name", { display_name: "  " }, "display_name"],
    ["an unknown client auth method", { token_endpoint_auth_method: "private_key_jwt" }, "token_endpoint_auth_method"],
    ["a non-boolean pkce", { pkce: "yes" }, "pkce"],
    ["a scope with a space", { default_scopes: ["read write"] }, "default_scopes.0"],
    ["a non-string authorize param", { authorize_params: { prompt: 1 } }, "authorize_params.prompt"],
    ["an account field path with a space", { account_fields: { id: "user id" } }, "account_fields.id"],
    ["an unknown account field", { account_fields: { phone: "phone" } }, "account_fields"],
    ["a connection config field with a dot", { connection_config_fields: ["a.b"] }, "connection_config_fields.0"],
  ])("refuses %s", (_label, change, path) => {
    const problems = problemsOf({ ...namedOAuth2, ...change });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${path.replaceAll(".", "\\.")}: `));
  });

  it.each(["redirect_uri", "state", "scope", "code_challenge", "client_id", "nonce"])(
    "refuses authorize_params that would override %s",
    (name) => {
      expect(problemsOf({ ...namedOAuth2, authorize_params: { [name]: "x" } })).toEqual([
        `authorize_params.${name}: "${name}" is set by Latchkey and cannot be configured`,
      ]);
    },
  );

  it("refuses more than 20 authorize_params", () => {
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`p${i}`, "v"]));
    expect(problemsOf({ ...namedOAuth2, authorize_params: many })).toEqual([
      "authorize_params: at most 20 authorize_params",
    ]);
  });

  it("refuses a value that is not an object", () => {
    expect(problemsOf("oauth2")).toHaveLength(1);
    expect(problemsOf(null)).toHaveLength(1);
  });

  it("defineProvider throws with every problem, so a bad built-in description fails the build", () => {
    expect(() => defineProvider({ id: "acme", display_name: "Acme", kind: "oauth2" })).toThrow(
      /Invalid provider description "acme":\n {2}authorization_url: .*\n {2}token_url: /,
    );
  });
});

describe("catalog", () => {
  it("holds the generic providers first, then the named ones from their data files", () => {
    expect(providerIds.slice(0, 2)).toEqual(["oauth2", "oidc"]);
    expect(findProvider("oidc")).toBe(genericOidc);
    expect(findProvider("google")?.display_name).toBe("Google");
    expect(findProvider("no-such-provider")).toBeUndefined();
    expect(catalog.get("oauth2")).toBe(genericOAuth2);
  });

  it("refuses two descriptions with one id", () => {
    expect(() => buildCatalog([genericOAuth2, { ...genericOidc, id: "oauth2" }])).toThrow(
      'Two provider descriptions have the id "oauth2"',
    );
  });
});
