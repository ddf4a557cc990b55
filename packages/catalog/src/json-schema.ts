import { z } from "zod";
import { ProviderDescriptionSchema } from "./provider-schema.ts";

/** Where the committed JSON Schema of description files lives (editors and other tools read it). */
export const jsonSchemaPath = new URL("../provider.schema.json", import.meta.url);

/**
 * The JSON Schema of a description file, generated from the zod schema (input side: fields with
 * defaults are optional). Cross-field rules (templates declared, presets named) stay in zod.
 */
export function providerJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ProviderDescriptionSchema, { io: "input", unrepresentable: "any" }),
    $id: "https://github.com/latchkey/latchkey/packages/catalog/provider.schema.json",
    title: "Latchkey provider description",
  };
}

/** The committed file's exact text: two-space JSON and a final newline. */
export function providerJsonSchemaText(): string {
  return `${JSON.stringify(providerJsonSchema(), null, 2)}\n`;
}
