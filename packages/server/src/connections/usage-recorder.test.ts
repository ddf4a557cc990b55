import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  UnknownRow,
} from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LogCapture, TestClock } from "../../test/support/test-app.ts";
import { createTestDatabase, testDbKind } from "../../test/support/test-database.ts";
import type { Db, OpenedDatabase } from "../db/open-database.ts";
import type { Change } from "../kernel/changes.ts";
import { newId } from "../kernel/ids.ts";
import { createLogger } from "../log/logger.ts";
import { UsageRecorder, usageGrainMs, usageLagMs, usageWriteEveryMs } from "./usage-recorder.ts";

/** The default window: a day. */
const usedWithinSeconds = 86_400;
const grainMs = usageGrainMs(usedWithinSeconds);

/** Counts the statements a database handle runs, by kind and table ("insert connection_usage"). */
class StatementCounter implements KyselyPlugin {
  readonly counts = new Map<string, number>();
  transformQuery(args: PluginTransformQueryArgs) {
    const node = args.node as { kind: string; into?: unknown; table?: unknown; from?: unknown };
    const target = JSON.stringify(node.into ?? node.table ?? node.from ?? "");
    const table = /"identifier":\{"kind":"IdentifierNode","name":"([a-z_]+)"/.exec(target)?.[1] ?? "?";
    const key = `${node.kind.replace("QueryNode", "").toLowerCase()} ${table}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
  get writes(): Record<string, number> {
    return Object.fromEntries([...this.counts].filter(([key]) => !key.startsWith("select")));
  }
}

describe(`connection usage recorder (${testDbKind()})`, () => {
  let database: OpenedDatabase;
  const clock = new TestClock();
  let logs: LogCapture;
  let counter: StatementCounter;
  let appId: string;
  let connectorId: string;

  /** A recorder with its own statement counter, as one instance has. */
  function recorder(window = usedWithinSeconds) {
    counter = new StatementCounter();
    logs = new LogCapture();
    return new UsageRecorder({
      db: database.db.withPlugin(counter),
      clock,
      logger: createLogger({ level: "debug", destination: logs }),
      config: { refreshSweepUsedWithinSeconds: window },
    });
  }

  async function newConnector(): Promise<string> {
    const id = newId("conn");
    await database.db
      .insertInto("connectors")
      .values({
        id,
        workspace_id: "ws_usage",
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
    return id;
  }

  async function newConnections(count: number, connector = connectorId): Promise<string[]> {
    const userPrefix = newId("user");
    const rows = Array.from({ length: count }, (_, index) => ({
      id: newId("conn"),
      workspace_id: "ws_usage",
      app_id: appId,
      connector_id: connector,
      owner_type: "user" as const,
      user_id: `${userPrefix}_${index}`,
      status: "active" as const,
      access_token: "sealed",
      refresh_token: "sealed",
      token_type: "Bearer",
      expires_at: new Date(clock.now().getTime() + 3_600_000),
      scopes: "[]",
      account: JSON.stringify(null),
      connection_config: JSON.stringify(null),
      connected_at: clock.now(),
      updated_at: clock.now(),
    }));
    for (let start = 0; start < rows.length; start += 1_000) {
      await database.db
        .insertInto("connections")
        .values(rows.slice(start, start + 1_000))
        .execute();
    }
    return rows.map((row) => row.id);
  }

  async function usageOf(db: Db, ids: string[]): Promise<Map<string, number>> {
    const rows = await db
      .selectFrom("connection_usage")
      .selectAll()
      .where("connection_id", "in", ids.length > 0 ? ids : [""])
      .execute();
    return new Map(rows.map((row) => [row.connection_id, row.last_used_at.getTime()]));
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    const { db } = database;
    await db
      .insertInto("workspaces")
      .values({ id: "ws_usage", name: "usage", plan: "free", updated_at: new Date() })
      .execute();
    appId = newId("app");
    await db
      .insertInto("apps")
      .values({
        id: appId,
        workspace_id: "ws_usage",
        name: "usage app",
        allowed_return_origins: "[]",
        identity_type: "latchkey",
        identity_config: "{}",
        identity_secret: null,
        updated_at: new Date(),
      })
      .execute();
    connectorId = await newConnector();
  });
  afterAll(async () => {
    await database.close();
  });
  beforeEach(() => {
    // Each test starts at least a grain after the last, so earlier uses never count as recent.
    clock.advance(usageLagMs(usedWithinSeconds) + 1_000);
  });

  it("records a first use with the flush's time in one UPDATE and one INSERT, and never writes the connections table", async () => {
    const ids = await newConnections(3);
    const before = await database.db
      .selectFrom("connections")
      .selectAll()
      .where("id", "in", ids)
      .orderBy("id")
      .execute();
    const usage = recorder();
    for (let i = 0; i < 5; i++) for (const id of ids) usage.touch(id);
    expect(counter.writes).toEqual({});

    const flushedAt = clock.now().getTime();
    await usage.flush();

    expect(counter.writes).toEqual({ "update connection_usage": 1, "insert connection_usage": 1 });
    const stored = await usageOf(database.db, ids);
    expect([...stored.keys()].sort()).toEqual([...ids].sort());
    for (const at of stored.values()) expect(at).toBeGreaterThanOrEqual(flushedAt);
    const after = await database.db
      .selectFrom("connections")
      .selectAll()
      .where("id", "in", ids)
      .orderBy("id")
      .execute();
    expect(after).toEqual(before);
    // Nothing read since: the next flush sends nothing.
    await usage.flush();
    expect(counter.writes).toEqual({ "update connection_usage": 1, "insert connection_usage": 1 });
  });

  it("sends a busy connection at most once per write interval", async () => {
    const [id] = await newConnections(1);
    if (!id) throw new Error("no connection");
    const usage = recorder();
    usage.touch(id);
    await usage.flush();
    usage.touch(id);
    clock.advance(usageWriteEveryMs - 10_000);
    await usage.flush();
    usage.touch(id);
    await usage.flush();
    expect(counter.writes).toEqual({ "update connection_usage": 1, "insert connection_usage": 1 });

    clock.advance(10_000);
    await usage.flush();
    usage.touch(id);
    await usage.flush();
    expect(counter.writes).toEqual({ "update connection_usage": 2, "insert connection_usage": 2 });
  });

  it("does not write a use again within the grain, from this instance or another, and writes it after", async () => {
    const ids = await newConnections(2);
    const first = recorder();
    for (const id of ids) first.touch(id);
    await first.flush();
    const written = await usageOf(database.db, ids);

    // Minutes later, on another instance (or after a restart): sent, but the stored uses are recent enough.
    clock.advance(10 * 60_000);
    const second = recorder();
    for (const id of ids) second.touch(id);
    await second.flush();
    expect(counter.writes).toEqual({ "update connection_usage": 1, "insert connection_usage": 1 });
    expect(await usageOf(database.db, ids)).toEqual(written);

    // A grain after the stored use, one of them is read again: only that one is written.
    clock.advance(grainMs - 10 * 60_000 + 1_000);
    await second.flush();
    const [again, idle] = ids;
    if (!again || !idle) throw new Error("no connections");
    const flushedAt = clock.now().getTime();
    second.touch(again);
    await second.flush();
    const now = await usageOf(database.db, ids);
    expect(now.get(again)).toBeGreaterThanOrEqual(flushedAt);
    expect(now.get(idle)).toBe(written.get(idle));
  });

  it("writes a flush of more connections than one statement holds", async () => {
    // The recorder does not look the ids up (no foreign key): made-up ones keep this test fast.
    const ids = Array.from({ length: 10_001 }, (_, index) => `conn_batch_${index}`);
    const usage = recorder();
    for (const id of ids) usage.touch(id);
    await usage.flush();
    expect(counter.writes).toEqual({ "update connection_usage": 3, "insert connection_usage": 3 });
    expect((await usageOf(database.db, ids)).size).toBe(10_001);
  });

  it("announces nothing to the caches' change feed (the token cache keeps its entries)", async () => {
    const seen: Change[] = [];
    const unsubscribe = database.changes.subscribe((change) => seen.push(change));
    const announced = async (id: string) => {
      const deadline = Date.now() + 5_000;
      while (!seen.some((change) => change.row?.id === id) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return seen.some((change) => change.row?.id === id);
    };
    try {
      const ids = await newConnections(2);
      // The connections' own announcements are in before the usage writes start.
      for (const id of ids) await announced(id);
      seen.length = 0;
      const usage = recorder();
      for (const id of ids) usage.touch(id);
      await usage.flush();
      clock.advance(grainMs + 1_000);
      await usage.flush();
      for (const id of ids) usage.touch(id);
      await usage.flush();
      expect((await usageOf(database.db, ids)).get(ids[0] ?? "")).toBeGreaterThan(clock.now().getTime() - 10_000);
      // A watched write after them: once its announcement is in, any of theirs would be too (commit order).
      await database.db
        .updateTable("connectors")
        .set({ name: "GitHub, renamed" })
        .where("id", "=", connectorId)
        .execute();
      expect(await announced(connectorId)).toBe(database.changes.live);
      expect(seen.filter((change) => change.table !== "connectors")).toEqual([]);
    } finally {
      unsubscribe();
    }
  });

  it("logs a write the database refuses and records the next flush's uses", async () => {
    const [id] = await newConnections(1);
    if (!id) throw new Error("no connection");
    const usage = recorder();
    // Any refusal will do: PostgreSQL text cannot hold NUL, so the statement with this id fails whole.
    usage.touch("conn_\u0000broken");
    await expect(usage.flush()).resolves.toBeUndefined();
    expect(logs.text).toContain("could not record connection usage");
    usage.touch(id);
    await usage.flush();
    expect((await usageOf(database.db, [id])).has(id)).toBe(true);
  });

  it("forgets the usage of deleted connections, one by one and by cascade", async () => {
    const connector = await newConnector();
    const ids = await newConnections(4, connector);
    const [other] = await newConnections(1);
    if (!other) throw new Error("no connection");
    const usage = recorder();
    for (const id of [...ids, other]) usage.touch(id);
    await usage.flush();
    const [gone, ...kept] = ids;
    await database.db
      .deleteFrom("connections")
      .where("id", "=", gone ?? "")
      .execute();
    expect([...(await usageOf(database.db, ids)).keys()].sort()).toEqual([...kept].sort());

    // Deleting the connector removes its connections by foreign-key cascade: their usage goes too.
    await database.db.deleteFrom("connectors").where("id", "=", connector).execute();
    expect((await usageOf(database.db, ids)).size).toBe(0);
    // Another connector's connection keeps its usage.
    expect([...(await usageOf(database.db, [other])).keys()]).toEqual([other]);
  });
});

describe("usage grain", () => {
  it("is a tenth of the sweep's window, at most an hour, and an hour with background refresh off", () => {
    expect(usageGrainMs(86_400)).toBe(3_600_000);
    expect(usageGrainMs(36_000)).toBe(3_600_000);
    expect(usageGrainMs(7_200)).toBe(720_000);
    expect(usageGrainMs(600)).toBe(60_000);
    expect(usageGrainMs(1)).toBe(100);
    expect(usageGrainMs(0)).toBe(3_600_000);
  });

  it("lags by the grain, one write interval and one flush", () => {
    expect(usageLagMs(86_400)).toBe(3_600_000 + 60_000 + 5_000);
    expect(usageLagMs(600)).toBe(60_000 + 60_000 + 5_000);
  });
});
