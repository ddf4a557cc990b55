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

export function listen(instance: Instance, config: Config): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: instance.app.fetch, port: config.port, hostname: config.host }, (info) => {
      server.off("error", reject);
      resolve({
        url: localUrl(config.host, info.port),
        close: (deadlineMs) => closeServer(server as Server, deadlineMs),
      });
    });
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
