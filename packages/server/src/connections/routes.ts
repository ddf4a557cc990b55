import type { RouteContext } from "../http/route-context.ts";

export function registerConnectionRoutes(_ctx: RouteContext): void {}
