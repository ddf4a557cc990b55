import type { RouteContext } from "../http/route-context.ts";

export function registerOAuthRoutes(_ctx: RouteContext): void {}
