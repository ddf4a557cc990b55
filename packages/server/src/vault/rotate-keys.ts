import { sql, type Kysely, type Transaction } from "kysely";
import type { Db } from "../db/open-database.ts";
import type { Database } from "../db/schema.ts";
import type { Logger } from "../log/logger.ts";
import { columnName, encryptedColumns, type EncryptedColumn } from "./encrypted-columns.ts";
import { VaultError, type Vault } from "./vault.ts";

export interface ColumnRotation {
  /** `table.column` */
  column: string;
  /** Values looked at (non-null). */
  scanned: number;
  /** Values moved to the newest key. */
  rewrapped: number;
  /** Values that could not be rewrapped (key not configured, or failed authentication); see the log. */
  failed: number;
}

export interface RotateKeysOptions {
  db: Db;
  vault: Vault;
  logger: Logger;
  batchSize?: number;
  signal?: AbortSignal;
  columns?: readonly EncryptedColumn[];
}

interface StoredValue {
  pk: string;
  value: string;
}

/**
 * Moves every encrypted value to the vault's newest key. Walks each column in primary-key order
 * (keyset pagination: no long snapshot), one short transaction per batch that locks only that
 * batch's stale rows. Servers may keep running: a value is re-read under its row lock (waiting for
 * a refresh in progress to commit) and rewritten only if it is still the value that was locked,
 * so a token refreshed concurrently is never replaced by a stale one. Idempotent and resumable:
 * values already under the newest key are left alone.
 */
export async function rotateKeys(options: RotateKeysOptions): Promise<ColumnRotation[]> {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError("batchSize must be a positive integer");
  const report: ColumnRotation[] = [];
  for (const column of options.columns ?? encryptedColumns) {
    const counts = await rotateColumn(options, column, batchSize);
    options.logger.info({ ...counts, key_id: options.vault.currentKeyId }, "encryption key rotation: column done");
    report.push(counts);
  }
  return report;
}

async function rotateColumn(
  options: RotateKeysOptions,
  column: EncryptedColumn,
  batchSize: number,
): Promise<ColumnRotation> {
  const counts: ColumnRotation = { column: columnName(column), scanned: 0, rewrapped: 0, failed: 0 };
  let after: string | null = null;
  for (;;) {
    options.signal?.throwIfAborted();
    const batch = await readBatch(options.db, column, after, batchSize);
    const last = batch.at(-1);
    if (!last) return counts;
    counts.scanned += batch.length;
    const stale = batch.filter((row) => !isUnderCurrentKey(options.vault, row.value));
    if (stale.length > 0) {
      const result = await rewrapBatch(options, column, stale);
      counts.rewrapped += result.rewrapped;
      counts.failed += result.failed;
    }
    options.logger.debug(
      { column: counts.column, after: last.pk, scanned: counts.scanned },
      "encryption key rotation: batch",
    );
    after = last.pk;
  }
}

function isUnderCurrentKey(vault: Vault, value: string): boolean {
  try {
    return !vault.needsRewrap(value);
  } catch {
    return false; // not even parseable: let rewrapBatch count and log it
  }
}

async function readBatch(db: Db, column: EncryptedColumn, after: string | null, limit: number): Promise<StoredValue[]> {
  const pk = sql.ref(column.primaryKey);
  const value = sql.ref(column.column);
  const afterClause = after === null ? sql`` : sql`and ${pk} > ${after}`;
  const result = await sql<StoredValue>`
    select ${pk} as pk, ${value} as value from ${sql.table(column.table)}
    where ${value} is not null ${afterClause}
    order by ${pk} limit ${limit}`.execute(db);
  return result.rows;
}

async function rewrapBatch(
  options: RotateKeysOptions,
  column: EncryptedColumn,
  stale: StoredValue[],
): Promise<{ rewrapped: number; failed: number }> {
  return options.db.transaction().execute(async (trx) => {
    let rewrapped = 0;
    let failed = 0;
    for (const row of await lockRows(
      trx,
      column,
      stale.map((r) => r.pk),
    )) {
      // Re-read under the lock: a server may have written a fresh value since the batch was read.
      if (row.value === null || isUnderCurrentKey(options.vault, row.value)) continue;
      const context = { table: column.table, column: column.column, rowId: row.pk };
      let next: string;
      try {
        next = options.vault.rewrap(row.value, context);
      } catch (error) {
        if (!(error instanceof VaultError)) throw error;
        failed += 1;
        options.logger.error(
          { column: columnName(column), row_id: row.pk, reason: error.message },
          "cannot rewrap value",
        );
        continue;
      }
      if (await compareAndSet(trx, column, row.pk, row.value, next)) rewrapped += 1;
    }
    return { rewrapped, failed };
  });
}

async function lockRows(
  trx: Transaction<Database>,
  column: EncryptedColumn,
  pks: string[],
): Promise<Array<{ pk: string; value: string | null }>> {
  const pk = sql.ref(column.primaryKey);
  const result = await sql<{ pk: string; value: string | null }>`
    select ${pk} as pk, ${sql.ref(column.column)} as value from ${sql.table(column.table)}
    where ${pk} in (${sql.join(pks)})
    order by ${pk} for update`.execute(trx);
  return result.rows;
}

/** Writes `next` only if the row still holds `expected`. */
async function compareAndSet(
  db: Kysely<Database>,
  column: EncryptedColumn,
  pk: string,
  expected: string,
  next: string,
): Promise<boolean> {
  const value = sql.ref(column.column);
  const result = await sql`
    update ${sql.table(column.table)} set ${value} = ${next}
    where ${sql.ref(column.primaryKey)} = ${pk} and ${value} = ${expected}`.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}
