import fs from "node:fs/promises";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";
import { PGliteDialect } from "./pglite-dialect.ts";
import { withPreparedStatements } from "./prepared-statements.ts";
import { ChangeFeed } from "../kernel/changes.ts";
import { listenEmbedded, localWritesPlugin, PostgresChangeListener, type ListenerEvents } from "./change-feed.ts";

export type Db = Kysely<Database>;

export interface OpenedDatabase {
  db: Db;
  kind: "postgres" | "embedded";
  /** Changes to what per-instance caches hold: see kernel/changes.ts. */
  changes: ChangeFeed;
  /** PostgreSQL with `listen`: the LISTEN session (null embedded or without it). */
  listener: PostgresChangeListener | null;
  close(): Promise<void>;
}

export interface PostgresOptions {
  maxConnections?: number;
  onIdleClientError?: (error: Error) => void;
  /**
   * Announce other sessions' changes to caches: LISTEN on its own connection to this URL (the
   * pool's URL, or the server itself behind a transaction pooler). Without it the change feed is
   * never live and caches read through.
   */
  listen?: { url: string } & ListenerEvents;
}

// timestamptz, json and bigint come back as Date, parsed JSON and string in both drivers.
export function openPostgres(url: string, options: PostgresOptions = {}): OpenedDatabase {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 20,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client whose server went away emits "error"; unhandled, that would end the process.
  // The pool drops that client and opens a new one on the next query.
  pool.on("error", (error) => options.onIdleClientError?.(error));
  // A checked-out client has no pool listener: when the server ends its session between two
  // queries (a restart: 57P01), its "error" would be unhandled and end the process. The query on
  // it fails instead, and the pool drops the broken client when it is released.
  // (An idle client's error reaches the pool's listener above as well; this one only keeps it handled.)
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  const changes = new ChangeFeed({ live: false });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: withPreparedStatements(pool) }),
    plugins: [localWritesPlugin(changes)],
  });
  const { listen } = options;
  const listener = listen ? new PostgresChangeListener(listen.url, changes, listen) : null;
  listener?.start();
  return {
    db,
    kind: "postgres",
    changes,
    listener,
    close: async () => {
      await listener?.stop();
      await db.destroy();
    },
  };
}

/** The embedded database: PGlite in `dataDir/pgdata`, or in memory from a dump (tests). */
export async function openEmbedded(
  source: { dataDir: string } | { loadDataDir: Blob | File },
): Promise<OpenedDatabase> {
  // Loaded here, not at start: a server on PostgreSQL never needs PGlite.
  const { PGlite } = await import("@electric-sql/pglite");
  let pglite: PGlite;
  if ("dataDir" in source) {
    const dir = path.join(source.dataDir, "pgdata");
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    pglite = await PGlite.create({ dataDir: dir });
  } else {
    pglite = await PGlite.create({ loadDataDir: source.loadDataDir });
  }
  const changes = new ChangeFeed({ live: false });
  // Before the first query through Kysely: LISTEN must not land inside someone's transaction.
  await listenEmbedded(pglite, changes);
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite), plugins: [localWritesPlugin(changes)] });
  return {
    db,
    kind: "embedded",
    changes,
    listener: null,
    close: async () => {
      await db.destroy();
      // Kysely only destroys a driver it has initialised (on the first query); close PGlite either way.
      if (!pglite.closed) await pglite.close();
    },
  };
}
