import type { RouteContext } from "../http/route-context.ts";

export function registerConnectorRoutes(_ctx: RouteContext): void {}
