import type { Config } from "../config/config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import { openEmbedded, openPostgres, type OpenedDatabase } from "../db/open-database.ts";
import type { Logger } from "../log/logger.ts";
import { loadOrCreateEmbeddedKeys } from "../vault/embedded-keys.ts";
import { Vault } from "../vault/vault.ts";
import { createApp, type AppDeps, type LatchkeyApp } from "./app.ts";
import { systemClock } from "./clock.ts";
import { createOutboundFetch } from "./outbound-fetch.ts";

export interface Instance extends LatchkeyApp {
  deps: AppDeps;
  database: OpenedDatabase;
  /** True when this start generated the embedded key file. */
  createdKeys: boolean;
  close(): Promise<void>;
}

/** Opens the database, migrates it, sets up the vault and builds the app: everything but listening. */
export async function startInstance(config: Config, logger: Logger): Promise<Instance> {
  const database = config.databaseUrl
    ? openPostgres(config.databaseUrl, {
        onIdleClientError: (error) => logger.warn({ err: error }, "idle database connection lost"),
      })
    : await openEmbedded({ dataDir: config.dataDir });
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
    let keys = config.encryptionKeys;
    let createdKeys = false;
    if (!keys) {
      const embedded = await loadOrCreateEmbeddedKeys(config.dataDir);
      keys = embedded.keys;
      createdKeys = embedded.created;
    }
    const deps: AppDeps = {
      config,
      db: database.db,
      dbKind: database.kind,
      vault: new Vault(keys),
      logger,
      clock: systemClock,
      fetch: createOutboundFetch({ fetch: globalThis.fetch.bind(globalThis), denyPrivateNetwork: config.denyPrivateNetwork }),
    };
    return { ...createApp(deps), deps, database, createdKeys, close: () => database.close() };
  } catch (error) {
    await database.close();
    throw error;
  }
}
