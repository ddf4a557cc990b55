import { sql } from "kysely";
import type { TestApp } from "./test-app.ts";

/**
 * A fingerprint of the whole database: per table, its row count and the sum of a 64-bit hash of
 * every row (every column but last_used_at: authentication may record key use even when the
 * request itself is then refused). Equal fingerprints, unchanged database. The sum needs no sort,
 * so one fingerprint costs a few milliseconds: cheap enough to take after every request of a fuzz.
 */
export async function databaseFingerprint(t: Pick<TestApp, "deps">): Promise<() => Promise<string>> {
  const columns = await sql<{ table_name: string; column_name: string }>`
    select c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t on t.table_name = c.table_name and t.table_schema = c.table_schema
    where c.table_schema = current_schema() and t.table_type = 'BASE TABLE' and c.column_name <> 'last_used_at'
    order by c.table_name, c.ordinal_position`.execute(t.deps.db);
  const byTable = new Map<string, string[]>();
  for (const { table_name, column_name } of columns.rows)
    byTable.set(table_name, [...(byTable.get(table_name) ?? []), column_name]);
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const parts = [...byTable].map(([table, names]) => {
    const row = `row(${names.map((name) => `x.${quote(name)}`).join(", ")})::text`;
    const label = table.replace(/'/g, "''");
    return `(select '${label}:' || count(*) || ':' || coalesce(sum(hashtextextended(${row}, 0)), 0) from ${quote(table)} x)`;
  });
  const query = sql.raw<{ fingerprint: string }>(`select ${parts.join(" || ' ' || ")} as fingerprint`);
  return async () => (await query.execute(t.deps.db)).rows[0]?.fingerprint ?? "";
}
