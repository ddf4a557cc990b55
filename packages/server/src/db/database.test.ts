import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../test/support/test-database.ts";
import { migrateToLatest } from "./migrate.ts";
import type { OpenedDatabase } from "./open-database.ts";

describe("database", () => {
  let database: OpenedDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  it("returns timestamps as Date and jsonb as parsed values in both drivers", async () => {
    const { db } = database;
    await db
      .insertInto("workspaces")
      .values({ id: "ws_t1", name: "T", plan: "free", updated_at: new Date() })
      .execute();
    await db
      .insertInto("apps")
      .values({
        id: "app_t1",
        workspace_id: "ws_t1",
        name: "A",
        allowed_return_origins: JSON.stringify(["https://a.example"]),
        identity_type: "latchkey",
        identity_config: JSON.stringify({}),
        identity_secret: null,
        updated_at: new Date(),
      })
      .execute();
    const app = await db.selectFrom("apps").selectAll().where("id", "=", "app_t1").executeTakeFirstOrThrow();
    expect(app.created_at).toBeInstanceOf(Date);
    expect(app.allowed_return_origins).toEqual(["https://a.example"]);
  });

  it("is already migrated, and migrating again applies nothing", async () => {
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it("still refuses a database that has applied a migration this code does not know", async () => {
    await sql`insert into kysely_migration (name, timestamp) values ('999-from-a-newer-version', '2030-01-01')`.execute(
      database.db,
    );
    try {
      await expect(migrateToLatest(database.db)).rejects.toThrow(/999-from-a-newer-version/);
    } finally {
      await sql`delete from kysely_migration where name = '999-from-a-newer-version'`.execute(database.db);
    }
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it("migrates safely when several instances start at once", async () => {
    const results = await Promise.all([1, 2, 3].map(() => migrateToLatest(database.db)));
    expect(results.flat()).toEqual([]);
  });

  it("keeps concurrent transactions apart (PGlite has one connection)", async () => {
    const { db } = database;
    await db
      .insertInto("workspaces")
      .values({ id: "ws_t2", name: "counter", plan: "free", updated_at: new Date() })
      .execute();
    const increments = Array.from({ length: 20 }, () =>
      db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom("workspaces")
          .select("name")
          .where("id", "=", "ws_t2")
          .forUpdate()
          .executeTakeFirstOrThrow();
        const next = row.name === "counter" ? 1 : Number(row.name) + 1;
        await new Promise((resolve) => setTimeout(resolve, 1));
        await trx
          .updateTable("workspaces")
          .set({ name: String(next) })
          .where("id", "=", "ws_t2")
          .execute();
      }),
    );
    await Promise.all(increments);
    const row = await db.selectFrom("workspaces").select("name").where("id", "=", "ws_t2").executeTakeFirstOrThrow();
    expect(row.name).toBe("20");
  });

  it("rolls back a failed transaction without disturbing others", async () => {
    const { db } = database;
    await expect(
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto("workspaces")
          .values({ id: "ws_t3", name: "x", plan: "free", updated_at: new Date() })
          .execute();
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const found = await db.selectFrom("workspaces").select("id").where("id", "=", "ws_t3").execute();
    expect(found).toEqual([]);
    const one = await sql<{ one: number }>`select 1 as one`.execute(db);
    expect(one.rows[0]?.one).toBe(1);
  });
});
