export * from "./provider-schema.ts";
export * from "./url-template.ts";
export * from "./generic-providers.ts";
export * from "./catalog.ts";
export * from "./provider-info.ts";
export * from "./connection-values.ts";
export * from "./json-schema.ts";
export * from "./providers-doc.ts";
