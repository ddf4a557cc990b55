import { catalog } from "./catalog.ts";
import type { ProviderDescription } from "./provider-schema.ts";
import { valuePattern } from "./url-template.ts";

/** One provider as `GET /api/providers` and `GET /api/providers/{id}` answer it. */
export interface ProviderInfo {
  id: string;
  name: string;
  categories: string[];
  docs_url: string | null;
  scope_presets: Record<string, string[]>;
  /** The values a connector or an app user supplies (provider-supplied values are not inputs). */
  connection_values: ProviderConnectionValueInfo[];
  integration_types: string[];
}

export interface ProviderConnectionValueInfo {
  name: string;
  label: string;
  /** Anchored regular expression the value must match. */
  pattern: string;
  example: string;
  supplied_by: "connector" | "user";
}

/** The wire shape of a description: what API clients may know of it, nothing more. */
export function toProviderInfo(description: ProviderDescription): ProviderInfo {
  const connectionValues: ProviderConnectionValueInfo[] = [];
  for (const value of description.connection_values) {
    if (value.supplied_by === "provider") continue;
    connectionValues.push({
      name: value.name,
      label: value.label,
      pattern: valuePattern(value),
      example: value.example,
      supplied_by: value.supplied_by,
    });
  }
  return {
    id: description.id,
    name: description.display_name,
    categories: [...description.categories],
    docs_url: description.docs_url ?? null,
    scope_presets: Object.fromEntries(
      Object.entries(description.scope_presets).map(([name, scopes]) => [name, [...scopes]]),
    ),
    connection_values: connectionValues,
    integration_types: description.base44_integration_types.map((type) => type.name),
  };
}

export interface IntegrationTypeMatch {
  provider: ProviderDescription;
  /** The scope preset this Base44 name stands for, when it names one. */
  scope_preset: string | undefined;
}

/**
 * The catalog provider that lists this Base44 integration-type name (`googlecalendar` → google
 * with preset `calendar`). A name is listed by at most one provider (a catalog test checks it).
 */
export function findProviderByIntegrationType(
  name: string,
  descriptions: Iterable<ProviderDescription> = catalog.values(),
): IntegrationTypeMatch | undefined {
  for (const provider of descriptions) {
    const type = provider.base44_integration_types.find((candidate) => candidate.name === name);
    if (type) return { provider, scope_preset: type.scope_preset };
  }
  return undefined;
}
