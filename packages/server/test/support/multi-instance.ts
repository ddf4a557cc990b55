import { sql } from "kysely";
import { openPostgres, type OpenedDatabase } from "../../src/db/open-database.ts";
import { adminUrl } from "./postgres-admin.ts";
import { buildTestApp, type TestApp, type TestAppOptions } from "./test-app.ts";

export interface ExtraInstance {
  app: TestApp;
  /** Its own database handle on PostgreSQL (pool, change listener); the shared one embedded. */
  database: OpenedDatabase;
  close(): Promise<void>;
}

/**
 * Another app instance on the same database, as a second `latchkey start` would be. On
 * PostgreSQL it gets its own connection pool (a separate process would), so cross-instance
 * coordination really goes through the database; on embedded PGlite there is one database
 * handle per process, which every instance shares.
 */
export async function extraInstance(
  first: TestApp & { database: TestAppOptions["database"] },
  options: Omit<TestAppOptions, "database">,
): Promise<ExtraInstance> {
  if (first.database.kind === "embedded") {
    return {
      app: buildTestApp({ ...options, database: first.database }),
      database: first.database,
      close: async () => {},
    };
  }
  const result = await sql<{ name: string }>`select current_database() as name`.execute(first.deps.db);
  const name = result.rows[0]?.name;
  if (!name) throw new Error("could not read the test database's name");
  const database = openPostgres(adminUrl(name), { maxConnections: 10, listen: { url: adminUrl(name) } });
  return { app: buildTestApp({ ...options, database }), database, close: () => database.close() };
}
