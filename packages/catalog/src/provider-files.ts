import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validateProviderDescription, type ProviderDescription } from "./provider-schema.ts";

/** Where the named providers' data files live: one `<id>.json` per provider. */
export const providersDirectory = join(import.meta.dirname, "..", "providers");

/** Named provider ids are kebab-case (generic ones keep their historic names). */
export const kebabCaseId = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * Reads and validates every `<id>.json` of a folder. Any bad file (invalid JSON, a schema problem,
 * an id that is not its file name or not kebab-case) is an error naming every problem of every
 * file, so a broken catalog never starts.
 */
export function loadProviderFiles(directory: string = providersDirectory): ProviderDescription[] {
  const files = readdirSync(directory)
    .filter((file) => file.endsWith(".json"))
    .sort();
  const descriptions: ProviderDescription[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const id = file.slice(0, -".json".length);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(join(directory, file), "utf8"));
    } catch (error) {
      problems.push(`${file}: not valid JSON (${(error as Error).message})`);
      continue;
    }
    const result = validateProviderDescription(value);
    if (!result.success) {
      problems.push(...result.problems.map((problem) => `${file}: ${problem}`));
      continue;
    }
    if (result.description.id !== id) problems.push(`${file}: id "${result.description.id}" must equal the file name`);
    else if (!kebabCaseId.test(id)) problems.push(`${file}: a provider id is kebab-case`);
    else if (result.description.generic) problems.push(`${file}: only the built-in providers are generic`);
    else descriptions.push(result.description);
  }
  if (problems.length > 0) throw new Error(`Invalid provider catalog:\n  ${problems.join("\n  ")}`);
  return descriptions;
}
