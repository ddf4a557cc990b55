import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../kernel/changes.ts";
import { createTestApp, type OpenTestApp } from "../../test/support/test-app.ts";
import { testDbKind } from "../../test/support/test-database.ts";
import { createTenantApp, createWorkspace, type TestTenantApp } from "../../test/support/tenants.ts";
import { parseChange } from "./change-feed.ts";

describe("parseChange", () => {
  it("reads a trigger's payload, and takes anything else for 'anything may have changed'", () => {
    expect(
      parseChange('{"t":"connections","id":"conn_1","app":"app_1","connector":"con_1","owner":"user","user":"u"}'),
    ).toEqual({
      table: "connections",
      row: { id: "conn_1", appId: "app_1", connectorId: "con_1", ownerType: "user", userId: "u" },
    });
    expect(parseChange('{"t":"connectors","id":"con_1"}')).toEqual({ table: "connectors", row: { id: "con_1" } });
    expect(parseChange('{"t":"apps"}')).toEqual({ table: "apps" });
    for (const payload of ["", "not json", "[]", "null", '{"id":"x"}', '{"t":5}']) {
      expect(parseChange(payload), payload).toEqual({ table: "*" });
    }
  });
});

describe(`change feed on the database (${testDbKind()})`, () => {
  let t: OpenTestApp;
  let app: TestTenantApp;
  const seen: Change[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    app = await createTenantApp(t, await createWorkspace(t));
    t.deps.changes.subscribe((change) => seen.push(change));
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const announced = (id: string) => seen.filter((change) => change.row?.id === id);

  async function until(condition: () => boolean): Promise<void> {
    const started = Date.now();
    while (!condition()) {
      expect(Date.now() - started, "waited 5 s").toBeLessThan(5_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Long enough for a notification on its way to have arrived (each is milliseconds). */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

  it("is live once it listens", async () => {
    await until(() => t.deps.changes.live);
  });

  it("announces a committed change with the row's ids, only at commit, and nothing for a rolled-back one", async () => {
    // The set-up's own announcements (the key's insert) may still be on their way on a loaded machine.
    await settle();
    seen.length = 0;
    await t.deps.db.transaction().execute(async (trx) => {
      await trx.updateTable("service_keys").set({ name: "renamed" }).where("id", "=", app.serviceKeyId).execute();
      // The process's own write is announced at once (no row: it is not known here)...
      expect(seen.some((change) => change.table === "service_keys" && change.row === undefined)).toBe(true);
      await settle();
      // ...the trigger's announcement waits for the commit.
      expect(announced(app.serviceKeyId)).toEqual([]);
    });
    await until(() => announced(app.serviceKeyId).length > 0);
    expect(announced(app.serviceKeyId)).toEqual([
      { table: "service_keys", row: { id: app.serviceKeyId, appId: app.id } },
    ]);

    seen.length = 0;
    await expect(
      t.deps.db.transaction().execute(async (trx) => {
        await trx.updateTable("service_keys").set({ name: "never" }).where("id", "=", app.serviceKeyId).execute();
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await settle();
    expect(announced(app.serviceKeyId)).toEqual([]);
  });

  it("announces nothing for a write of last_used_at only (the hot path's usage writes)", async () => {
    seen.length = 0;
    await t.deps.db
      .updateTable("service_keys")
      .set({ last_used_at: new Date() })
      .where("id", "=", app.serviceKeyId)
      .execute();
    await settle();
    expect(seen).toEqual([]);
  });

  it("announces changes to apps and their deletion, cascades included", async () => {
    seen.length = 0;
    await t.deps.db.updateTable("apps").set({ name: "renamed app" }).where("id", "=", app.id).execute();
    await until(() => announced(app.id).length > 0);
    expect(announced(app.id)[0]).toEqual({ table: "apps", row: { id: app.id } });
    seen.length = 0;
    await t.deps.db.deleteFrom("apps").where("id", "=", app.id).execute();
    // The service key goes with its app (on delete cascade): announced too.
    await until(() => announced(app.id).length > 0 && announced(app.serviceKeyId).length > 0);
  });
});
