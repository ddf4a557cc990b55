import type { RouteContext } from "../http/route-context.ts";

export function registerIdentityRoutes(_ctx: RouteContext): void {}
