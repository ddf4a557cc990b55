/**
 * The ceiling of the token hot-path benchmark: a Hono hello-world JSON route on @hono/node-server,
 * no database, nothing else. The ratio of a token route to it says how much of the request is
 * left for Latchkey's own work once the transport is paid for.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const port = Number(process.env.PORT ?? 0);
const app = new Hono();
app.get("/hello", (c) => c.json({ hello: "world" }));

const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
