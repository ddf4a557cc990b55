import type { RouteContext } from "../http/route-context.ts";

export function registerOperatorRoutes(_ctx: RouteContext): void {}
