import { AppError } from "../errors/app-error.ts";
import type { AppDeps } from "../http/app.ts";
import type { ProviderResolver } from "./provider.ts";

/** Placeholder until provider resolution lands. */
export function createProviderResolver(_deps: AppDeps): ProviderResolver {
  return { resolve: () => Promise.reject(new AppError("PROVIDER_ERROR", "Provider resolution is not available")) };
}
