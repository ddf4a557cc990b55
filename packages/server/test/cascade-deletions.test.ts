/**
 * Deleting an app or a connector removes its connections; each removal is a `connection.deleted`
 * event (audit log and webhooks read the same record), written in the deletion's transaction.
 * Webhooks scoped to a deleted app are deleted with it: the workspace-wide webhooks announce the
 * removal of that app's connections.
 */
import { sql } from "kysely";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { createTestApp, TestClock } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import { type ReceivedWebhook, WebhookReceiver } from "./support/webhook-receiver.ts";
import {
  connectUser,
  createConnector,
  createLatchkeyIdentityApp,
  createTenant,
  json,
  type Tenant,
  userToken,
} from "./support/connect-testbed.ts";

interface AuditEvent {
  action: string;
  target: string;
  app_id: string | null;
  actor: Record<string, unknown>;
  request_id: string | null;
  data: Record<string, unknown>;
}

interface Payload {
  type: string;
  data: {
    connection_id: string;
    app_id: string;
    connector_id: string;
    user_id: string;
    status: string;
    reason?: string;
  };
}

const allEvents = ["connection.created", "connection.updated", "connection.needs_reauth", "connection.deleted"];

describe(`app and connector deletion announce each removed connection (${testDbKind()})`, () => {
  const clock = new TestClock();
  let harness: AuthorizationServer;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let receiver: WebhookReceiver;
  /** Workspace W: apps A1 (tenant.appId) and A2, connectors C1 (tenant.connectorId) and C2. */
  let tenant: Tenant;
  let app2: { appId: string; serviceKey: string };
  let connector2: string;
  const hooks: Record<"workspace" | "app1" | "app2", { id: string; secret: string }> = {
    workspace: { id: "", secret: "" },
    app1: { id: "", secret: "" },
    app2: { id: "", secret: "" },
  };

  beforeAll(async () => {
    harness = await startAuthorizationServer();
    t = await createTestApp({ clock });
    receiver = await WebhookReceiver.start();
    tenant = await createTenant(t, harness);
    app2 = await createLatchkeyIdentityApp(t, tenant);
    connector2 = (await createConnector(t, harness, tenant)).connectorId;
    for (const [name, appId] of [
      ["workspace", null],
      ["app1", tenant.appId],
      ["app2", app2.appId],
    ] as const) {
      const created = await json<{ webhook: { id: string }; secret: string }>(
        await t.call("POST", `/api/workspaces/${tenant.workspaceId}/webhooks`, {
          token: tenant.adminKey,
          body: { url: `${receiver.url}?hook=${name}`, events: allEvents, ...(appId && { app_id: appId }) },
        }),
        201,
      );
      hooks[name] = { id: created.webhook.id, secret: created.secret };
    }
    // A1×C1: ada, bob. A1×C2: cy. A2×C1: dee. A2×C2: eve.
    const plan: [{ appId: string; serviceKey: string }, string, string][] = [
      [tenant, tenant.connectorId, "ada"],
      [tenant, tenant.connectorId, "bob"],
      [tenant, connector2, "cy"],
      [app2, tenant.connectorId, "dee"],
      [app2, connector2, "eve"],
    ];
    for (const [app, connectorId, user] of plan) {
      const target = { ...tenant, appId: app.appId, serviceKey: app.serviceKey, connectorId };
      await connectUser(t, harness, target, await userToken(t, target, user), `${user}-login`);
    }
    await deliverAll();
    receiver.received.length = 0;
  }, 120_000);
  afterAll(async () => {
    await receiver?.down();
    await t?.close();
    await harness?.close();
  });

  async function deliverAll(): Promise<void> {
    for (let round = 0; round < 20; round++) if ((await t.webhooks.runOnce()) === 0) return;
  }

  const connectionIds = async (where: { appId?: string; connectorId?: string }) => {
    let query = t.deps.db.selectFrom("connections").select(["id", "user_id"]);
    if (where.appId) query = query.where("app_id", "=", where.appId);
    if (where.connectorId) query = query.where("connector_id", "=", where.connectorId);
    return new Map((await query.execute()).map((row) => [row.user_id, row.id]));
  };

  async function audit(query: string): Promise<AuditEvent[]> {
    const page = await json<{ events: AuditEvent[] }>(
      await t.call("GET", `/api/workspaces/${tenant.workspaceId}/audit-events${query}`, { token: tenant.adminKey }),
      200,
    );
    return page.events;
  }

  /** What each webhook received, verified with the standardwebhooks package against its own secret. */
  function receivedBy(name: keyof typeof hooks): Payload[] {
    return receiver.received
      .filter((request: ReceivedWebhook) => new URL(request.path, receiver.url).searchParams.get("hook") === name)
      .map(
        (request) =>
          new Webhook(hooks[name].secret).verify(request.body, {
            "webhook-id": request.id,
            "webhook-timestamp": request.timestamp,
            "webhook-signature": request.signature,
          }) as Payload,
      );
  }

  it("deleting a connector: one connection.deleted per removed connection, to the workspace and each app's webhook", async () => {
    const removed = await connectionIds({ connectorId: connector2 });
    expect([...removed.keys()].sort()).toEqual(["cy", "eve"]);
    const response = await t.call("DELETE", `/api/workspaces/${tenant.workspaceId}/connectors/${connector2}`, {
      token: tenant.adminKey,
      headers: { "x-request-id": "req-delete-connector-2" },
    });
    expect(response.status).toBe(204);
    expect(await connectionIds({ connectorId: connector2 })).toEqual(new Map());

    for (const [user, id] of removed) {
      const events = await audit(`?target=${id}&action=connection.deleted`);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        app_id: user === "cy" ? tenant.appId : app2.appId,
        actor: { type: "member" },
        request_id: "req-delete-connector-2",
        data: { connection_id: id, connector_id: connector2, provider: "oidc", user_id: user, status: "deleted" },
      });
      expect(events[0]?.data.reason).toBe("connector_deleted");
    }
    const [auditRecord] = await audit(`?target=${connector2}&action=connector.deleted`);
    expect(auditRecord?.data).toEqual({ connections_removed: 2 });

    await deliverAll();
    const toWorkspace = receivedBy("workspace");
    expect(toWorkspace.map((payload) => payload.data.user_id).sort()).toEqual(["cy", "eve"]);
    for (const payload of toWorkspace) {
      expect(payload).toMatchObject({
        type: "connection.deleted",
        data: { status: "deleted", reason: "connector_deleted" },
      });
    }
    expect(receivedBy("app1").map((payload) => [payload.type, payload.data.user_id])).toEqual([
      ["connection.deleted", "cy"],
    ]);
    expect(receivedBy("app2").map((payload) => [payload.type, payload.data.user_id])).toEqual([
      ["connection.deleted", "eve"],
    ]);
    receiver.received.length = 0;
  }, 60_000);

  it("deleting an app fails whole when its events cannot be written: the app and its connections stay", async () => {
    const before = await connectionIds({ appId: tenant.appId });
    await sql`create function latchkey_test_refuse() returns trigger language plpgsql as $$
      begin raise exception 'refused by test trigger'; end $$`.execute(t.deps.db);
    try {
      await sql`create trigger refuse_events before insert on events
        for each row execute function latchkey_test_refuse()`.execute(t.deps.db);
      const response = await t.call("DELETE", `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}`, {
        token: tenant.adminKey,
      });
      expect(response.status).toBe(500);
    } finally {
      await sql`drop trigger if exists refuse_events on events`.execute(t.deps.db);
      await sql`drop function if exists latchkey_test_refuse()`.execute(t.deps.db);
    }
    expect(await connectionIds({ appId: tenant.appId })).toEqual(before);
    const app = await t.deps.db.selectFrom("apps").select("id").where("id", "=", tenant.appId).executeTakeFirst();
    expect(app?.id).toBe(tenant.appId);
  }, 60_000);

  it("deleting an app: one connection.deleted per removed connection; its own webhooks go with it, the workspace's announce them", async () => {
    const removed = await connectionIds({ appId: tenant.appId });
    expect([...removed.keys()].sort()).toEqual(["ada", "bob"]);
    const response = await t.call("DELETE", `/api/workspaces/${tenant.workspaceId}/apps/${tenant.appId}`, {
      token: tenant.adminKey,
    });
    expect(response.status).toBe(204);
    expect(await connectionIds({ appId: tenant.appId })).toEqual(new Map());
    // The other app's connection is untouched.
    expect([...(await connectionIds({ appId: app2.appId })).keys()]).toEqual(["dee"]);

    for (const [user, id] of removed) {
      const events = await audit(`?target=${id}&action=connection.deleted`);
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toMatchObject({
        connection_id: id,
        app_id: tenant.appId,
        user_id: user,
        status: "deleted",
        reason: "app_deleted",
      });
    }
    const [auditRecord] = await audit(`?target=${tenant.appId}&action=app.deleted`);
    expect(auditRecord?.data).toEqual({ connections_removed: 2 });
    const remainingHooks = await t.deps.db.selectFrom("webhooks").select("id").execute();
    expect(remainingHooks.map((hook) => hook.id).sort()).toEqual([hooks.workspace.id, hooks.app2.id].sort());

    await deliverAll();
    expect(
      receivedBy("workspace")
        .map((payload) => `${payload.type} ${payload.data.user_id} ${payload.data.reason}`)
        .sort(),
    ).toEqual(["connection.deleted ada app_deleted", "connection.deleted bob app_deleted"]);
    expect(receivedBy("app1")).toEqual([]);
    expect(receivedBy("app2")).toEqual([]);
    expect(
      await t.deps.db.selectFrom("webhook_deliveries").select("id").where("state", "=", "pending").execute(),
    ).toEqual([]);
  }, 60_000);

  it("deleting an app or connector that does not exist is 404 and records nothing", async () => {
    const before = (await audit("?limit=200")).length;
    const ghosts = [
      `/api/workspaces/${tenant.workspaceId}/apps/app_doesnotexist`,
      `/api/workspaces/${tenant.workspaceId}/connectors/con_doesnotexist`,
    ];
    for (const path of ghosts) {
      const body = await json<{ error: { code: string } }>(
        await t.call("DELETE", path, { token: tenant.adminKey }),
        404,
      );
      expect(body.error.code).toBe("NOT_FOUND");
    }
    expect((await audit("?limit=200")).length).toBe(before);
  }, 60_000);
});
