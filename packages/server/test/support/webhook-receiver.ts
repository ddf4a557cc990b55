import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  /** The request target: path and query (one receiver can stand for several webhooks by query). */
  path: string;
  body: string;
  id: string;
  timestamp: string;
  signature: string;
}

/** How the receiver answers: 2xx, 500, or never (the socket stays open until the sender gives up). */
export type ReceiverMode = "ok" | "error" | "hang";

/** A real HTTP endpoint on 127.0.0.1 that records what it is sent; it can also be taken down and brought back. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  mode: ReceiverMode = "ok";
  /** Requests left unanswered in "hang" mode (not in `received`: the sender never got an answer). */
  hung = 0;
  #server: Server;
  #port = 0;

  private constructor() {
    this.#server = this.#create();
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks/latchkey`;
  }

  #create(): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        if (this.mode === "hang") {
          this.hung++;
          return;
        }
        this.received.push({
          headers: req.headers,
          path: req.url ?? "",
          body: Buffer.concat(chunks).toString("utf8"),
          id: String(req.headers["webhook-id"]),
          timestamp: String(req.headers["webhook-timestamp"]),
          signature: String(req.headers["webhook-signature"]),
        });
        res.writeHead(this.mode === "ok" ? 204 : 500).end();
      });
    });
  }

  /** Listens (again, on the same port once it had one). */
  async up(): Promise<void> {
    this.#server = this.#create();
    await new Promise<void>((resolve) => this.#server.listen(this.#port, "127.0.0.1", resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** Stops listening: connections are refused until up(). */
  async down(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
