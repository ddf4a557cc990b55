import type { PGlite } from "@electric-sql/pglite";
import {
  AliasNode,
  ColumnNode,
  DeleteQueryNode,
  InsertQueryNode,
  RawNode,
  TableNode,
  UpdateQueryNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from "kysely";
import pg from "pg";
import type { Change, ChangedRow, ChangeFeed } from "../kernel/changes.ts";

/** The channel the triggers of migration 006 announce changes on. */
export const changeChannel = "latchkey_changes";

/** Tables whose changes per-instance caches depend on (each has a trigger). */
export const watchedTables: ReadonlySet<string> = new Set([
  "connections",
  "connectors",
  "apps",
  "service_keys",
  "admin_api_keys",
]);

/** Columns no cache holds, per table: writing only these announces nothing (as the triggers' WHEN). */
const unwatchedColumns: Readonly<Record<string, ReadonlySet<string>>> = {
  connections: new Set(["refresh_cooldown_until"]),
  service_keys: new Set(["last_used_at"]),
  admin_api_keys: new Set(["last_used_at"]),
};

/** A trigger's payload as a Change; anything unreadable means "anything may have changed". */
export function parseChange(payload: string): Change {
  try {
    const value: unknown = JSON.parse(payload);
    if (typeof value === "object" && value !== null && "t" in value && typeof value.t === "string") {
      const fields = value as Record<string, unknown>;
      const text = (name: string) => (typeof fields[name] === "string" ? fields[name] : undefined);
      const id = text("id");
      if (id === undefined) return { table: value.t };
      const row: ChangedRow = { id };
      const appId = text("app");
      const connectorId = text("connector");
      const ownerType = text("owner");
      const userId = text("user");
      if (appId !== undefined) row.appId = appId;
      if (connectorId !== undefined) row.connectorId = connectorId;
      if (ownerType !== undefined) row.ownerType = ownerType;
      if (userId !== undefined) row.userId = userId;
      return { table: value.t, row };
    }
  } catch {
    // Not JSON: fall through to the widest change.
  }
  return { table: "*" };
}

/**
 * This process's own writes, announced when the statement is sent, before the trigger's NOTIFY
 * comes back after the commit: a caller that reads right after its own write (a disconnect, then
 * a token request on the same instance) must not get the value from before it. The row is not
 * known here, so the whole table counts as changed. Raw SQL that writes counts as a change to
 * every table.
 */
export function localWritesPlugin(feed: ChangeFeed): KyselyPlugin {
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const table = writtenTable(args.node);
      if (table !== null) feed.publish({ table });
      return args.node;
    },
    transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return Promise.resolve(args.result);
    },
  };
}

/** The watched table a statement writes, "*" for raw SQL that writes, else null. */
function writtenTable(node: RootOperationNode): string | null {
  if (InsertQueryNode.is(node)) return watched(node.into);
  if (DeleteQueryNode.is(node)) {
    for (const from of node.from.froms) {
      const table = watched(from);
      if (table !== null) return table;
    }
    return null;
  }
  if (UpdateQueryNode.is(node)) {
    const table = watched(node.table);
    const unwatched = table === null ? undefined : unwatchedColumns[table];
    if (unwatched === undefined) return table;
    const columns = (node.updates ?? []).map((update) =>
      ColumnNode.is(update.column) ? update.column.column.name : null,
    );
    return columns.every((column) => column !== null && unwatched.has(column)) ? null : table;
  }
  if (RawNode.is(node)) {
    const text = node.sqlFragments.join(" ").trimStart().slice(0, 16).toLowerCase();
    return /^(insert|update|delete|with|merge|truncate)\b/.test(text) ? "*" : null;
  }
  return null;
}

function watched(node: OperationNode | undefined): string | null {
  if (node === undefined) return null;
  const table = AliasNode.is(node) ? node.node : node;
  if (!TableNode.is(table)) return null;
  const name = table.table.identifier.name;
  return watchedTables.has(name) ? name : null;
}

/** Embedded: PGlite delivers the triggers' notifications in process, as each statement completes. */
export async function listenEmbedded(pglite: PGlite, feed: ChangeFeed): Promise<void> {
  await pglite.listen(changeChannel, (payload) => feed.publish(parseChange(payload)));
  feed.subscribed();
}

export interface ListenerEvents {
  /** The LISTEN connection is up and listening (again); caches were cleared. */
  onListening?: (info: { attempt: number; pid: number }) => void;
  /** It dropped (or could not be opened); caches are bypassed until it is back. */
  onLost?: (info: { error: Error; retryInMs: number }) => void;
}

const firstRetryMs = 50;
const maxRetryMs = 5_000;
/**
 * A connection whose server vanished without closing it (a network partition, a failover) would
 * look alive forever and its notifications never come: a query this often, answered within the
 * timeout, shows that it is alive; else it counts as lost.
 */
const heartbeatIntervalMs = 5_000;
const heartbeatTimeoutMs = 3_000;

/**
 * LISTEN on PostgreSQL. LISTEN is a property of a session, so it needs its own connection, not
 * one of the pool's (and behind a transaction pooler, a URL to the server itself). While it is
 * down the feed is not live, so caches read through; once it is listening again the feed tells
 * every cache to forget everything before serving again. Retries with exponential backoff.
 */
export class PostgresChangeListener {
  #client: pg.Client | null = null;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #failures = 0;

  constructor(
    private readonly url: string,
    private readonly feed: ChangeFeed,
    private readonly events: ListenerEvents = {},
  ) {}

  /** The backend process id of the LISTEN session (for operators and tests), null while down. */
  get pid(): number | null {
    const client = this.#client as (pg.Client & { processID?: number }) | null;
    return this.feed.live && client?.processID !== undefined ? client.processID : null;
  }

  start(): void {
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = null;
    this.feed.lost();
    if (client) await client.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, keepAlive: true });
    this.#client = client;
    let dropped = false;
    const drop = (error: Error) => {
      if (dropped) return;
      dropped = true;
      this.#lose(client, error);
    };
    client.on("error", drop);
    client.on("end", () => drop(new Error("LISTEN connection ended")));
    client.on("notification", (message) => {
      if (message.channel === changeChannel) this.feed.publish(parseChange(message.payload ?? ""));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${changeChannel}`);
    } catch (error) {
      drop(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (dropped || this.#stopped) return;
    const attempt = this.#failures + 1;
    this.#failures = 0;
    this.feed.subscribed();
    this.#heartbeat = setInterval(() => {
      const late = setTimeout(
        () => drop(new Error("LISTEN connection did not answer its heartbeat")),
        heartbeatTimeoutMs,
      );
      client.query("select 1").then(
        () => clearTimeout(late),
        (error: unknown) => {
          clearTimeout(late);
          drop(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }, heartbeatIntervalMs);
    this.#heartbeat.unref();
    this.events.onListening?.({ attempt, pid: (client as pg.Client & { processID?: number }).processID ?? 0 });
  }

  #lose(client: pg.Client, error: Error): void {
    if (this.#client === client) this.#client = null;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    client.end().catch(() => {});
    if (this.#stopped) return;
    this.feed.lost();
    const retryInMs = Math.min(maxRetryMs, firstRetryMs * 2 ** this.#failures);
    this.#failures++;
    this.events.onLost?.({ error, retryInMs });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#connect();
    }, retryInMs);
  }
}
