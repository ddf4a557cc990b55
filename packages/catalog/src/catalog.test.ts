import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { afterEach, describe, expect, it } from "vitest";
import { catalog, findProvider, kebabCaseId, loadProviderFiles, providersDirectory } from "./catalog.ts";
import { resolveConnectionValues } from "./connection-values.ts";
import { jsonSchemaPath, providerJsonSchemaText } from "./json-schema.ts";
import { findProviderByIntegrationType, toProviderInfo } from "./provider-info.ts";
import { validateProviderDescription, type ProviderDescription } from "./provider-schema.ts";
import { base44IntegrationTypes, docsPath, providersMarkdown } from "./providers-doc.ts";
import { describedUrls } from "./provider-schema.ts";
import { fillTemplate, valuePattern } from "./url-template.ts";

const files = readdirSync(providersDirectory).filter((file) => file.endsWith(".json"));
const named = [...catalog.values()].filter((description) => !description.generic);
const rawOf = (file: string): unknown => JSON.parse(readFileSync(join(providersDirectory, file), "utf8"));

/** The providers the catalog promises (the list), plus the Slack bot-token variant. */
const requiredIds = [
  "google", "microsoft", "github", "gitlab", "bitbucket", "slack", "notion", "salesforce", "linkedin", "atlassian",
  "hubspot", "dropbox", "box", "zoom", "spotify", "discord", "twitter", "asana", "airtable", "figma", "linear",
  "intercom", "mailchimp", "quickbooks", "xero", "shopify", "zendesk", "okta", "auth0", "keycloak", "pipedrive",
  "calendly", "typeform", "miro", "monday", "clickup", "todoist", "strava", "fitbit", "twitch", "reddit",
  "digitalocean", "docusign", "amazon", "paypal", "square", "webflow", "wrike", "smartsheet", "yahoo", "zoho",
  "slack-bot",
]; // biome-ignore format: a list of names reads best packed

/** Markdown with table cells trimmed, as biome pads them to align columns. */
function tableCellsTrimmed(markdown: string): string {
  return markdown
    .split("\n")
    .map((line) =>
      line.startsWith("|")
        ? line
            .split(/(?<!\\)\|/)
            .map((cell) => cell.trim().replace(/^-+$/, "---"))
            .join("|")
        : line,
    )
    .join("\n");
}

describe("provider data files", () => {
  it("holds every promised provider, one file each, and nothing else", () => {
    expect(files.map((file) => file.slice(0, -5)).sort()).toEqual([...requiredIds].sort());
    expect(named.map((description) => description.id).sort()).toEqual([...requiredIds].sort());
  });

  it.each(files)("%s validates against the zod schema, its id is its kebab-case file name", (file) => {
    const result = validateProviderDescription(rawOf(file));
    expect(result.success ? [] : result.problems).toEqual([]);
    const id = file.slice(0, -".json".length);
    expect(result.success && result.description.id).toBe(id);
    expect(id).toMatch(kebabCaseId);
  });

  it.each(files)("%s validates against the committed JSON Schema", (file) => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(readFileSync(jsonSchemaPath, "utf8")));
    expect(validate(rawOf(file)) ? [] : validate.errors).toEqual([]);
  });

  it.each(named.map((description) => [description.id, description] as const))(
    "%s names its documentation, a category and only declared, well-formed templates",
    (_id, description) => {
      expect(description.docs_url).toMatch(/^https:\/\//);
      expect(description.categories.length).toBeGreaterThan(0);
      const samples = Object.fromEntries(
        description.connection_values.map((value) => [value.name, value.default ?? value.example]),
      );
      for (const { url } of describedUrls(description)) {
        expect(() =>
          fillTemplate(url, { ...samples, client_id: "client-id" }, description.connection_values),
        ).not.toThrow();
      }
    },
  );

  it("every connection value's pattern is anchored and refuses values that would leave a host", () => {
    const values = named.flatMap((description) =>
      description.connection_values.map((value) => ({ where: `${description.id}.${value.name}`, value })),
    );
    expect(values.length).toBeGreaterThan(10);
    for (const { where, value } of values) {
      const pattern = valuePattern(value);
      expect(pattern, where).toMatch(/^\^.*\$$/);
      for (const hostile of ["evil.com/", "a.b", "x@y", "..", "", "evil.com", "a/b", "a:1"]) {
        expect(new RegExp(pattern, "u").test(hostile), `${where} accepts ${JSON.stringify(hostile)}`).toBe(false);
      }
    }
  });

  it("the committed JSON Schema is the one the zod schema generates (npm run docs:providers)", () => {
    // Compared as JSON: biome lays the committed file out its own way.
    expect(JSON.parse(readFileSync(jsonSchemaPath, "utf8"))).toEqual(JSON.parse(providerJsonSchemaText()));
  });

  it("docs/providers.md is the one the data generates (npm run docs:providers)", () => {
    expect(tableCellsTrimmed(readFileSync(docsPath, "utf8"))).toBe(tableCellsTrimmed(providersMarkdown()));
  });
});

describe("Base44 integration types", () => {
  const mapped = named.flatMap((description) =>
    description.base44_integration_types.map((type) => ({ id: description.id, name: type.name })),
  );

  it("every name a provider lists is one of Base44's, listed by one provider only", () => {
    const names = mapped.map((entry) => entry.name);
    expect(names.filter((name) => !(base44IntegrationTypes as readonly string[]).includes(name))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });

  it("every Base44 name is either mapped or listed in docs/providers.md as not yet covered", () => {
    const doc = readFileSync(docsPath, "utf8");
    const uncoveredSection = doc.slice(doc.indexOf("## Base44 integration types not yet covered"));
    for (const name of base44IntegrationTypes) {
      const isMapped = mapped.some((entry) => entry.name === name);
      expect(isMapped || uncoveredSection.includes(`- \`${name}\``), name).toBe(true);
      expect(isMapped && uncoveredSection.includes(`- \`${name}\``), name).toBe(false);
    }
  });

  it("finds the provider and scope preset behind a Base44 name", () => {
    const match = findProviderByIntegrationType("googlecalendar");
    expect(match?.provider.id).toBe("google");
    expect(match?.scope_preset).toBe("calendar");
    expect(findProviderByIntegrationType("github")).toEqual({
      provider: findProvider("github"),
      scope_preset: undefined,
    });
    expect(findProviderByIntegrationType("outlook")?.provider.id).toBe("microsoft");
    expect(findProviderByIntegrationType("tiktok")).toBeUndefined();
  });
});

describe("quirks are fields", () => {
  const get = (id: string): ProviderDescription => {
    const description = findProvider(id);
    if (!description) throw new Error(`no ${id}`);
    return description;
  };

  it("Slack user tokens: user_scope, commas, authed_user, ok:false with HTTP 200", () => {
    const slack = get("slack");
    expect(slack.scope_param).toBe("user_scope");
    expect(slack.scope_separator).toBe(",");
    expect(slack.token_response).toMatchObject({
      access_token_path: "authed_user.access_token",
      refresh_token_path: "authed_user.refresh_token",
      ok_path: "ok",
      errors_with_status_200: true,
    });
  });

  it("Google asks for offline access with consent; Dropbox for offline tokens; Reddit for permanence", () => {
    expect(get("google").authorize_params).toMatchObject({ access_type: "offline", prompt: "consent" });
    expect(get("dropbox").authorize_params).toEqual({ token_access_type: "offline" });
    expect(get("reddit").authorize_params).toEqual({ duration: "permanent" });
    expect(get("reddit").token_request.extra_headers["User-Agent"]).toBeDefined();
  });

  it("PKCE-only providers say so; Notion and Atlassian send JSON token requests", () => {
    expect(
      named
        .filter((description) => description.pkce_required)
        .map((description) => description.id)
        .sort(),
    ).toEqual(["airtable", "twitter"]);
    expect(get("notion").token_request.encoding).toBe("json");
    expect(get("notion").token_endpoint_auth_method).toBe("client_secret_basic");
    expect(get("atlassian").token_request.encoding).toBe("json");
  });

  it("post-connect lookups are data: Atlassian sites, Xero tenants, Mailchimp's data center", () => {
    expect(get("atlassian").lookups.map((lookup) => lookup.url)).toEqual([
      "https://api.atlassian.com/oauth/token/accessible-resources",
    ]);
    expect(get("xero").connection_config).toContainEqual({
      name: "tenant_id",
      from: "lookup",
      lookup: "connections",
      path: "0.tenantId",
    });
    expect(get("mailchimp").connection_values[0]).toMatchObject({ name: "dc", supplied_by: "provider" });
    expect(get("quickbooks").connection_config).toContainEqual({ name: "realmId", from: "callback", path: "realmId" });
  });
});

describe("toProviderInfo", () => {
  it("gives the wire shape of GET /api/providers, without provider-supplied values", () => {
    expect(toProviderInfo(findProvider("shopify") as ProviderDescription)).toEqual({
      id: "shopify",
      name: "Shopify",
      categories: ["e-commerce"],
      docs_url: expect.stringMatching(/^https:\/\/shopify\.dev\//),
      scope_presets: {},
      connection_values: [
        {
          name: "shop",
          label: "Shop name (the part before .myshopify.com)",
          pattern: "^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$",
          example: "acme-store",
          supplied_by: "user",
        },
      ],
      integration_types: [],
    });
    const salesforce = toProviderInfo(findProvider("salesforce") as ProviderDescription);
    expect(salesforce.connection_values.map((value) => value.name)).toEqual(["login_host"]);
    expect(toProviderInfo(findProvider("google") as ProviderDescription).integration_types).toContain("googlesheets");
    expect(toProviderInfo(findProvider("oauth2") as ProviderDescription).docs_url).toBeNull();
  });
});

describe("resolveConnectionValues", () => {
  const microsoft = findProvider("microsoft") as ProviderDescription;
  const shopify = findProvider("shopify") as ProviderDescription;

  it("takes defaults, the connector's values and the user's, each from its own supplier", () => {
    expect(resolveConnectionValues(microsoft, {})).toEqual({ success: true, values: { tenant: "common" } });
    expect(resolveConnectionValues(shopify, { user: { shop: "acme" } })).toEqual({
      success: true,
      values: { shop: "acme" },
    });
  });

  it.each([
    [
      "a missing user value",
      shopify,
      {},
      "connection_values.shop: required (Shop name (the part before .myshopify.com))",
    ],
    ["a malformed user value", shopify, { user: { shop: "evil.com/" } }, "connection_values.shop: must match"],
    ["a user setting the connector's value", microsoft, { user: { tenant: "common" } }, "supplied by the connector"],
    [
      "an unknown value",
      shopify,
      { user: { shop: "a", region: "eu" } },
      "connection_values.region: shopify has no such value",
    ],
  ] as const)("refuses %s", (_label, description, supplied, problem) => {
    const result = resolveConnectionValues(description, supplied);
    expect(result.success).toBe(false);
    expect(result.success ? "" : result.problems.join("\n")).toContain(problem);
  });
});

describe("loadProviderFiles: a bad file is a loud error", () => {
  let directory = "";
  afterEach(() => rmSync(directory, { recursive: true, force: true }));
  const load = (contents: Record<string, string>) => {
    directory = mkdtempSync(join(tmpdir(), "latchkey-catalog-"));
    for (const [file, text] of Object.entries(contents)) writeFileSync(join(directory, file), text);
    return () => loadProviderFiles(directory);
  };
  const minimal = (id: string) =>
    JSON.stringify({
      id,
      display_name: "X",
      kind: "oauth2",
      authorization_url: "https://x.example/a",
      token_url: "https://x.example/t",
    });

  it("names every problem of every file", () => {
    expect(
      load({
        "broken.json": "{",
        "other.json": minimal("different"),
        "snake_case.json": minimal("snake_case"),
        "bad.json": JSON.stringify({ id: "bad", display_name: "Bad", kind: "oauth2" }),
      }),
    ).toThrow(
      /broken\.json: not valid JSON[\s\S]*other\.json: id "different" must equal the file name[\s\S]*snake_case\.json: a provider id is kebab-case/,
    );
  });

  it("reads good files in id order and ignores other files", () => {
    const descriptions = load({ "b-two.json": minimal("b-two"), "a-one.json": minimal("a-one"), "README.md": "#" })();
    expect(descriptions.map((description) => description.id)).toEqual(["a-one", "b-two"]);
  });
});
