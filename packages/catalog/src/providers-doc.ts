import { catalog } from "./catalog.ts";
import { hookPurposes, type ProviderDescription } from "./provider-schema.ts";
import { findProviderByIntegrationType } from "./provider-info.ts";

/** Base44's integration-type names (its connectors module); each is mapped by a provider or listed as not covered. */
export const base44IntegrationTypes = [
  "airtable",
  "bamboohr",
  "box",
  "calendly",
  "clickup",
  "contentful",
  "databricks",
  "discord",
  "dropbox",
  "github",
  "gitlab",
  "gmail",
  "googleads",
  "google_analytics",
  "googlebigquery",
  "googlecalendar",
  "google_classroom",
  "googledocs",
  "googledrive",
  "googlemeet",
  "google_search_console",
  "googlesheets",
  "googleslides",
  "googletasks",
  "hubspot",
  "hugging_face",
  "instagram",
  "linear",
  "linkedin",
  "microsoft_teams",
  "one_drive",
  "notion",
  "outlook",
  "quickbooks",
  "salesforce",
  "share_point",
  "slack",
  "slackbot",
  "snowflake",
  "splitwise",
  "square",
  "supabase",
  "tiktok",
  "typeform",
  "wix",
  "wrike",
] as const;

export const docsPath = new URL("../../../docs/providers.md", import.meta.url);

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function pkceOf(description: ProviderDescription): string {
  if (description.pkce_required) return "required";
  return description.pkce ? "sent" : "off";
}

function refreshOf(description: ProviderDescription): string {
  if (!description.refresh.supported) return "no refresh";
  return description.refresh.rotates ? "yes, rotates" : "yes";
}

function valuesOf(description: ProviderDescription): string {
  const values = description.connection_values.map((value) => `\`${value.name}\` (${value.supplied_by})`);
  return values.length > 0 ? values.join(", ") : "—";
}

function typesOf(description: ProviderDescription): string {
  const types = description.base44_integration_types.map((type) =>
    type.scope_preset === undefined ? `\`${type.name}\`` : `\`${type.name}\` → \`${type.scope_preset}\``,
  );
  return types.length > 0 ? types.join(", ") : "—";
}

/** docs/providers.md, generated from the catalog data (`npm run docs:providers`). */
export function providersMarkdown(descriptions: Iterable<ProviderDescription> = catalog.values()): string {
  const named = [...descriptions].filter((description) => !description.generic);
  const lines = [
    "# Providers",
    "",
    "<!-- Generated from packages/catalog/providers/*.json by `npm run docs:providers`; do not edit by hand. -->",
    "",
    `Latchkey's catalog describes ${named.length} providers, each one data file in`,
    "[`packages/catalog/providers/`](../packages/catalog/providers/) whose fields are explained in that",
    "folder's README. Besides them, the generic `oauth2` (endpoints given by the connector) and `oidc`",
    "(issuer and discovery) providers cover any other standard authorization server.",
    "",
    "PKCE: `required` (the provider refuses a flow without it), `sent` (Latchkey sends S256; servers",
    "that do not know PKCE ignore it), `off`. Connection values: `connector` values are fixed by the",
    "admin on the connector, `user` values come from each app user at initiate, `provider` values are",
    "read at connect time. Base44 types: the integration-type names the provider answers to, with the",
    "scope preset each stands for.",
    "",
    "| id | name | categories | PKCE | client auth | refresh | connection values | Base44 types |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const description of named) {
    lines.push(
      `| \`${description.id}\` | ${cell(description.display_name)} | ${description.categories.join(", ") || "—"} | ${pkceOf(description)} | ${description.token_endpoint_auth_method} | ${refreshOf(description)} | ${valuesOf(description)} | ${typesOf(description)} |`,
    );
  }
  const uncovered = base44IntegrationTypes.filter((name) => findProviderByIntegrationType(name, named) === undefined);
  lines.push(
    "",
    "## Base44 integration types not yet covered",
    "",
    "These Base44 names map to no catalog provider yet; a connector of the generic `oauth2` provider",
    "with `integration_type` set can stand in for one until its data file is added.",
    "",
    ...uncovered.map((name) => `- \`${name}\``),
    "",
    "## Providers that need a hook",
    "",
    "Everything else is data. A hook is named logic for what no field can express, implemented once in",
    "the server and switched on by the provider's `hooks`.",
    "",
    ...named.flatMap((description) =>
      description.hooks.map((hook) => `- \`${description.id}\`: \`${hook}\`. ${hookPurposes[hook]}`),
    ),
    "",
  );
  return lines.join("\n");
}
