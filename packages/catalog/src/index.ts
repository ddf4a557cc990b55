export * from "./provider-schema.ts";
export * from "./generic-providers.ts";
export * from "./catalog.ts";
