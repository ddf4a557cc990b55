import { loadProviderFiles } from "./provider-files.ts";
import type { ProviderDescription } from "./provider-schema.ts";

/**
 * The named providers, read from providers/*.json and validated when this module is first imported.
 * The server's build replaces this module with its value, computed and validated at build time
 * (packages/server/scripts/bundle.mjs), so a server start neither reads nor validates 50 files;
 * `dist/` of this package and the sources keep reading the files, so an edited JSON file shows at once.
 */
export const namedProviders: readonly ProviderDescription[] = loadProviderFiles();
