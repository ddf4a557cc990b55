import type { RouteContext } from "../http/route-context.ts";

export function registerOpsRoutes(_ctx: RouteContext): void {}
