import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import pg from "pg";

/**
 * SQL texts that run as named prepared statements on PostgreSQL: each pooled connection parses
 * and plans them once instead of at every call, which takes a noticeable share of the database's
 * CPU off the token hot path. Only texts registered here are prepared: a prepared `select *`
 * would fail on a connection that outlived a change to its table.
 */
const statementNames = new Map<string, string>();

/** Registers `sql` to be prepared on every PostgreSQL connection that runs it; returns it unchanged. */
export function preparedStatement(sql: string): string {
  if (!statementNames.has(sql)) statementNames.set(sql, `latchkey_${statementNames.size + 1}`);
  return sql;
}

/**
 * A named query built from its text, not from a config object: pg copies every config object it is
 * given, property descriptors and all, which costs more than the rest of sending the query.
 */
function namedQuery(
  name: string,
  text: string,
  values: unknown[],
  callback: (error: Error | undefined, result: pg.ResultBuilder) => void,
): pg.Query {
  return Object.assign(new pg.Query(text, values, callback), { name });
}

/** The pool Kysely sees: the same connections, with registered texts sent as named statements. */
export function withPreparedStatements(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
    function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
    function query<R>(
      sql: string | PostgresCursor<R>,
      parameters?: ReadonlyArray<unknown>,
    ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
      // Kysely passes a cursor only when streaming was configured, and Latchkey does not stream.
      if (typeof sql !== "string") throw new Error("Query streaming is not configured");
      const name = statementNames.get(sql);
      const values = [...(parameters ?? [])];
      // pg types `command` as any string; Kysely narrows it to the commands it reads.
      if (name === undefined)
        return client.query<R & pg.QueryResultRow>(sql, values) as Promise<PostgresQueryResult<R>>;
      return new Promise<PostgresQueryResult<R>>((resolve, reject) => {
        client.query(
          namedQuery(name, sql, values, (error, result) =>
            error ? reject(error) : resolve(result as PostgresQueryResult<R>),
          ),
        );
      });
    }
    const wrapped: PostgresPoolClient = { query, release: (destroy?: boolean) => client.release(destroy) };
    clients.set(client, wrapped);
    return wrapped;
  };
  return {
    connect: async () => {
      const client = await pool.connect();
      return clients.get(client) ?? wrap(client);
    },
    end: () => pool.end(),
  };
}
