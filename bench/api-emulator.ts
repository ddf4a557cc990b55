/**
 * The provider API of the proxy-overhead benchmark: a plain Node HTTP server on loopback answering
 * `GET /v1/items` with a small JSON list after BENCH_PROXY_UPSTREAM_DELAY_MS (default 0), as an
 * API on the same machine would. It checks that a bearer token came along, as a real API would.
 */
import http from "node:http";

const port = Number(process.env.PORT ?? 0);
const delayMs = Number(process.env.BENCH_PROXY_UPSTREAM_DELAY_MS ?? 0);
const body = JSON.stringify({
  items: Array.from({ length: 10 }, (_, index) => ({
    id: `item_${index}`,
    name: `Item ${index}`,
    done: index % 2 === 0,
  })),
  next_cursor: null,
});

const server = http.createServer((req, res) => {
  const answer = () => {
    if (!req.headers.authorization?.startsWith("Bearer ")) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end('{"error":"unauthorized"}');
    }
    if (req.method !== "GET" || !req.url?.startsWith("/v1/items")) {
      res.writeHead(404, { "content-type": "application/json" });
      return res.end('{"error":"not_found"}');
    }
    res.writeHead(200, { "content-type": "application/json", "x-ratelimit-remaining": "4999" });
    res.end(body);
  };
  req.resume();
  req.on("end", () => (delayMs > 0 ? setTimeout(answer, delayMs) : answer()));
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
