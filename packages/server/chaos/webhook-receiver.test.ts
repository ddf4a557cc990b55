/**
 * Webhook faults against real Latchkey processes (two instances delivering from one outbox) with
 * a short retry schedule (0.2 s first retry, 1 s cap, 0.5 s attempt timeout): the receiver down,
 * answering 500, hanging, then back; PostgreSQL stopped while deliveries are due; the delivering
 * instance killed mid-delivery. In every case each event is delivered, in order per connection,
 * exactly as signed (verified with the standardwebhooks package).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type Tenant } from "../test/support/connect-testbed.ts";
import { type AuthorizationServer, startAuthorizationServer } from "../test/support/oidc-provider.ts";
import { WebhookReceiver } from "../test/support/webhook-receiver.ts";
import { type ChaosBed, report, since, startChaosBed, waitFor } from "./support/chaos-bed.ts";
import type { LatchkeyProcess } from "./support/latchkey-process.ts";
import { openRows, type Rows } from "./support/rows.ts";
import {
  expectAllDelivered,
  fastWebhooks,
  lastEventSeq,
  makeEvents,
  outboxEmpty,
  subscribe,
} from "./support/webhook-scenario.ts";

describe("webhook receiver down, failing, hanging, then back", () => {
  let bed: ChaosBed;
  let harness: AuthorizationServer;
  let a: LatchkeyProcess;
  let b: LatchkeyProcess;
  let tenant: Tenant;
  let rows: Rows;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    bed = await startChaosBed();
    harness = await startAuthorizationServer();
    receiver = await WebhookReceiver.start();
    [a, b] = await Promise.all([bed.instance("a", fastWebhooks), bed.instance("b", fastWebhooks)]);
    tenant = await createTenant(a, harness);
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
  }, 120_000);
  afterAll(async () => {
    await receiver?.down().catch(() => {});
    await rows?.close();
    await bed?.close();
    await harness?.close();
  });

  it("down, then 500, then hanging, then back: every event delivered, in order per connection, exactly as signed", async () => {
    const hook = await subscribe(a, tenant, receiver.url);
    const fromSeq = await lastEventSeq(rows);
    await receiver.down();
    await makeEvents([a, b], harness, tenant, ["ada", "bob", "cy"]);
    // Down: connections refused for a while, every due delivery retried on the short schedule.
    await sleep(1_500);
    await receiver.up();
    receiver.mode = "error";
    await waitFor(async () => receiver.received.length >= 3, 10_000);
    const answered500 = receiver.received.length;
    receiver.mode = "hang";
    await waitFor(async () => receiver.hung >= 3, 10_000);
    const back = performance.now();
    const okFrom = receiver.received.length;
    receiver.mode = "ok";
    const drainMs = await waitFor(() => outboxEmpty(rows, hook.id), 30_000, 100);
    const check = await expectAllDelivered(rows, hook, receiver.received.slice(okFrom), fromSeq);
    report("webhooks: receiver down, 500, hang, back", {
      ...check,
      answered_500: answered500,
      hung: receiver.hung,
      all_delivered_ms_after_back: since(back),
      drain_poll_ms: drainMs,
    });
    expect(check.events).toBe(7); // 3 created, 3 updated, 1 deleted
    expect(check.delivered).toBe(check.events);
    expect(check.maxAttempts).toBeGreaterThan(1);
    // Nothing delivered while it failed: every 500 and hang was retried with the same webhook-id.
    const failedIds = new Set(receiver.received.slice(0, answered500).map((request) => request.id));
    for (const id of failedIds) expect(receiver.received.slice(okFrom).some((request) => request.id === id)).toBe(true);
    for (const instance of [a, b]) expect(instance.child.exitCode).toBeNull();
  }, 90_000);

  it("no webhook is lost across a PostgreSQL stop/start while deliveries are due", async () => {
    await rows.database.db.deleteFrom("webhooks").execute();
    receiver.received.length = 0;
    const hook = await subscribe(a, tenant, receiver.url);
    const fromSeq = await lastEventSeq(rows);
    receiver.mode = "error";
    await makeEvents([a, b], harness, tenant, ["dee", "eve"]);
    await waitFor(async () => receiver.received.length >= 2, 10_000);
    // The test's own pool is closed across the outage and opened again after it.
    await rows.close();
    await bed.pg.stop("fast");
    await sleep(2_000);
    await bed.pg.start();
    const restarted = performance.now();
    // An attempt whose outcome could not be recorded during the outage keeps its claim until the
    // lease (30 s) ends; then any instance delivers it again with the same webhook-id.
    rows = openRows(bed.databaseUrl, bed.encryptionKeys);
    const okFrom = receiver.received.length;
    receiver.mode = "ok";
    await waitFor(() => outboxEmpty(rows, hook.id), 30_000, 200);
    const check = await expectAllDelivered(rows, hook, receiver.received.slice(okFrom), fromSeq);
    report("webhooks: PostgreSQL stop/start with deliveries due", {
      ...check,
      all_delivered_ms_after_start: since(restarted),
    });
    expect(check.events).toBe(5); // 2 created, 2 updated, 1 deleted
    expect(check.delivered).toBe(check.events);
    for (const instance of [a, b]) expect(instance.child.exitCode, instance.output().slice(-2000)).toBeNull();
  }, 90_000);

  it("kill -9 of the delivering instance: another instance delivers the event once its lease ends (< 60 s)", async () => {
    // Only c is running when the event comes, with an attempt timeout long enough to be killed mid-delivery.
    for (const instance of [a, b]) {
      instance.kill("SIGKILL");
      await instance.exited;
    }
    await rows.database.db.deleteFrom("webhooks").execute();
    receiver.received.length = 0;
    receiver.hung = 0;
    const c = await bed.instance("c", { ...fastWebhooks, LATCHKEY_WEBHOOK_TIMEOUT_SECONDS: "20" });
    const hook = await subscribe(c, tenant, receiver.url);
    const fromSeq = await lastEventSeq(rows);
    receiver.mode = "hang";
    await makeEvents([c], harness, tenant, ["fay"]);
    await waitFor(async () => receiver.hung >= 1, 10_000);
    const lease = await rows.database.db
      .selectFrom("webhook_deliveries")
      .select(["lease_until"])
      .where("webhook_id", "=", hook.id)
      .where("lease_until", "is not", null)
      .executeTakeFirstOrThrow();
    const leaseLeftAtKillMs = (lease.lease_until?.getTime() ?? 0) - Date.now();
    c.kill("SIGKILL");
    const killedAt = performance.now();
    await c.exited;
    receiver.mode = "ok";
    const d = await bed.instance("d", fastWebhooks);
    await waitFor(() => outboxEmpty(rows, hook.id), 70_000, 200);
    const takenOverMs = since(killedAt);
    const check = await expectAllDelivered(rows, hook, receiver.received, fromSeq);
    report("webhooks: kill -9 of the delivering instance", {
      ...check,
      delivered_ms_after_kill: takenOverMs,
      lease_left_at_kill_ms: leaseLeftAtKillMs,
    });
    expect(check.delivered).toBe(check.events);
    expect(check.events).toBe(3); // created, updated, deleted
    expect(takenOverMs).toBeLessThan(60_000);
    expect(d.child.exitCode).toBeNull();
  }, 120_000);
});
