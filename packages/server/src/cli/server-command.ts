import { loadConfig } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { parseOptions } from "./command-line.ts";
import type { Env } from "./environment.ts";
import { serverLogger } from "./loggers.ts";
import { offerFirstWorkspace, startBanner } from "./first-run.ts";
import { listen, shutdownDeadlineMs } from "./http-server.ts";
import { openInstance, type OpenedInstance } from "./open-instance.ts";
import { print } from "./print.ts";
import { stopSignal } from "./stop-signal.ts";

const databaseCloseGraceMs = 5_000;

/** `latchkey serve`: the server, nothing else. */
export function runServe(args: string[], env: Env): Promise<number> {
  return runServer(args, env, "serve");
}

/** `latchkey start`: the server, plus first-run setup and a how-to-log-in banner in embedded mode. */
export function runStart(args: string[], env: Env): Promise<number> {
  return runServer(args, env, "start");
}

async function runServer(args: string[], env: Env, mode: "serve" | "start"): Promise<number> {
  parseOptions(args, {});
  const config = loadConfig(env);
  const logger = serverLogger(config);
  const stop = stopSignal();
  try {
    const opened = await openInstance(config, logger, { operatorKey: mode === "start" ? "create" : "read" });
    try {
      const created = mode === "start" ? await offerFirstWorkspace(opened, stop.stopped) : null;
      if (created === "cancelled") return 130;
      return await serveUntilStopped(opened, logger, stop.stopped, async (url) =>
        mode === "start" ? startBanner(opened, url, created) : [`Latchkey listening on ${url}`],
      );
    } finally {
      await opened.close();
      logger.info("stopped");
    }
  } finally {
    stop.dispose();
  }
}

async function serveUntilStopped(
  opened: OpenedInstance,
  logger: Logger,
  stopped: Promise<NodeJS.Signals>,
  banner: (url: string) => Promise<string[]>,
): Promise<number> {
  const listening = await listen(opened.instance, opened.config).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EADDRINUSE") throw error;
    throw new Error(`Port ${opened.config.port} on ${opened.config.host} is already in use: set PORT to a free port`);
  });
  logger.info({ url: listening.url, database: opened.instance.deps.dbKind }, "listening");
  // Background refresh and pruning run while serving only (not for one-shot commands); close() stops them.
  opened.instance.background.start();
  print(...(await banner(listening.url)));
  const signal = await stopped;
  logger.info({ signal }, "stopping: refusing new connections, finishing requests in flight");
  // Closing the database comes after the HTTP deadline; should that hang too, exit anyway.
  setTimeout(() => {
    logger.error("shutdown did not finish in time: exiting");
    process.exit(1);
  }, shutdownDeadlineMs + databaseCloseGraceMs).unref();
  const clean = await listening.close();
  if (!clean) logger.warn("requests still in flight at the shutdown deadline were cut off");
  return clean ? 0 : 1;
}
