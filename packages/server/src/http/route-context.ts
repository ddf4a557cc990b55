import type { Hono } from "hono";
import type { ApiDocs } from "./api-docs.ts";
import type { AppEnv } from "./app-env.ts";

/**
 * What every feature's `register…Routes(ctx)` receives: the Hono app to mount on, the docs
 * registry, and the dependencies and per-instance services it needs (each feature names its own
 * narrow `Deps` type; app/create-app.ts hands over one object that satisfies them all).
 */
export interface RouteContext<Deps> {
  app: Hono<AppEnv>;
  docs: ApiDocs;
  deps: Deps;
}
