import { genericOAuth2, genericOidc } from "./generic-providers.ts";
import { namedProviders } from "./named-providers.ts";
import type { ProviderDescription } from "./provider-schema.ts";

export { kebabCaseId, loadProviderFiles, providersDirectory } from "./provider-files.ts";

/** Indexes descriptions by id; two descriptions with one id are a build error, not a silent override. */
export function buildCatalog(descriptions: readonly ProviderDescription[]): ReadonlyMap<string, ProviderDescription> {
  const byId = new Map<string, ProviderDescription>();
  for (const description of descriptions) {
    if (byId.has(description.id)) throw new Error(`Two provider descriptions have the id "${description.id}"`);
    byId.set(description.id, description);
  }
  return byId;
}

/** Every provider Latchkey knows, by id: the two generic ones, then the named ones in id order. */
export const catalog = buildCatalog([genericOAuth2, genericOidc, ...namedProviders]);

export const providerIds: readonly string[] = [...catalog.keys()];

export function findProvider(id: string): ProviderDescription | undefined {
  return catalog.get(id);
}
