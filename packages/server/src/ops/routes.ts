import { sql } from "kysely";
import { z } from "zod";
import serverPackage from "../../package.json" with { type: "json" };
import { AppError } from "../errors/app-error.ts";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import { defineRoute } from "../http/define-route.ts";
import type { RouteContext } from "../http/route-context.ts";
import { exposition, type Metrics } from "../kernel/metrics.ts";
import { buildOpenApiDocument, type OpenApiDocument } from "./openapi.ts";
import { requestLog } from "../http/request-context.ts";

/** /readyz answers 503 rather than hang when the database does not answer within this. */
export const readinessTimeoutMs = 2_000;

export const latchkeyVersion: string = serverPackage.version;

const Health = z.object({ status: z.literal("ok") });
const Readiness = z.object({ status: z.literal("ready"), database: z.enum(["postgres", "embedded"]) });

/**
 * Liveness, readiness, Prometheus metrics and the OpenAPI document. None needs credentials:
 * /metrics is meant for an internal network (keep it off the public ingress).
 */
/** What the operations routes need. */
export interface OpsDeps {
  config: Config;
  db: Db;
  dbKind: "postgres" | "embedded";
  metrics: Metrics;
}

export function registerOpsRoutes(ctx: RouteContext<OpsDeps>): void {
  const { deps, docs } = ctx;
  registerProcessMetrics(deps.metrics, deps.dbKind);
  const tag = "operations";

  defineRoute(ctx, {
    method: "get",
    path: "/healthz",
    summary: "Liveness: the process answers (does not touch the database)",
    tag,
    auth: "none",
    responses: { 200: { description: "Alive", schema: Health } },
    handler: (c) => c.json(Health.parse({ status: "ok" })),
  });

  defineRoute(ctx, {
    method: "get",
    path: "/readyz",
    summary: "Readiness: the database answers a query within 2 seconds",
    tag,
    auth: "none",
    responses: { 200: { description: "Ready to serve", schema: Readiness } },
    errors: ["NOT_READY"],
    handler: async (c) => {
      try {
        await withTimeout(sql`select 1`.execute(deps.db), readinessTimeoutMs);
      } catch (error) {
        requestLog(c).warn({ err: error }, "readiness check failed: database unavailable");
        throw new AppError("NOT_READY", "The database is not reachable");
      }
      return c.json(Readiness.parse({ status: "ready", database: deps.dbKind }));
    },
  });

  defineRoute(ctx, {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text format 0.0.4). Unauthenticated: expose it on an internal network only",
    tag,
    auth: "none",
    responses: { 200: { description: "text/plain; version=0.0.4" } },
    handler: async (c) => {
      c.header("Content-Type", exposition.contentType);
      c.header("Cache-Control", "no-store");
      return c.body(await deps.metrics.render());
    },
  });

  // Built on first request, not here: features register their routes (and docs) after ops.
  let cached: { routeCount: number; document: OpenApiDocument } | undefined;
  defineRoute(ctx, {
    method: "get",
    path: "/openapi.json",
    summary: "This OpenAPI 3.1 document",
    tag,
    auth: "none",
    responses: { 200: { description: "The OpenAPI document" } },
    handler: (c) => {
      if (cached?.routeCount !== docs.routes.length) {
        const document = buildOpenApiDocument(docs.routes, {
          version: latchkeyVersion,
          serverUrl: deps.config.publicUrl,
        });
        cached = { routeCount: docs.routes.length, document };
      }
      return c.json(cached.document);
    },
  });
}

function registerProcessMetrics(metrics: Metrics, dbKind: "postgres" | "embedded"): void {
  metrics.gauge({
    name: "latchkey_build_info",
    help: "Always 1; the labels say which version runs on which database",
    labelNames: ["version", "database"],
    collect: (gauge) => gauge.set({ version: latchkeyVersion, database: dbKind }, 1),
  });
  metrics.gauge({
    name: "process_uptime_seconds",
    help: "Seconds since the process started",
    collect: (gauge) => gauge.set(undefined, process.uptime()),
  });
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
