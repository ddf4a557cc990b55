/**
 * `npm run soak -- --seconds N` (default 120): mixed load for N seconds on 3 Latchkey instances
 * (child processes) sharing one PostgreSQL database it creates and drops (SOAK_POSTGRES_URL,
 * default postgres://postgres@127.0.0.1:5432/postgres), against a real oidc-provider issuing
 * access tokens that live SOAK_TOKEN_TTL_SECONDS (20). Load: token reads of long-lived users from
 * every instance, users connecting through the real flow (initiate on one instance, provider
 * login, callback on another) and disconnecting, refreshes on the hot path and by the background
 * sweep, webhook deliveries to a local receiver. Prints requests, errors, refreshes per
 * connection against expiries (exactly one per expiry), webhook deliveries against events, and
 * each instance's RSS at start, after warm-up and at the end. Exits 1 if any check fails.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startAuthorizationServer } from "../packages/server/test/support/oidc-provider.ts";
import { WebhookReceiver } from "../packages/server/test/support/webhook-receiver.ts";
import { createDatabase, dropDatabase, freePort, rssMb } from "./harness.ts";
import { startProcess, type RunningProcess } from "./process.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "120" },
    readers: { type: "string", default: "6" },
    users: { type: "string", default: "12" },
  },
});
const seconds = Number(args.seconds);
const readerCount = Number(args.readers);
const stableUsers = Number(args.users);
if (!(seconds >= 10) || !(readerCount >= 1) || !(stableUsers >= 1)) {
  console.error("usage: npm run soak -- --seconds N (N >= 10) [--readers R] [--users U]");
  process.exit(2);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const adminUrl = process.env.SOAK_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const tokenTtlSeconds = Number(process.env.SOAK_TOKEN_TTL_SECONDS ?? 20);
const refreshBeforeSeconds = 5;
const sweepSeconds = 5;
/** RSS after warm-up is read this long after the load starts (or at a quarter of a short run). */
const warmUpMs = Math.min(60_000, (seconds * 1000) / 4);
const operatorKey = `op_soak_${randomBytes(24).toString("hex")}`;
const encryptionKeys = `s1:${randomBytes(32).toString("base64")}`;
const returnOrigin = "http://127.0.0.1:9";
const webhookEvents = ["connection.created", "connection.updated", "connection.needs_reauth", "connection.deleted"];

interface Instance extends RunningProcess {
  rss: { startMb: number; warmMb: number; endMb: number };
}

interface Tally {
  requests: number;
  errors: number;
  errorSamples: string[];
  byKind: Record<string, { requests: number; errors: number }>;
  connects: number;
  disconnects: number;
  /** Token answers whose expires_at was already past when they were sent: must stay 0. */
  expiredServed: number;
  /** Per user id: when its token was last read successfully (ms since epoch). */
  lastReadAt: Map<string, number>;
}

async function main(): Promise<void> {
  const databaseName = `latchkey_soak_${Date.now()}`;
  const databaseUrl = await createDatabase(databaseName, adminUrl);
  const provider = await startAuthorizationServer({ accessTokenTtlSeconds: tokenTtlSeconds });
  const receiver = await WebhookReceiver.start();
  const instances: Instance[] = [];
  let failed = false;
  try {
    const env = {
      DATABASE_URL: databaseUrl,
      LATCHKEY_ENCRYPTION_KEYS: encryptionKeys,
      LATCHKEY_OPERATOR_KEY: operatorKey,
      LATCHKEY_REFRESH_BEFORE_SECONDS: String(refreshBeforeSeconds),
      LATCHKEY_REFRESH_SWEEP_SECONDS: String(sweepSeconds),
      LATCHKEY_WEBHOOK_RETRY_FIRST_SECONDS: "1",
      LATCHKEY_WEBHOOK_RETRY_MAX_SECONDS: "5",
      LATCHKEY_RATE_LIMIT_CONNECT_PER_MINUTE: "0",
      LATCHKEY_RATE_LIMIT_IP_PER_MINUTE: "0",
      LATCHKEY_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: "0",
      LATCHKEY_RATE_LIMIT_USER_TOKENS_PER_MINUTE: "0",
      LOG_LEVEL: "warn",
    };
    const first = await startLatchkey(env, undefined);
    instances.push(first);
    instances.push(await startLatchkey(env, first.url), await startLatchkey(env, first.url));
    for (const instance of instances) instance.rss.startMb = await rssMb(instance.pid);

    const tenant = await setUpTenant(first.url, provider, receiver.url);
    const tally: Tally = {
      requests: 0,
      errors: 0,
      errorSamples: [],
      byKind: {},
      connects: 0,
      disconnects: 0,
      expiredServed: 0,
      lastReadAt: new Map(),
    };
    const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;
    const client = new Client(tenant, provider, tally, () => pick(instances).url);
    const stable = Array.from({ length: stableUsers }, (_, i) => `steady-${i}`);
    for (const user of stable) await client.connect(user);
    console.log(
      `[soak] ${instances.length} instances, ${stable.length} long-lived users, ${readerCount} readers, ` +
        `access tokens live ${tokenTtlSeconds} s (refresh ${refreshBeforeSeconds} s ahead, sweep every ${sweepSeconds} s); running ${seconds} s`,
    );

    const startedAt = Date.now();
    let endAt = startedAt + seconds * 1000;
    // Ctrl-C ends the load early; the report and the clean-up (processes, database) still run.
    process.once("SIGINT", () => {
      endAt = Date.now();
    });
    const warm = (async () => {
      while (Date.now() < Math.min(endAt, startedAt + warmUpMs)) await sleep(200);
      for (const instance of instances) instance.rss.warmMb = await rssMb(instance.pid);
    })();
    const readers = Array.from({ length: readerCount }, async () => {
      while (Date.now() < endAt) {
        await client.read(pick(stable));
        await sleep(20);
      }
    });
    // Churn: a new user connects, reads, reconnects now and then, and disconnects.
    const churn = (async () => {
      let n = 0;
      while (Date.now() < endAt) {
        const user = `churn-${n++}`;
        await client.connect(user);
        for (let i = 0; i < 5 && Date.now() < endAt; i++) {
          await client.read(user);
          await sleep(200);
        }
        if (n % 3 === 0) await client.connect(user);
        await client.disconnect(user);
        await sleep(100);
      }
    })();
    await Promise.all([...readers, churn, warm]);
    const elapsedS = (Date.now() - startedAt) / 1000;
    for (const instance of instances) instance.rss.endMb = await rssMb(instance.pid);

    // Webhooks still due (a retry in flight) get up to 30 s to go out.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const webhook = await drainWebhooks(pool, receiver);
    const refresh = await refreshCheck(pool, tally, provider.counters);
    await pool.end();

    const byInstance = Object.fromEntries(
      instances.map((instance, i) => [
        `instance ${i + 1} (pid ${instance.pid})`,
        `${instance.rss.startMb} → ${instance.rss.warmMb} → ${instance.rss.endMb} MB (growth after warm-up ${pct(instance.rss.endMb, instance.rss.warmMb)})`,
      ]),
    );
    const summary = {
      seconds: Math.round(elapsedS),
      requests: tally.requests,
      requests_per_second: Math.round(tally.requests / elapsedS),
      errors: tally.errors,
      by_kind: tally.byKind,
      connects: tally.connects,
      disconnects: tally.disconnects,
      expired_tokens_served: tally.expiredServed,
      refreshes: refresh.summary,
      webhooks: webhook,
      rss_start_warm_end: byInstance,
    };
    console.log(JSON.stringify(summary, null, 2));
    if (tally.errorSamples.length > 0) console.log(`[soak] first errors:\n  ${tally.errorSamples.join("\n  ")}`);
    for (const problem of refresh.problems.slice(0, 10)) console.log(`[soak] refresh check: ${problem}`);

    const checks: [string, boolean][] = [
      ["0 errors", tally.errors === 0],
      ["no expired token served", tally.expiredServed === 0],
      ["exactly one refresh per expiry per connection", refresh.problems.length === 0],
      ["provider refresh grants = refreshes recorded, none refused", refresh.summary.provider_agrees],
      ["every webhook event delivered once, in order per connection", webhook.ok],
    ];
    for (const [name, ok] of checks) console.log(`[soak] ${ok ? "PASS" : "FAIL"} ${name}`);
    failed = checks.some(([, ok]) => !ok);
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    await receiver.down();
    await provider.close();
    await dropDatabase(databaseName, adminUrl);
  }
  process.exit(failed ? 1 : 0);
}

interface Tenant {
  appId: string;
  connectorId: string;
  serviceKey: string;
}

/** Drives the public API the way an app and its users would, counting every answer. */
class Client {
  readonly #userTokens = new Map<string, string>();

  constructor(
    private readonly tenant: Tenant,
    private readonly provider: Awaited<ReturnType<typeof startAuthorizationServer>>,
    private readonly tally: Tally,
    private readonly anyInstance: () => string,
  ) {}

  /** One request; a non-2xx/3xx answer or a transport failure is an error. */
  async #request(kind: string, url: string, init: RequestInit, expected: number[]): Promise<Response | null> {
    const counts = this.tally.byKind[kind] ?? { requests: 0, errors: 0 };
    this.tally.byKind[kind] = counts;
    this.tally.requests++;
    counts.requests++;
    try {
      const response = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(30_000), ...init });
      if (expected.includes(response.status)) return response;
      this.#error(kind, `${kind} ${response.status} ${(await response.text()).slice(0, 200)}`);
    } catch (error) {
      this.#error(kind, `${kind} transport: ${(error as Error).message}`);
    }
    return null;
  }

  #error(kind: string, sample: string): void {
    this.tally.errors++;
    const counts = this.tally.byKind[kind];
    if (counts) counts.errors++;
    if (this.tally.errorSamples.length < 10) this.tally.errorSamples.push(sample);
  }

  async #userToken(user: string): Promise<string | null> {
    const known = this.#userTokens.get(user);
    if (known) return known;
    const response = await this.#request(
      "mint user token",
      `${this.anyInstance()}/api/apps/${this.tenant.appId}/users/${user}/token`,
      json(this.tenant.serviceKey, "POST", { expires_in: 86_400 }),
      [201],
    );
    if (!response) return null;
    const token = ((await response.json()) as { token: string }).token;
    this.#userTokens.set(user, token);
    return token;
  }

  /** The real connect flow: initiate on one instance, provider login, callback on another. */
  async connect(user: string): Promise<void> {
    const token = await this.#userToken(user);
    if (!token) return;
    const initiated = await this.#request(
      "connect: initiate",
      `${this.anyInstance()}/api/apps/${this.tenant.appId}/app-user-auth/connectors/${this.tenant.connectorId}/initiate`,
      json(token, "POST", { return_to: `${returnOrigin}/done` }),
      [200],
    );
    if (!initiated) return;
    const { redirect_url } = (await initiated.json()) as { redirect_url: string };
    const callback = new URL(await this.provider.authorize(redirect_url, { login: user }));
    const back = await this.#request(
      "connect: callback",
      `${this.anyInstance()}${callback.pathname}${callback.search}`,
      {},
      [302],
    );
    if (!back) return;
    const location = back.headers.get("location") ?? "";
    if (location.includes("latchkey_status=connected")) this.tally.connects++;
    else this.#error("connect: callback", `callback → ${location.slice(0, 200)}`);
  }

  async read(user: string): Promise<void> {
    const response = await this.#request(
      "token read",
      `${this.anyInstance()}/api/apps/${this.tenant.appId}/app-user-auth/connectors/${this.tenant.connectorId}/users/${user}/token`,
      { headers: { authorization: `Bearer ${this.tenant.serviceKey}` } },
      [200],
    );
    if (!response) return;
    const body = (await response.json()) as { access_token: string; expires_at: string | null };
    const now = Date.now();
    if (body.expires_at !== null && Date.parse(body.expires_at) <= now) this.tally.expiredServed++;
    this.tally.lastReadAt.set(user, now);
  }

  async disconnect(user: string): Promise<void> {
    const token = await this.#userToken(user);
    if (!token) return;
    const response = await this.#request(
      "disconnect",
      `${this.anyInstance()}/api/apps/${this.tenant.appId}/app-user-auth/connectors/${this.tenant.connectorId}`,
      { method: "DELETE", headers: { authorization: `Bearer ${token}` } },
      [204],
    );
    if (response) this.tally.disconnects++;
  }
}

interface RefreshSummary {
  connections: number;
  refreshes_total: number;
  expiries_total: number;
  /** Histogram "refreshes-expiries": counts; 0 is one refresh per expiry, 1 the current token refreshed ahead of an expiry still to come. */
  refreshes_minus_expiries: Record<string, number>;
  min_gap_between_refreshes_s: number | null;
  provider_refresh_grants: number;
  provider_failed_refresh_grants: number;
  provider_agrees: boolean;
}

/**
 * Per connection, from its events: token i was issued at t_i (created, then each refresh) and
 * expires at t_i + TTL. Its expiries are the tokens whose lifetime ended before the connection's
 * last read. One refresh per expiry means: refreshes = expiries, or expiries + 1 when the current
 * token was refreshed ahead of an expiry that had not come yet; and no two refreshes of one
 * connection closer than a token's lifetime minus the refresh lead (the same token refreshed twice).
 */
async function refreshCheck(
  pool: pg.Pool,
  tally: Tally,
  counters: { refreshGrants: number; failedRefreshGrants: number },
): Promise<{ summary: RefreshSummary; problems: string[] }> {
  const { rows } = await pool.query<{ target: string; action: string; at: Date; user_id: string }>(
    `select target, action, created_at as at, data->>'user_id' as user_id from events
     where type = 'connection' and action in ('connection.created', 'connection.updated', 'connection.refreshed')
     order by seq`,
  );
  const byConnection = new Map<string, { user: string; issued: number[]; byRefresh: boolean[]; refreshes: number }>();
  for (const row of rows) {
    const entry = byConnection.get(row.target) ?? { user: row.user_id, issued: [], byRefresh: [], refreshes: 0 };
    // A reconnect (updated) issues a new token too, outside the refresh count.
    entry.issued.push(row.at.getTime());
    entry.byRefresh.push(row.action === "connection.refreshed");
    if (row.action === "connection.refreshed") entry.refreshes++;
    byConnection.set(row.target, entry);
  }
  const leadMs = (refreshBeforeSeconds + sweepSeconds) * 1000;
  const minGapMs = tokenTtlSeconds * 1000 - leadMs - 1_000;
  const problems: string[] = [];
  const histogram: Record<string, number> = {};
  let refreshes = 0;
  let expiries = 0;
  let minGap = Number.POSITIVE_INFINITY;
  for (const [id, entry] of byConnection) {
    const lastRead = tally.lastReadAt.get(entry.user) ?? 0;
    const expired = entry.issued.filter((at) => at + tokenTtlSeconds * 1000 <= lastRead).length;
    refreshes += entry.refreshes;
    expiries += expired;
    const difference = entry.refreshes - expired;
    histogram[String(difference)] = (histogram[String(difference)] ?? 0) + 1;
    if (difference !== 0 && difference !== 1) {
      problems.push(`${id} (${entry.user}): ${entry.refreshes} refreshes for ${expired} expiries`);
    }
    for (let i = 1; i < entry.issued.length; i++) {
      const gap = (entry.issued[i] ?? 0) - (entry.issued[i - 1] ?? 0);
      if (!entry.byRefresh[i]) continue;
      minGap = Math.min(minGap, gap);
      if (gap < minGapMs) {
        problems.push(`${id} (${entry.user}): two tokens issued ${gap} ms apart (token refreshed twice?)`);
      }
    }
  }
  return {
    summary: {
      connections: byConnection.size,
      refreshes_total: refreshes,
      expiries_total: expiries,
      refreshes_minus_expiries: histogram,
      min_gap_between_refreshes_s: Number.isFinite(minGap) ? Math.round(minGap / 100) / 10 : null,
      provider_refresh_grants: counters.refreshGrants,
      provider_failed_refresh_grants: counters.failedRefreshGrants,
      provider_agrees: counters.refreshGrants === refreshes && counters.failedRefreshGrants === 0,
    },
    problems,
  };
}

/** Waits (up to 30 s) for the outbox to empty, then compares what the receiver got with the events. */
async function drainWebhooks(pool: pg.Pool, receiver: WebhookReceiver) {
  const deadline = Date.now() + 30_000;
  let pending = 0;
  for (;;) {
    const result = await pool.query<{ n: string }>(
      "select count(*) as n from webhook_deliveries where state <> 'delivered'",
    );
    pending = Number(result.rows[0]?.n ?? 0);
    if (pending === 0 || Date.now() > deadline) break;
    await sleep(500);
  }
  const events = await pool.query<{ id: string; target: string; seq: string }>(
    "select id, target, seq from events where type = 'connection' and action = any($1) order by seq",
    [webhookEvents],
  );
  const deliveries = await pool.query<{ id: string; event_id: string; attempts: number }>(
    "select id, event_id, attempts from webhook_deliveries",
  );
  const deliveryOfEvent = new Map(deliveries.rows.map((row) => [row.event_id, row.id]));
  const receivedIds = receiver.received.map((request) => request.id);
  const uniqueReceived = new Set(receivedIds);
  // In order per connection: the receiver saw each connection's events in event order.
  const firstArrival = new Map<string, number>();
  receivedIds.forEach((id, index) => {
    if (!firstArrival.has(id)) firstArrival.set(id, index);
  });
  let outOfOrder = 0;
  const lastByConnection = new Map<string, number>();
  for (const event of events.rows) {
    const arrival = firstArrival.get(deliveryOfEvent.get(event.id) ?? "");
    if (arrival === undefined) continue;
    const previous = lastByConnection.get(event.target);
    if (previous !== undefined && arrival < previous) outOfOrder++;
    lastByConnection.set(event.target, arrival);
  }
  const delivered = events.rows.filter((event) => uniqueReceived.has(deliveryOfEvent.get(event.id) ?? "")).length;
  return {
    events: events.rows.length,
    delivered,
    requests_received: receivedIds.length,
    duplicates: receivedIds.length - uniqueReceived.size,
    retried: deliveries.rows.filter((row) => row.attempts > 1).length,
    not_delivered_after_30s: pending,
    out_of_order: outOfOrder,
    ok: delivered === events.rows.length && pending === 0 && outOfOrder === 0,
  };
}

async function setUpTenant(
  base: string,
  provider: Awaited<ReturnType<typeof startAuthorizationServer>>,
  receiverUrl: string,
): Promise<Tenant> {
  const created = await api(base, "POST", "/api/operator/workspaces", operatorKey, {
    name: "soak",
    plan: "builder",
    admin_email: "soak@example.test",
  });
  const workspaceId = str(created, "workspace.id");
  const adminKey = str(created, "admin_api_key");
  const app = await api(base, "POST", `/api/workspaces/${workspaceId}/apps`, adminKey, {
    name: "soak app",
    allowed_return_origins: [returnOrigin],
    identity: { type: "latchkey" },
  });
  const clientSecret = randomBytes(24).toString("base64url");
  provider.addClient({
    clientId: "soak-client",
    clientSecret,
    redirectUris: [`${base}/oauth/callback`],
    tokenEndpointAuthMethod: "client_secret_basic",
  });
  const connector = await api(base, "POST", `/api/workspaces/${workspaceId}/connectors`, adminKey, {
    provider: "oidc",
    issuer: provider.issuer,
    client_id: "soak-client",
    client_secret: clientSecret,
    scopes: ["openid", "email", "offline_access"],
  });
  await api(base, "POST", `/api/workspaces/${workspaceId}/webhooks`, adminKey, {
    url: receiverUrl,
    events: webhookEvents,
  });
  return {
    appId: str(app, "app.id"),
    connectorId: str(connector, "connector.id"),
    serviceKey: str(app, "service_key"),
  };
}

async function startLatchkey(env: Record<string, string>, publicUrl: string | undefined): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const running = await startProcess(
    `latchkey:${port}`,
    [path.join(here, "../packages/server/bin/latchkey.js"), "serve"],
    { ...env, PORT: String(port), HOST: "127.0.0.1", LATCHKEY_PUBLIC_URL: publicUrl ?? url },
    `${url}/readyz`,
  );
  return { ...running, url, rss: { startMb: 0, warmMb: 0, endMb: 0 } };
}

function json(token: string, method: string, body: unknown): RequestInit {
  return {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

async function api(base: string, method: string, pathname: string, token: string, body: unknown) {
  const response = await fetch(`${base}${pathname}`, json(token, method, body));
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${pathname} → ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

/** A string at a dot path of a JSON value, or an error naming the path. */
function str(value: unknown, dotPath: string): string {
  let current = value;
  for (const key of dotPath.split(".")) {
    current = current !== null && typeof current === "object" ? (current as Record<string, unknown>)[key] : undefined;
  }
  if (typeof current !== "string") throw new Error(`expected a string at ${dotPath}`);
  return current;
}

const pct = (end: number, from: number) => (from > 0 ? `${(((end - from) / from) * 100).toFixed(1)}%` : "n/a");

await main();
