import { ApiError, api } from "../api/client.ts";
import type { ProviderInfo } from "../api/types.ts";

/** The generic providers every server has; always offered, whatever the search says. */
export const genericProviders: ProviderInfo[] = [
  { id: "oauth2", name: "Generic OAuth 2.0", categories: ["generic"] },
  { id: "oidc", name: "Generic OpenID Connect", categories: ["generic"] },
];

export const isGeneric = (id: string) => id === "oauth2" || id === "oidc";

/** `GET /api/providers`, with the generic ones first; an older server without it has only those. */
export async function loadProviders(): Promise<ProviderInfo[]> {
  let listed: ProviderInfo[] = [];
  try {
    listed = (await api<{ providers: ProviderInfo[] }>("GET", "/api/providers")).providers;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  const named = listed.filter((provider) => !isGeneric(provider.id));
  const generic = genericProviders.map((fallback) => listed.find((p) => p.id === fallback.id) ?? fallback);
  return [...generic, ...named.sort((a, b) => a.name.localeCompare(b.name))];
}

export function matchesSearch(provider: ProviderInfo, search: string): boolean {
  const needle = search.trim().toLowerCase();
  if (!needle) return true;
  return [provider.id, provider.name, ...(provider.categories ?? []), ...(provider.integration_types ?? [])].some(
    (text) => text.toLowerCase().includes(needle),
  );
}
