import { sql, type Kysely } from "kysely";

/**
 * Every change a per-instance cache depends on is announced on the `latchkey_changes` channel by
 * triggers, so no write path (a route, the refresh, the sweep, key rotation, a cascade, a manual
 * fix in psql) can forget to. NOTIFY is delivered when the writing transaction commits, never
 * before, and not at all when it rolls back. The payload is a small JSON object: the table and the
 * ids a cache needs to drop the affected entries (see db/change-feed.ts).
 *
 * An update that only records use (`last_used_at`), or a connection's refresh cooldown, changes
 * nothing a cache holds: the WHEN clauses keep the hot path's usage writes from emptying caches.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function latchkey_notify_change() returns trigger language plpgsql as $$
    declare
      r jsonb;
      payload jsonb;
    begin
      -- to_jsonb: one function for every table, each naming the columns its caches key on.
      if tg_op = 'DELETE' then r := to_jsonb(old); else r := to_jsonb(new); end if;
      payload := jsonb_build_object('t', tg_table_name, 'id', r->>'id');
      if tg_table_name = 'connections' then
        payload := payload || jsonb_build_object('app', r->>'app_id', 'connector', r->>'connector_id',
          'owner', r->>'owner_type', 'user', r->>'user_id');
      elsif tg_table_name = 'service_keys' then
        payload := payload || jsonb_build_object('app', r->>'app_id');
      end if;
      perform pg_notify('latchkey_changes', payload::text);
      -- An update that moves a connection to another key (never done today) announces the old key too.
      if tg_op = 'UPDATE' and tg_table_name = 'connections' and (to_jsonb(old)->>'app_id', to_jsonb(old)->>'connector_id',
          to_jsonb(old)->>'owner_type', to_jsonb(old)->>'user_id') is distinct from (r->>'app_id', r->>'connector_id',
          r->>'owner_type', r->>'user_id') then
        perform pg_notify('latchkey_changes', jsonb_build_object('t', tg_table_name, 'id', to_jsonb(old)->>'id',
          'app', to_jsonb(old)->>'app_id', 'connector', to_jsonb(old)->>'connector_id',
          'owner', to_jsonb(old)->>'owner_type', 'user', to_jsonb(old)->>'user_id')::text);
      end if;
      return null;
    end;
    $$
  `.execute(db);
  await sql`
    create trigger connections_notify_write after insert or delete on connections
    for each row execute function latchkey_notify_change()
  `.execute(db);
  await sql`
    create trigger connections_notify_update after update on connections
    for each row when (
      (old.status, old.access_token, old.token_type, old.expires_at, old.scopes, old.account,
       old.connection_config, old.app_id, old.connector_id, old.owner_type, old.user_id)
      is distinct from
      (new.status, new.access_token, new.token_type, new.expires_at, new.scopes, new.account,
       new.connection_config, new.app_id, new.connector_id, new.owner_type, new.user_id)
    )
    execute function latchkey_notify_change()
  `.execute(db);
  for (const table of ["connectors", "apps"]) {
    await sql`
      create trigger ${sql.raw(`${table}_notify_change`)} after insert or update or delete on ${sql.table(table)}
      for each row execute function latchkey_notify_change()
    `.execute(db);
  }
  for (const table of ["service_keys", "admin_api_keys"]) {
    await sql`
      create trigger ${sql.raw(`${table}_notify_write`)} after insert or delete on ${sql.table(table)}
      for each row execute function latchkey_notify_change()
    `.execute(db);
    await sql`
      create trigger ${sql.raw(`${table}_notify_update`)} after update on ${sql.table(table)}
      for each row when ((to_jsonb(old) - 'last_used_at') is distinct from (to_jsonb(new) - 'last_used_at'))
      execute function latchkey_notify_change()
    `.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["connections", "connectors", "apps", "service_keys", "admin_api_keys"]) {
    for (const suffix of ["notify_change", "notify_write", "notify_update"]) {
      await sql`drop trigger if exists ${sql.raw(`${table}_${suffix}`)} on ${sql.table(table)}`.execute(db);
    }
  }
  await sql`drop function if exists latchkey_notify_change()`.execute(db);
}
