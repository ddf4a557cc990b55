import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, testDbKind } from "../../../test/support/test-database.ts";
import { latchkeyMigrator } from "../migrate.ts";
import type { OpenedDatabase } from "../open-database.ts";

describe(`migration 007: connection usage in a table of its own (${testDbKind()})`, () => {
  let database: OpenedDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  const lastUsedColumn = async () =>
    (
      await sql<{ n: number }>`
        select count(*)::int as n from information_schema.columns
        where table_schema = current_schema() and table_name = 'connections' and column_name = 'last_used_at'`.execute(
        database.db,
      )
    ).rows[0]?.n;
  const usageTable = async () =>
    (
      await sql<{ present: boolean }>`select to_regclass('connection_usage') is not null as present`.execute(
        database.db,
      )
    ).rows[0]?.present;

  it("down puts recorded uses back on connections.last_used_at; up carries them, and uses written meanwhile, over", async () => {
    const { db } = database;
    await db
      .insertInto("workspaces")
      .values({ id: "ws_m7", name: "m7", plan: "free", updated_at: new Date() })
      .execute();
    await db
      .insertInto("apps")
      .values({
        id: "app_m7",
        workspace_id: "ws_m7",
        name: "m7",
        allowed_return_origins: "[]",
        identity_type: "latchkey",
        identity_config: "{}",
        identity_secret: null,
        updated_at: new Date(),
      })
      .execute();
    await db
      .insertInto("connectors")
      .values({
        id: "cnr_m7",
        workspace_id: "ws_m7",
        provider: "github",
        name: "GitHub",
        client_id: "client",
        client_secret: null,
        scopes: "[]",
        options: "{}",
        status: "enabled",
        updated_at: new Date(),
      })
      .execute();
    const connection = (id: string, userId: string) => ({
      id,
      workspace_id: "ws_m7",
      app_id: "app_m7",
      connector_id: "cnr_m7",
      owner_type: "user" as const,
      user_id: userId,
      status: "active" as const,
      access_token: "sealed",
      refresh_token: null,
      token_type: "Bearer",
      expires_at: null,
      scopes: "[]",
      account: JSON.stringify(null),
      connection_config: JSON.stringify(null),
      connected_at: new Date(),
      updated_at: new Date(),
    });
    await db
      .insertInto("connections")
      .values([connection("conn_m7_used", "u1"), connection("conn_m7_idle", "u2"), connection("conn_m7_later", "u3")])
      .execute();
    const usedAt = new Date("2026-12-01T10:00:00.000Z");
    await db.insertInto("connection_usage").values({ connection_id: "conn_m7_used", last_used_at: usedAt }).execute();
    const migrator = latchkeyMigrator(db);

    const down = await migrator.migrateDown();

    expect(down.error).toBeUndefined();
    expect(down.results?.map((result) => [result.migrationName, result.status])).toEqual([
      ["007-connection-usage", "Success"],
    ]);
    expect(await usageTable()).toBe(false);
    const before = await sql<{ id: string; last_used_at: Date | null }>`
      select id, last_used_at from connections where workspace_id = 'ws_m7' order by id`.execute(db);
    expect(before.rows).toEqual([
      { id: "conn_m7_idle", last_used_at: null },
      { id: "conn_m7_later", last_used_at: null },
      { id: "conn_m7_used", last_used_at: usedAt },
    ]);
    // An instance of the version before records a use meanwhile.
    const laterAt = new Date("2026-12-02T11:00:00.000Z");
    await sql`update connections set last_used_at = ${laterAt} where id = 'conn_m7_later'`.execute(db);

    const up = await migrator.migrateToLatest();

    expect(up.error).toBeUndefined();
    expect(up.results?.map((result) => result.migrationName)).toEqual(["007-connection-usage"]);
    expect(await lastUsedColumn()).toBe(0);
    const usage = await db.selectFrom("connection_usage").selectAll().orderBy("connection_id").execute();
    expect(usage).toEqual([
      { connection_id: "conn_m7_later", last_used_at: laterAt },
      { connection_id: "conn_m7_used", last_used_at: usedAt },
    ]);
    // The trigger is back: a deleted connection takes its usage with it.
    await db.deleteFrom("connections").where("id", "=", "conn_m7_used").execute();
    expect(await db.selectFrom("connection_usage").select("connection_id").execute()).toEqual([
      { connection_id: "conn_m7_later" },
    ]);
  });
});
