import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, testDbKind } from "../../test/support/test-database.ts";
import type { EncryptionKeySpec } from "../config/config.ts";
import type { Db, OpenedDatabase } from "../db/open-database.ts";
import { createLogger } from "../log/logger.ts";
import { LogCapture } from "../../test/support/test-app.ts";
import { columnName, encryptedColumns, type EncryptedColumn } from "./encrypted-columns.ts";
import { rotateKeys, type ColumnRotation } from "./rotate-keys.ts";
import { Vault } from "./vault.ts";

const k1: EncryptionKeySpec = { id: "k1", key: randomBytes(32) };
const k2: EncryptionKeySpec = { id: "k2", key: randomBytes(32) };
const onlyK1 = new Vault([k1]);
const k2AndK1 = new Vault([k2, k1]);
const onlyK2 = new Vault([k2]);

interface StoredValue {
  column: EncryptedColumn;
  rowId: string;
  ciphertext: string;
}

/** Every non-null value of every registered encrypted column. */
async function storedValues(db: Db): Promise<StoredValue[]> {
  const values: StoredValue[] = [];
  for (const column of encryptedColumns) {
    const result = await sql<{ pk: string; value: string }>`
      select ${sql.ref(column.primaryKey)} as pk, ${sql.ref(column.column)} as value
      from ${sql.table(column.table)} where ${sql.ref(column.column)} is not null`.execute(db);
    values.push(...result.rows.map((row) => ({ column, rowId: row.pk, ciphertext: row.value })));
  }
  return values;
}

function decrypt(vault: Vault, stored: StoredValue): string {
  return vault.decrypt(stored.ciphertext, {
    table: stored.column.table,
    column: stored.column.column,
    rowId: stored.rowId,
  });
}

/** Plaintext of each value is "<table>.<column>:<rowId>", so a value moved between rows would show. */
function expectedPlaintext(stored: StoredValue): string {
  return `${columnName(stored.column)}:${stored.rowId}`;
}

function seal(table: string, column: string, rowId: string): string {
  return onlyK1.encrypt(`${table}.${column}:${rowId}`, { table, column, rowId });
}

/** Minimal parent rows, with every encrypted column filled under k1 (a few nulls, which stay null). */
async function seedUnderK1(db: Db): Promise<void> {
  const now = new Date();
  await db
    .insertInto("workspaces")
    .values({ id: "ws_rot", name: "Rotation", plan: "builder", updated_at: now })
    .execute();
  for (const n of [1, 2, 3, 4, 5]) {
    const id = `app_${n}`;
    await db
      .insertInto("apps")
      .values({
        id,
        workspace_id: "ws_rot",
        name: `App ${n}`,
        allowed_return_origins: JSON.stringify(["https://app.example"]),
        identity_type: "hs256",
        identity_config: JSON.stringify({}),
        identity_secret: n === 5 ? null : seal("apps", "identity_secret", id),
        updated_at: now,
      })
      .execute();
  }
  for (const n of [1, 2, 3]) {
    const id = `con_${n}`;
    await db
      .insertInto("connectors")
      .values({
        id,
        workspace_id: "ws_rot",
        provider: "github",
        name: `Connector ${n}`,
        client_id: `client-${n}`,
        client_secret: seal("connectors", "client_secret", id),
        scopes: JSON.stringify(["repo"]),
        options: JSON.stringify({}),
        status: "enabled",
        updated_at: now,
      })
      .execute();
  }
  for (const n of [1, 2, 3, 4]) {
    const stateHash = `state_hash_${n}`;
    await db
      .insertInto("oauth_states")
      .values({
        state_hash: stateHash,
        workspace_id: "ws_rot",
        app_id: "app_1",
        connector_id: "con_1",
        owner_type: "user",
        user_id: `user_${n}`,
        return_to: "https://app.example",
        code_verifier: n === 4 ? null : seal("oauth_states", "code_verifier", stateHash),
        nonce: null,
        expires_at: new Date(now.getTime() + 600_000),
      })
      .execute();
  }
  for (const n of [1, 2, 3, 4, 5, 6, 7]) {
    const id = `cxn_${n}`;
    await db
      .insertInto("connections")
      .values({
        id,
        workspace_id: "ws_rot",
        app_id: "app_1",
        connector_id: "con_1",
        owner_type: "user",
        user_id: `user_${n}`,
        status: "active",
        access_token: seal("connections", "access_token", id),
        refresh_token: n === 7 ? null : seal("connections", "refresh_token", id),
        token_type: "bearer",
        expires_at: null,
        scopes: JSON.stringify(["repo"]),
        account: JSON.stringify(null),
        connection_config: JSON.stringify(null),
        needs_reauth_reason: null,
        needs_reauth_at: null,
        refresh_cooldown_until: null,
        refreshed_at: null,
        connected_at: now,
        updated_at: now,
      })
      .execute();
  }
  for (const n of [1, 2, 3]) {
    const id = `wh_${n}`;
    await db
      .insertInto("webhooks")
      .values({
        id,
        workspace_id: "ws_rot",
        app_id: null,
        url: "https://hooks.example/latchkey",
        description: "",
        events: JSON.stringify(["connection.created"]),
        status: "enabled",
        secret: seal("webhooks", "secret", id),
        previous_secret: n === 3 ? null : seal("webhooks", "previous_secret", id),
        previous_secret_expires_at: n === 3 ? null : new Date(now.getTime() + 600_000),
        updated_at: now,
      })
      .execute();
  }
}

async function readAccessToken(db: Db, id: string): Promise<string> {
  const row = await db.selectFrom("connections").select("access_token").where("id", "=", id).executeTakeFirstOrThrow();
  return k2AndK1.decrypt(row.access_token, { table: "connections", column: "access_token", rowId: id });
}

/** What a running server does when it refreshes a token: encrypt under its newest key and store. */
async function storeAccessToken(db: Db, id: string, token: string): Promise<void> {
  const ciphertext = k2AndK1.encrypt(token, { table: "connections", column: "access_token", rowId: id });
  await db
    .updateTable("connections")
    .set((eb) => ({ access_token: ciphertext, version: eb("version", "+", 1), updated_at: new Date() }))
    .where("id", "=", id)
    .execute();
}

function counts(report: ColumnRotation[]): Record<string, Omit<ColumnRotation, "column">> {
  return Object.fromEntries(report.map(({ column, ...rest }) => [column, rest]));
}

describe("rotateKeys", () => {
  let database: OpenedDatabase;
  let logs: LogCapture;
  let logger: ReturnType<typeof createLogger>;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.close();
  });
  beforeEach(async () => {
    logs = new LogCapture();
    logger = createLogger({ level: "debug", destination: logs });
    await database.db.deleteFrom("workspaces").execute(); // cascades to every seeded row
    await seedUnderK1(database.db);
  });

  it("covers every registered column in the seed", async () => {
    const covered = new Set((await storedValues(database.db)).map((v) => columnName(v.column)));
    expect([...covered].sort()).toEqual(encryptedColumns.map(columnName).sort());
  });

  it("before rotation, a vault with [k2, k1] still decrypts every value, all under k1", async () => {
    const values = await storedValues(database.db);
    expect(values).toHaveLength(4 + 3 + 3 + 7 + 6 + 3 + 2);
    for (const stored of values) {
      expect(k2AndK1.keyIdOf(stored.ciphertext)).toBe("k1");
      expect(decrypt(k2AndK1, stored)).toBe(expectedPlaintext(stored));
    }
  });

  it("moves every value to the newest key across batches, keeps a concurrent write, and leaves k1 removable", async () => {
    const { db } = database;
    const writes: string[] = [];
    let rotationDone = false;
    const rotation = rotateKeys({ db, vault: k2AndK1, logger, batchSize: 2 }).finally(() => {
      rotationDone = true;
    });
    // A server refreshing cxn_4's token while the rotation walks the table.
    const writer = (async () => {
      for (let n = 1; n <= 30 && (n <= 3 || !rotationDone); n++) {
        const token = `refreshed-${n}`;
        await storeAccessToken(db, "cxn_4", token);
        writes.push(token);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const [report] = await Promise.all([rotation, writer]);

    expect(counts(report)).toEqual({
      "apps.identity_secret": { scanned: 4, rewrapped: 4, failed: 0 },
      "connectors.client_secret": { scanned: 3, rewrapped: 3, failed: 0 },
      "oauth_states.code_verifier": { scanned: 3, rewrapped: 3, failed: 0 },
      // cxn_4 was rewritten under k2 by the writer before the rotation got to it (or it was rewrapped).
      "connections.access_token": { scanned: 7, rewrapped: expect.any(Number), failed: 0 },
      "connections.refresh_token": { scanned: 6, rewrapped: 6, failed: 0 },
      "webhooks.secret": { scanned: 3, rewrapped: 3, failed: 0 },
      "webhooks.previous_secret": { scanned: 2, rewrapped: 2, failed: 0 },
    });
    expect([6, 7]).toContain(counts(report)["connections.access_token"]?.rewrapped);
    expect(await readAccessToken(db, "cxn_4")).toBe(writes.at(-1));

    for (const stored of await storedValues(db)) {
      expect(onlyK2.keyIdOf(stored.ciphertext)).toBe("k2");
      const plaintext = decrypt(onlyK2, stored);
      if (!(stored.column.column === "access_token" && stored.rowId === "cxn_4")) {
        expect(plaintext).toBe(expectedPlaintext(stored));
      }
    }
    const nulls = await db
      .selectFrom("connections")
      .select("refresh_token")
      .where("id", "=", "cxn_7")
      .executeTakeFirstOrThrow();
    expect(nulls.refresh_token).toBeNull();

    const again = await rotateKeys({ db, vault: k2AndK1, logger, batchSize: 2 });
    expect(again.map((c) => c.rewrapped)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(again.map((c) => c.scanned)).toEqual([4, 3, 3, 7, 6, 3, 2]);
  });

  it.runIf(testDbKind() === "postgres")(
    "never overwrites a value a server changes between the batch read and the row lock",
    async () => {
      const { db } = database;
      // The "server" holds cxn_1's row lock while the rotation reads the batch and waits for it.
      let rotation: Promise<ColumnRotation[]> | undefined;
      await db.transaction().execute(async (trx) => {
        await trx.selectFrom("connections").select("id").where("id", "=", "cxn_1").forUpdate().execute();
        rotation = rotateKeys({
          db,
          vault: k2AndK1,
          logger,
          batchSize: 2,
          columns: encryptedColumns.filter((c) => columnName(c) === "connections.access_token"),
        });
        await waitForRowLockWaiter(db);
        const fresh = k2AndK1.encrypt("refreshed-under-lock", {
          table: "connections",
          column: "access_token",
          rowId: "cxn_1",
        });
        await trx.updateTable("connections").set({ access_token: fresh }).where("id", "=", "cxn_1").execute();
      });
      const report = counts((await rotation) ?? []);
      expect(report["connections.access_token"]).toEqual({ scanned: 7, rewrapped: 6, failed: 0 });
      expect(await readAccessToken(db, "cxn_1")).toBe("refreshed-under-lock");
    },
  );

  it("stops between batches when aborted, and a later run finishes the job", async () => {
    const { db } = database;
    const controller = new AbortController();
    controller.abort();
    await expect(rotateKeys({ db, vault: k2AndK1, logger, batchSize: 2, signal: controller.signal })).rejects.toThrow();
    expect((await storedValues(db)).every((v) => k2AndK1.keyIdOf(v.ciphertext) === "k1")).toBe(true);

    const finished = await rotateKeys({ db, vault: k2AndK1, logger, batchSize: 3 });
    expect(finished.reduce((sum, c) => sum + c.rewrapped, 0)).toBe(23 + 5);
  });

  it("counts and logs a value it cannot rewrap (unknown key) without stopping or leaking it", async () => {
    const { db } = database;
    const k0 = new Vault([{ id: "k0", key: randomBytes(32) }]);
    const orphan = k0.encrypt("orphan-secret-value", { table: "connectors", column: "client_secret", rowId: "con_2" });
    await db.updateTable("connectors").set({ client_secret: orphan }).where("id", "=", "con_2").execute();

    const report = counts(await rotateKeys({ db, vault: k2AndK1, logger, batchSize: 2 }));
    expect(report["connectors.client_secret"]).toEqual({ scanned: 3, rewrapped: 2, failed: 1 });
    expect(report["connections.refresh_token"]).toEqual({ scanned: 6, rewrapped: 6, failed: 0 });
    expect(logs.text).toContain('"row_id":"con_2"');
    expect(logs.text).toContain('Encryption key \\"k0\\" is not configured');
    expect(logs.text).not.toContain(orphan);
    const unchanged = await db
      .selectFrom("connectors")
      .select("client_secret")
      .where("id", "=", "con_2")
      .executeTakeFirstOrThrow();
    expect(unchanged.client_secret).toBe(orphan);
  });

  it("refuses a batch size that is not a positive integer", async () => {
    await expect(rotateKeys({ db: database.db, vault: k2AndK1, logger, batchSize: 0 })).rejects.toThrow(RangeError);
  });
});

/** Resolves once some session of this database waits for a row lock. */
async function waitForRowLockWaiter(db: Db): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const waiting = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
    if ((waiting.rows[0]?.n ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the rotation never waited for the row lock");
}
