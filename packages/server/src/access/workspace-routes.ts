import type { ErrorCode } from "@latchkey/contracts";
import type { z } from "zod";
import { defineRoute, type RouteSpec } from "../http/define-route.ts";
import type { RouteContext } from "../http/route-context.ts";
import { type AccessDeps, workspaceAuth } from "./auth.ts";

type Input = z.ZodType | undefined;

/** A workspace route's spec: its tag, auth and guard come from `workspaceRoutes`. */
export type WorkspaceRouteSpec<Body extends Input, Query extends Input> = Omit<
  RouteSpec<Body, Query>,
  "tag" | "auth" | "use"
>;

/**
 * Declares the routes under /api/workspaces/{workspaceId}: each one behind the workspace guard
 * for members or for admins, and documented with the errors that guard answers with (NOT_FOUND for
 * another workspace, FORBIDDEN for a member where an admin is needed) besides the route's own.
 */
export function workspaceRoutes(ctx: RouteContext<AccessDeps>, tag: string) {
  const guarded = (role: "member" | "admin", guardErrors: readonly ErrorCode[]) => {
    const use = [workspaceAuth(ctx.deps, role)];
    return <Body extends Input = undefined, Query extends Input = undefined>(
      spec: WorkspaceRouteSpec<Body, Query>,
    ): void =>
      defineRoute(ctx, {
        ...spec,
        tag,
        auth: "workspace",
        use,
        errors: [...new Set([...guardErrors, ...(spec.errors ?? [])])],
      });
  };
  return { forMembers: guarded("member", ["NOT_FOUND"]), forAdmins: guarded("admin", ["FORBIDDEN", "NOT_FOUND"]) };
}
