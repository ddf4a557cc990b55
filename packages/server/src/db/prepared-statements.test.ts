import { CompiledQuery, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminUrl } from "../../test/support/postgres-admin.ts";
import { testDbKind } from "../../test/support/test-database.ts";
import { openPostgres, type OpenedDatabase } from "./open-database.ts";
import { preparedStatement } from "./prepared-statements.ts";

describe.runIf(testDbKind() === "postgres")("prepared statements (PostgreSQL)", () => {
  let database: OpenedDatabase;
  beforeAll(() => {
    // One connection, so the session whose prepared statements we list is the one that ran the query.
    database = openPostgres(adminUrl(), { maxConnections: 1 });
  });
  afterAll(async () => {
    await database.close();
  });

  const preparedTexts = async () =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(database.db)).rows.map(
      (row) => row.statement,
    );

  it("prepares a registered text once per connection and reuses it with new parameters", async () => {
    const text = preparedStatement("select $1::int + 1 as answer /* prepared-statements.test */");
    const run = async (n: number) =>
      (await database.db.executeQuery<{ answer: number }>(CompiledQuery.raw(text, [n]))).rows[0]?.answer;
    expect(await run(1)).toBe(2);
    expect(await run(41)).toBe(42);
    expect((await preparedTexts()).filter((statement) => statement === text)).toHaveLength(1);
  });

  it("runs unregistered texts unprepared", async () => {
    const text = "select $1::int * 2 as doubled /* not registered */";
    const result = await database.db.executeQuery<{ doubled: number }>(CompiledQuery.raw(text, [21]));
    expect(result.rows).toEqual([{ doubled: 42 }]);
    expect(await preparedTexts()).not.toContain(text);
  });

  it("gives the same name to the same text however often it is registered", async () => {
    const text = "select 'once' as registered /* registered twice */";
    expect(preparedStatement(text)).toBe(text);
    expect(preparedStatement(text)).toBe(text);
    await database.db.executeQuery(CompiledQuery.raw(text, []));
    await database.db.executeQuery(CompiledQuery.raw(text, []));
    expect((await preparedTexts()).filter((statement) => statement === text)).toHaveLength(1);
  });
});
