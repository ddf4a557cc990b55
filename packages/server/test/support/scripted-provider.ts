/**
 * A provider that answers whatever a test scripts, over real HTTP on 127.0.0.1: for the answers a
 * well-behaved authorization server never gives (raw error pages, redirects, huge bodies, strange
 * characters). It records every request, so a test can prove what reached it, and what did not.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Send the body one byte at a time, this many ms apart (a slow drip). */
  dripMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** "hang": never answer (until the client gives up or the provider closes); "reset": drop the connection. */
export type Script = (request: RecordedRequest) => ScriptedAnswer | "hang" | "reset";

export interface ScriptedProvider {
  /** http://127.0.0.1:<port> */
  origin: string;
  requests: RecordedRequest[];
  /** Requests to `path` so far. */
  requestsTo(path: string): RecordedRequest[];
  /** Answers requests to `path`; unscripted paths get 404. */
  answer(path: string, script: Script): void;
  close(): Promise<void>;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): ScriptedAnswer => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

export async function startScriptedProvider(): Promise<ScriptedProvider> {
  const scripts = new Map<string, Script>();
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    void record(req).then((request) => {
      requests.push(request);
      const script = scripts.get(request.path);
      const answer = script ? script(request) : { status: 404, body: "not scripted" };
      if (answer === "reset") req.socket.resetAndDestroy();
      else if (answer !== "hang") respond(res, answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    requestsTo: (path) => requests.filter((request) => request.path === path),
    answer: (path, script) => void scripts.set(path, script),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function record(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return {
    method: req.method ?? "GET",
    path: new URL(req.url ?? "/", "http://localhost").pathname,
    headers: req.headers,
    body: Buffer.concat(chunks).toString("utf8"),
  };
}

function respond(res: ServerResponse, answer: ScriptedAnswer): void {
  res.writeHead(answer.status, answer.headers ?? {});
  const body = Buffer.from(answer.body ?? "", "utf8");
  if (answer.dripMs === undefined) return void res.end(body);
  let sent = 0;
  const drip = setInterval(() => {
    if (res.destroyed || sent >= body.length) {
      clearInterval(drip);
      if (!res.destroyed) res.end();
      return;
    }
    res.write(body.subarray(sent, sent + 1));
    sent += 1;
  }, answer.dripMs);
}
