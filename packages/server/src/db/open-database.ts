import fs from "node:fs/promises";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";
import { PGliteDialect } from "./pglite-dialect.ts";
import { withPreparedStatements } from "./prepared-statements.ts";

export type Db = Kysely<Database>;

export interface OpenedDatabase {
  db: Db;
  kind: "postgres" | "embedded";
  close(): Promise<void>;
}

// timestamptz, json and bigint come back as Date, parsed JSON and string in both drivers.
export function openPostgres(
  url: string,
  options: { maxConnections?: number; onIdleClientError?: (error: Error) => void } = {},
): OpenedDatabase {
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
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: withPreparedStatements(pool) }) });
  return { db, kind: "postgres", close: () => db.destroy() };
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
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: "embedded",
    close: async () => {
      await db.destroy();
      // Kysely only destroys a driver it has initialised (on the first query); close PGlite either way.
      if (!pglite.closed) await pglite.close();
    },
  };
}
