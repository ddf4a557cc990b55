// Regenerates the files derived from the catalog: provider.schema.json and docs/providers.md.
// Run with `npm run docs:providers` at the repository root.
import { writeFileSync } from "node:fs";
import { jsonSchemaPath, providerJsonSchemaText } from "../src/json-schema.ts";
import { docsPath, providersMarkdown } from "../src/providers-doc.ts";

writeFileSync(jsonSchemaPath, providerJsonSchemaText());
writeFileSync(docsPath, providersMarkdown());
console.log(`wrote ${jsonSchemaPath.pathname}\nwrote ${docsPath.pathname}`);
