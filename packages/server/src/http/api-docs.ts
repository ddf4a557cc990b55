import type { z } from "zod";

export type RouteAuth = "none" | "operator" | "workspace" | "service" | "user" | "service+user";

export interface RouteDoc {
  method: "get" | "post" | "patch" | "put" | "delete";
  /** OpenAPI style: /api/apps/{appId}/... */
  path: string;
  /** The path the route is mounted at in Hono (`:appId` style). */
  honoPath?: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  body?: z.ZodType;
  query?: z.ZodType;
  /** status → description (and optional schema) */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

/**
 * Route descriptions collected as routes are mounted; /openapi.json is generated from these,
 * with the same zod schemas the routes validate with.
 */
export class ApiDocs {
  readonly routes: RouteDoc[] = [];
  add(route: RouteDoc): void {
    this.routes.push(route);
  }
}
