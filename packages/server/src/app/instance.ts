import fs from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config/config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import { openEmbedded, openPostgres, type OpenedDatabase } from "../db/open-database.ts";
import type { Logger } from "../log/logger.ts";
import { loadOrCreateEmbeddedKeys } from "../vault/embedded-keys.ts";
import { Vault } from "../vault/vault.ts";
import { createLatchkeyApp, type LatchkeyApp } from "./create-app.ts";
import type { AppDeps } from "./deps.ts";
import { systemClock } from "../kernel/clock.ts";

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
        listen: {
          url: config.listenDatabaseUrl ?? config.databaseUrl,
          onListening: ({ attempt, pid }) =>
            logger.info({ attempt, pid }, "listening for changes: per-instance caches cleared and in use"),
          onLost: ({ error, retryInMs }) =>
            logger.warn(
              { err: error, retry_in_ms: retryInMs },
              "change listener lost: per-instance caches bypassed until it is back",
            ),
        },
      })
    : await openEmbeddedDatabase(config.dataDir);
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
      changes: database.changes,
      vault: new Vault(keys),
      logger,
      clock: systemClock,
    };
    const built = createLatchkeyApp(deps);
    // Every instance delivers the webhook outbox; claims and leases keep them from sending one delivery twice at once.
    built.webhooks.start();
    const close = async () => {
      try {
        await built.background.stop();
        await built.webhooks.stop();
      } finally {
        await database.close();
      }
    };
    return { ...built, deps, database, createdKeys, close };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** Whether the data dir already holds an embedded database (PGlite keeps it in `pgdata`). */
export async function embeddedDatabaseExists(dataDir: string): Promise<boolean> {
  return fs.stat(path.join(dataDir, "pgdata", "PG_VERSION")).then(
    () => true,
    () => false,
  );
}

async function openEmbeddedDatabase(dataDir: string): Promise<OpenedDatabase> {
  const fresh = !(await embeddedDatabaseExists(dataDir));
  const database = await openEmbedded({ dataDir });
  if (!fresh) return database;
  // Creating the database (initdb) leaves PGlite ~400 MB larger than opening an existing one;
  // reopening it gives that memory back for the life of the server, for about half a second once.
  await database.close();
  return openEmbedded({ dataDir });
}
