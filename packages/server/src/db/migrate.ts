import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import * as initial from "./migrations/001-initial.ts";
import * as consoleSessions from "./migrations/002-console-sessions.ts";
import * as oauthStateConnectionValues from "./migrations/003-oauth-state-connection-values.ts";
import * as connectionLastUsed from "./migrations/004-connection-last-used.ts";
import * as eventsWebhooks from "./migrations/005-events-webhooks.ts";
import * as changeNotify from "./migrations/006-change-notify.ts";
import * as connectionUsage from "./migrations/007-connection-usage.ts";

/** Migrations are listed here in order (not read from disk), so bundling cannot lose one. */
const migrations: Record<string, Migration> = {
  "001-initial": initial,
  "002-console-sessions": consoleSessions,
  "003-oauth-state-connection-values": oauthStateConnectionValues,
  "004-connection-last-used": connectionLastUsed,
  "005-events-webhooks": eventsWebhooks,
  "006-change-notify": changeNotify,
  "007-connection-usage": connectionUsage,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

/** Kysely's Migrator over Latchkey's migrations (tests step through them with it; use `migrateToLatest` to migrate). */
export function latchkeyMigrator<Schema>(db: Kysely<Schema>): Migrator {
  return new Migrator({ db, provider: new StaticMigrationProvider() });
}

/** Any fixed 64-bit number; identifies "Latchkey migrations" among advisory locks. */
const migrationLockId = 7_340_514_981_224_011n;

/**
 * Brings the schema up to date. Several instances may start at once: a session-level advisory
 * lock, held on one connection for the whole run, makes the others wait and then find nothing to do.
 */
export async function migrateToLatest<Schema>(db: Kysely<Schema>): Promise<string[]> {
  // Nearly every start finds the schema current: one read tells, where the Migrator would first
  // introspect the catalog (over half a second of a cold embedded start). Anything else, including
  // applied migrations this code does not know, takes the full path below.
  if (sameNames(await appliedMigrations(db), Object.keys(migrations))) return [];
  return db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(${migrationLockId})`.execute(connection);
    try {
      const migrator = latchkeyMigrator(connection);
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error instanceof Error ? error : new Error(String(error));
      return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
    } finally {
      await sql`select pg_advisory_unlock(${migrationLockId})`.execute(connection);
    }
  });
}

/** The names in Kysely's migration table, or null before any migration ran. */
async function appliedMigrations<Schema>(db: Kysely<Schema>): Promise<string[] | null> {
  const table = await sql<{ present: boolean }>`select to_regclass('kysely_migration') is not null as present`.execute(
    db,
  );
  if (!table.rows[0]?.present) return null;
  const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  return applied.rows.map((row) => row.name);
}

function sameNames(applied: string[] | null, known: string[]): boolean {
  return applied !== null && applied.length === known.length && known.every((name) => applied.includes(name));
}

/** Names of the migrations this code knows that the database has not applied. Reads only. */
export async function pendingMigrations<Schema>(db: Kysely<Schema>): Promise<string[]> {
  const migrator = latchkeyMigrator(db);
  const known = await migrator.getMigrations();
  return known.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
