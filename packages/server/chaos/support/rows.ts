/**
 * Reading what the instances left in the database, from the test process: connection rows
 * (decrypted with the suite's keys) and pg_locks.
 */
import { sql } from "kysely";
import { decryptAccessToken, decryptRefreshToken } from "../../src/connections/connection-store.ts";
import { parseEncryptionKeys } from "../../src/config/config.ts";
import { openPostgres, type OpenedDatabase } from "../../src/db/open-database.ts";
import type { ConnectionRow } from "../../src/db/schema.ts";
import { Vault } from "../../src/vault/vault.ts";

export interface ConnectionState {
  row: ConnectionRow;
  accessToken: string;
  refreshToken: string | null;
}

export interface Rows {
  database: OpenedDatabase;
  connection(userId: string): Promise<ConnectionState>;
  /** Row locks (and any lock) held on `connections` by other sessions, with their backend pids. */
  locksOnConnections(): Promise<{ pid: number; mode: string; granted: boolean }[]>;
  /** Backends connected to the database, other than this one. */
  backends(): Promise<{ pid: number; state: string | null; query: string }[]>;
  close(): Promise<void>;
}

export function openRows(databaseUrl: string, encryptionKeys: string): Rows {
  const database = openPostgres(databaseUrl, { maxConnections: 2 });
  const vault = new Vault(parseEncryptionKeys(encryptionKeys).keys);
  return {
    database,
    async connection(userId) {
      const row = await database.db
        .selectFrom("connections")
        .selectAll()
        .where("user_id", "=", userId)
        .executeTakeFirstOrThrow();
      return { row, accessToken: decryptAccessToken(vault, row), refreshToken: decryptRefreshToken(vault, row) };
    },
    async locksOnConnections() {
      const result = await sql<{ pid: number; mode: string; granted: boolean }>`
        select l.pid, l.mode, l.granted from pg_locks l
        where l.pid <> pg_backend_pid()
          and (l.relation = 'connections'::regclass or l.locktype = 'transactionid' or l.locktype = 'tuple')`.execute(
        database.db,
      );
      return result.rows;
    },
    async backends() {
      const result = await sql<{ pid: number; state: string | null; query: string }>`
        select pid, state, query from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()`.execute(database.db);
      return result.rows;
    },
    close: () => database.close(),
  };
}
