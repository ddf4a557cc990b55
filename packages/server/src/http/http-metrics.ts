import type { Metrics } from "../kernel/metrics.ts";

const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Records one request of a route: its method, status and duration in seconds. */
export type RecordRequest = (method: string, status: number, seconds: number) => void;

export interface HttpMetrics {
  /** The recorder of one route pattern (`/api/apps/:appId/...`, or `unmatched`). */
  forRoute(route: string): RecordRequest;
}

interface Series {
  requests: { add(by: number): void };
  durations: { observe(value: number): void };
}

/**
 * Counts requests and their durations by method, route pattern and status. The route pattern, not
 * the path, keeps the number of series bounded; each route resolves its series once per (method,
 * status) it answers with, so a request costs two map reads, no label hashing.
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
  return {
    forRoute(route) {
      const byMethod = new Map<string, Map<number, Series>>();
      return (rawMethod, status, seconds) => {
        const method = knownMethods.has(rawMethod) ? rawMethod : "OTHER";
        let byStatus = byMethod.get(method);
        if (byStatus === undefined) {
          byStatus = new Map();
          byMethod.set(method, byStatus);
        }
        let series = byStatus.get(status);
        if (series === undefined) {
          series = {
            requests: requests.series({ method, route, status }),
            durations: durations.series({ method, route }),
          };
          byStatus.set(status, series);
        }
        series.requests.add(1);
        series.durations.observe(seconds);
      };
    },
  };
}
