import type { ApiDocs } from "./api-docs.ts";
import type { RoutePipeline } from "./route-pipeline.ts";

/**
 * What every feature's `register…Routes(ctx)` receives: the route pipeline to mount on (each
 * route one Hono handler running the app's steps, http/route-pipeline.ts), the docs registry, and
 * the dependencies and per-instance services it needs (each feature names its own narrow `Deps`
 * type; app/create-app.ts hands over one object that satisfies them all).
 */
export interface RouteContext<Deps> {
  routes: RoutePipeline;
  docs: ApiDocs;
  deps: Deps;
}
