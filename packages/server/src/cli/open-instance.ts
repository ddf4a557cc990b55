import type { Config } from "../config/config.ts";
import { startInstance, type Instance } from "../app/instance.ts";
import type { Logger } from "../log/logger.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { resolveOperatorKey, type OperatorKeySource } from "./operator-key.ts";

export interface OpenedInstance {
  instance: Instance;
  /** The config the instance runs with (operator key filled in from the data dir if it came from there). */
  config: Config;
  operatorKey: OperatorKeySource;
  close(): Promise<void>;
}

/**
 * Everything a command needs to work on the database: in embedded mode the data dir's lock
 * first (one process at a time), then the operator key, migrations, vault and app.
 */
export async function openInstance(
  config: Config,
  logger: Logger,
  options: { operatorKey: "create" | "read" },
): Promise<OpenedInstance> {
  const lock = config.databaseUrl ? null : await lockDataDir(config.dataDir);
  try {
    const resolved = await resolveOperatorKey(config, options.operatorKey);
    const instance = await startInstance(resolved.config, logger);
    const close = async () => {
      try {
        await instance.close();
      } finally {
        await lock?.release();
      }
    };
    return { instance, config: resolved.config, operatorKey: resolved.source, close };
  } catch (error) {
    await lock?.release();
    throw error;
  }
}
