export * from "./errors.ts";
export * from "./plans.ts";
export * from "./api.ts";
export * from "./callback.ts";
