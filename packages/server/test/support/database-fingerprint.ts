import { sql } from "kysely";
import type { TestApp } from "./test-app.ts";

/**
 * One hash per table over every column but last_used_at (authentication may record key use
 * even when the request itself is then refused): equal fingerprints, unchanged database.
 */
export async function databaseFingerprint(t: TestApp): Promise<() => Promise<string>> {
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
    return `select '${table.replace(/'/g, "''")}'::text as t, (select md5(coalesce(string_agg(${row}, '|' order by ${row}), '')) from ${quote(table)} x) as h`;
  });
  const query = sql.raw<{ t: string; h: string }>(parts.join(" union all "));
  return async () => (await query.execute(t.deps.db)).rows.map((row) => `${row.t}:${row.h}`).join(" ");
}
