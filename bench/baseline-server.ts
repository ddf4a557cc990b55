/**
 * The baseline (floor) of the token hot-path benchmark: Hono on @hono/node-server doing one
 * primary-key select on the same PostgreSQL database and table, through the same Kysely + pg pool
 * settings Latchkey uses (DATABASE_URL); or, with DATA_DIR instead, on an embedded PGlite data dir
 * opened as Latchkey opens its own (bench/embedded.ts gives it a copy of Latchkey's).
 * Latchkey's token route is compared against this in the same run.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { openEmbedded, openPostgres } from "../packages/server/src/db/open-database.ts";

const databaseUrl = process.env.DATABASE_URL;
const dataDir = process.env.DATA_DIR;
const port = Number(process.env.PORT ?? 0);
if (!databaseUrl && !dataDir) throw new Error("DATABASE_URL or DATA_DIR is required");

const { db, close } = databaseUrl ? openPostgres(databaseUrl) : await openEmbedded({ dataDir: dataDir ?? "" });
const app = new Hono();
app.get("/connections/:id", async (c) => {
  const row = await db
    .selectFrom("connections")
    .select(["id", "access_token", "token_type", "expires_at", "scopes"])
    .where("id", "=", c.req.param("id"))
    .executeTakeFirst();
  if (!row) return c.json({ error: { code: "NOT_FOUND", message: "not found" } }, 404);
  return c.json(row);
});

const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  void close().then(() => process.exit(0));
});
