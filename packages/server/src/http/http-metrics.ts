import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv } from "./app-env.ts";
import type { Metrics } from "../kernel/metrics.ts";

/** Route label of requests no route answered (kept as one series so scanners cannot add series). */
export const unmatchedRoute = "unmatched";

const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export interface HttpMetrics {
  /** Runs the rest of the request and counts it with its duration since `started`. */
  measure(c: Context<AppEnv>, started: number, next: () => Promise<void>): Promise<void>;
}

/**
 * Counts requests and their durations by method, route pattern and status. The route pattern
 * (`/api/apps/:appId/...`), not the path, keeps the number of series bounded, so the series of
 * each (method, route, status) are resolved once and kept.
 */
export function httpMetrics(metrics: Metrics): HttpMetrics {
  const requests = metrics.counter({
    name: "latchkey_http_requests_total",
    help: "HTTP requests by method, matched route pattern and status",
    labelNames: ["method", "route", "status"],
  });
  const durations = metrics.histogram({
    name: "latchkey_http_request_duration_seconds",
    help: "HTTP request duration in seconds by method and matched route pattern",
    labelNames: ["method", "route"],
  });
  const seriesByKey = new Map<
    string,
    { requests: { add(by: number): void }; durations: { observe(value: number): void } }
  >();
  const seriesOf = (method: string, route: string, status: number) => {
    const key = `${method} ${status} ${route}`;
    let series = seriesByKey.get(key);
    if (!series) {
      series = { requests: requests.series({ method, route, status }), durations: durations.series({ method, route }) };
      seriesByKey.set(key, series);
    }
    return series;
  };
  function record(c: Context<AppEnv>, started: number, status: number): void {
    const series = seriesOf(knownMethods.has(c.req.method) ? c.req.method : "OTHER", matchedRoutePattern(c), status);
    series.requests.add(1);
    series.durations.observe((performance.now() - started) / 1000);
  }
  return {
    async measure(c, started, next) {
      try {
        await next();
      } catch (error) {
        // Hono hands errors to onError below this middleware; only a throwing notFound handler gets here.
        record(c, started, error instanceof AppError ? error.status : 500);
        throw error;
      }
      record(c, started, c.res.status);
    },
  };
}

/**
 * The pattern of the route that handles this request: the last matched route registered for a
 * method (middleware is registered with `use`, i.e. for every method). None → "unmatched".
 */
function matchedRoutePattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let index = routes.length - 1; index >= 0; index--) {
    const route = routes[index];
    if (route && route.method !== "ALL") return route.path;
  }
  return unmatchedRoute;
}
