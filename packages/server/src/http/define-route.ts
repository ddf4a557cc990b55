import { ErrorCode } from "@latchkey/contracts";
import type { Context } from "hono";
import type { z } from "zod";
import type { ApiDocs, RouteAuth, RouteDoc } from "./api-docs.ts";
import type { AppEnv } from "./app-env.ts";
import { parseOrThrow, readJson } from "./read-json.ts";
import type { RoutePipeline, Step } from "./route-pipeline.ts";

type Parsed<Schema> = Schema extends z.ZodType ? z.output<Schema> : undefined;

/** What a handler receives besides the context: the validated body and query. */
export interface RouteInput<Body, Query> {
  body: Parsed<Body>;
  query: Parsed<Query>;
}

/**
 * One route, declared once: the Hono route, its validation and its /openapi.json entry all come
 * from this object (the way `@hono/zod-openapi`'s `openapi(route, handler)` and better-auth's
 * `createAuthEndpoint` do it). Measured against those libraries, registering plain Hono handlers
 * keeps the token hot path free of a validator layer: a route without body or query schema runs
 * its handler directly.
 */
export interface RouteSpec<Body extends z.ZodType | undefined, Query extends z.ZodType | undefined> {
  method: RouteDoc["method"];
  /** OpenAPI style, `/api/apps/{appId}/…`; the Hono path is derived (`:appId`). */
  path: string;
  /**
   * The Hono path, only where it must differ from `path` (a literal segment matched as a
   * parameter so that Hono keeps its RegExpRouter; see connections/routes.ts).
   */
  honoPath?: string;
  summary: string;
  tag: string;
  /** Who may call it, for the docs' security section; `use` holds the middlewares that enforce it. */
  auth: RouteAuth;
  /** Steps run before the handler, in order (authentication, rate limits). */
  use?: readonly Step[];
  /** JSON body, validated before the handler runs (an empty body counts as `{}`). */
  body?: Body;
  /** Query string, validated before the handler runs. */
  query?: Query;
  /** Answers by status: the successes, and any error answer that is not the JSON error envelope. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  /**
   * Error codes this route answers with, beyond those its schemas and auth imply (invalid body or
   * query, missing credentials): documented under their statuses from the one error table.
   */
  errors?: readonly ErrorCode[];
  handler: (c: Context<AppEnv>, input: RouteInput<Body, Query>) => Response | Promise<Response>;
}

/** Where routes are declared: the app's route pipeline and the docs registry (a feature's RouteContext). */
export interface RouteTarget {
  routes: RoutePipeline;
  docs: ApiDocs;
}

const noInput = { body: undefined, query: undefined };

/** Mounts a route on the app and records its documentation. */
export function defineRoute<
  Body extends z.ZodType | undefined = undefined,
  Query extends z.ZodType | undefined = undefined,
>(target: RouteTarget, spec: RouteSpec<Body, Query>): void {
  const honoPath = spec.honoPath ?? spec.path.replace(/\{([A-Za-z0-9_]+)\}/g, ":$1");
  const { body, query, handler } = spec;
  const run =
    body === undefined && query === undefined
      ? (c: Context<AppEnv>) => handler(c, noInput as RouteInput<Body, Query>)
      : async (c: Context<AppEnv>) => {
          const input = {
            query: query === undefined ? undefined : parseOrThrow(query, c.req.query(), "query"),
            body: body === undefined ? undefined : await readJson(c, body),
          };
          return handler(c, input as RouteInput<Body, Query>);
        };
  target.routes.mount(spec.method.toUpperCase(), honoPath, spec.use ?? [], run);
  target.docs.add({
    method: spec.method,
    path: spec.path,
    honoPath,
    summary: spec.summary,
    tag: spec.tag,
    auth: spec.auth,
    ...(body !== undefined && { body }),
    ...(query !== undefined && { query }),
    // A status the spec describes itself (the callback's HTML error page) keeps its description.
    responses: { ...errorResponses(impliedErrors(spec).concat(spec.errors ?? [])), ...spec.responses },
  });
}

/** The errors every route of this shape can answer with, whatever its handler does. */
function impliedErrors(spec: RouteSpec<z.ZodType | undefined, z.ZodType | undefined>): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (spec.body !== undefined) codes.push("INVALID_REQUEST", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE");
  if (spec.query !== undefined) codes.push("INVALID_REQUEST");
  if (spec.auth !== "none") codes.push("UNAUTHENTICATED", "RATE_LIMITED");
  if (spec.auth === "user" || spec.auth === "service+user") codes.push("INVALID_USER_TOKEN");
  return codes;
}

/** Doc entries for error codes, one per status, naming every code answered with it. */
export function errorResponses(codes: readonly ErrorCode[]): RouteDoc["responses"] {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes) {
    const status = ErrorCode[code];
    if (!byStatus.has(status)) byStatus.set(status, new Set());
    byStatus.get(status)?.add(code);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, set]) => [status, { description: `Error: ${[...set].sort().join(" or ")}` }]),
  );
}
