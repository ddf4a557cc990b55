import type { RouteContext } from "../http/route-context.ts";

export function registerWorkspaceRoutes(_ctx: RouteContext): void {}
