import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import type { Config } from "../config/config.ts";
import type { Instance } from "../app/instance.ts";

/** How long in-flight requests get to finish after a stop signal before connections are cut. */
export const shutdownDeadlineMs = 10_000;
const idleSweepMs = 50;

export interface Listening {
  /** A URL this machine can reach the server at (localhost when listening on every interface). */
  url: string;
  /** Stops accepting, waits for in-flight requests up to the deadline; false if it had to cut them. */
  close(deadlineMs?: number): Promise<boolean>;
}

/**
 * Node's own timeouts against slow clients (slowloris): a request whose headers, or whose whole
 * body, has not arrived in time gets 408 and its connection is closed, so dripping bytes cannot
 * hold connections open. Node checks them every `connectionsCheckingInterval` (30 s by default,
 * far longer than the timeouts): here a quarter of the headers timeout, at most a second.
 */
export function serverTimeouts(config: Pick<Config, "httpTimeouts">) {
  const { headersMs, requestMs, keepAliveMs } = config.httpTimeouts;
  return {
    headersTimeout: headersMs,
    requestTimeout: requestMs,
    keepAliveTimeout: keepAliveMs,
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersMs / 4))),
  };
}

/** Serves the instance's app over HTTP/1.1 (tests listen on port 0 with the same server). */
export function listen(
  instance: Pick<Instance, "app">,
  config: Pick<Config, "port" | "host" | "httpTimeouts">,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const timeouts = serverTimeouts(config);
    const options = { fetch: instance.app.fetch, port: config.port, hostname: config.host, serverOptions: timeouts };
    const server = serve(options, (info) => {
      server.off("error", reject);
      resolve({
        url: localUrl(config.host, info.port),
        close: (deadlineMs) => closeServer(server as Server, deadlineMs),
      });
    });
    // Set on the server too: the property is what Node reads for keep-alive sockets.
    (server as Server).keepAliveTimeout = timeouts.keepAliveTimeout;
    server.once("error", reject);
  });
}

function localUrl(host: string, port: number): string {
  const everywhere = host === "0.0.0.0" || host === "::" || host === "";
  const name = everywhere ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

async function closeServer(server: Server, deadlineMs = shutdownDeadlineMs): Promise<boolean> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A keep-alive connection whose request just finished would otherwise hold the close open
  // until its keep-alive timeout: close each one as soon as it is idle.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), idleSweepMs);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs)));
  const clean = await Promise.race([closed.then(() => true as const), deadline]);
  clearTimeout(timer);
  clearInterval(sweep);
  if (!clean) {
    server.closeAllConnections();
    await closed;
  }
  return clean;
}
