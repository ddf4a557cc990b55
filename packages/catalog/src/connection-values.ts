import type { ConnectionValue, ProviderDescription } from "./provider-schema.ts";
import { fillTemplate, valuePattern } from "./url-template.ts";

export type ConnectionValuesResult =
  | { success: true; values: Record<string, string> }
  | { success: false; problems: string[] };

/**
 * The values a connection's URLs are filled with before connecting: the connector's own values
 * (fixed by the admin), the app user's (from the initiate body) and the defaults, each only from
 * whoever the description says supplies it, each matching its pattern. Provider-supplied values
 * join later, from the callback, token answer or lookups. Problems name the value, never echo it.
 */
export function resolveConnectionValues(
  description: ProviderDescription,
  supplied: {
    connector?: Readonly<Record<string, string>> | undefined;
    user?: Readonly<Record<string, string>> | undefined;
  },
): ConnectionValuesResult {
  const problems: string[] = [];
  const values: Record<string, string> = {};
  const declared = new Map(description.connection_values.map((value) => [value.name, value]));
  for (const [who, given] of [
    ["connector", supplied.connector],
    ["user", supplied.user],
  ] as const) {
    for (const name of Object.keys(given ?? {})) {
      const declaration = declared.get(name);
      if (!declaration) problems.push(`connection_values.${name}: ${description.id} has no such value`);
      else if (declaration.supplied_by !== who)
        problems.push(`connection_values.${name}: supplied by the ${declaration.supplied_by}, not the ${who}`);
    }
  }
  for (const declaration of description.connection_values) {
    if (declaration.supplied_by === "provider") continue;
    const given = declaration.supplied_by === "connector" ? supplied.connector : supplied.user;
    const value =
      (given && Object.hasOwn(given, declaration.name) ? given[declaration.name] : undefined) ?? declaration.default;
    if (value === undefined) {
      problems.push(`connection_values.${declaration.name}: required (${declaration.label})`);
      continue;
    }
    if (!isValidConnectionValue(declaration, value)) {
      problems.push(
        `connection_values.${declaration.name}: must match ${valuePattern(declaration)}, e.g. ${declaration.example}`,
      );
      continue;
    }
    values[declaration.name] = value;
  }
  return problems.length > 0 ? { success: false, problems } : { success: true, values };
}

/** Whether a value is acceptable for its declaration (the slot it fills is checked again by fillTemplate). */
export function isValidConnectionValue(declaration: ConnectionValue, value: string): boolean {
  if (value.length > 255) return false;
  return new RegExp(valuePattern(declaration), "u").test(value);
}

/** Fills one of a description's URLs with a connection's values (see fillTemplate). */
export function fillProviderUrl(
  description: ProviderDescription,
  url: string,
  values: Readonly<Record<string, string | undefined>>,
): string {
  return fillTemplate(url, values, description.connection_values);
}
