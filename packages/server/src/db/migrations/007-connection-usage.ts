import { sql, type Kysely } from "kysely";

/**
 * When a token route last handed a connection's token out moves from `connections.last_used_at`
 * to a narrow table of its own, `connection_usage` (connection id, time), which only the usage
 * recorder writes and only the background sweep reads.
 *
 * Why: at a million connections nearly every token read is its connection's first in a while, so
 * recording use wrote about one connections row per read. A connections row is ~800 bytes on a
 * page that COPY or steady inserts filled (fillfactor 100), so such an update could rarely stay on
 * its page (HOT): it wrote the whole row again elsewhere and an entry in each of the six indexes,
 * dirtied pages all over a table that no longer fits in shared buffers, and their full-page images
 * filled the WAL (the scale bench: 47,123 rows updated, 42% HOT, 257 MB of WAL during 300k reads).
 * A usage row is ~70 bytes (over 100 to a page) with one index, so the same writes are appends to
 * a table small enough to stay cached, and the token reads never write the connections table.
 * A fillfactor on connections would have made the updates HOT on new pages only (ALTER TABLE …
 * SET (fillfactor) leaves existing pages as they are until a rewrite) and each would still have
 * written ~800 bytes and a random page of the big table.
 *
 * No foreign key: its check would take a KEY SHARE lock on the connection, which writes the
 * connections page again and waits behind a refresh's row lock. A statement trigger deletes the
 * usage of deleted connections instead (cascades included). A use written in the few seconds after
 * its connection's deletion leaves a row behind: harmless, as connection ids are never reused and
 * the sweep joins connections.
 *
 * fillfactor 80 leaves room on each page for updated rows (last_used_at is in no index), so a use
 * written again is a HOT update. Uses already recorded are carried over.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table connection_usage (
      connection_id text primary key,
      last_used_at timestamptz not null
    ) with (fillfactor = 80)
  `.execute(db);
  await sql`
    insert into connection_usage (connection_id, last_used_at)
    select id, last_used_at from connections where last_used_at is not null
  `.execute(db);
  await sql`alter table connections drop column last_used_at`.execute(db);
  await sql`
    create function latchkey_forget_connection_usage() returns trigger language plpgsql as $$
    begin
      delete from connection_usage u using gone where u.connection_id = gone.id;
      return null;
    end;
    $$
  `.execute(db);
  await sql`
    create trigger connections_forget_usage after delete on connections
    referencing old table as gone for each statement execute function latchkey_forget_connection_usage()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger connections_forget_usage on connections`.execute(db);
  await sql`drop function latchkey_forget_connection_usage()`.execute(db);
  await sql`alter table connections add column last_used_at timestamptz`.execute(db);
  await sql`
    update connections c set last_used_at = u.last_used_at from connection_usage u where u.connection_id = c.id
  `.execute(db);
  await sql`drop table connection_usage`.execute(db);
}
