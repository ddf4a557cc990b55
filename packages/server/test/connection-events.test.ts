import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventActor } from "../src/db/schema.ts";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { createTestApp, TestClock, testOperatorKey } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  callback,
  connectUser,
  createTenant,
  initiate,
  json,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";

const accessTokenTtlSeconds = 3600;
const intoRefreshWindowMs = (accessTokenTtlSeconds - 60) * 1000;

interface AuditEvent {
  id: string;
  type: "connection" | "admin";
  action: string;
  actor: EventActor;
  target: string;
  app_id: string | null;
  data: Record<string, unknown>;
  request_id: string | null;
  created_at: string;
}
interface AuditPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

describe(`connection events and the audit log (${testDbKind()})`, () => {
  const clock = new TestClock();
  let harness: AuthorizationServer;
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let tenant: Tenant;
  /** Every key, secret and token seen: none may appear in an audit answer. */
  const secrets = new Set<string>();

  beforeAll(async () => {
    harness = await startAuthorizationServer({ accessTokenTtlSeconds });
    t = await createTestApp({ clock });
    tenant = await createTenant(t, harness);
    for (const value of [tenant.serviceKey, tenant.adminKey, tenant.clientSecret]) secrets.add(value);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await harness?.close();
  });

  const audit = (query = "", token = tenant.adminKey) =>
    t.call("GET", `/api/workspaces/${tenant.workspaceId}/audit-events${query}`, { token });

  async function connect(userId: string, login: string): Promise<void> {
    const token = await userToken(t, tenant, userId);
    secrets.add(token);
    const back = await connectUser(t, harness, tenant, token, login, secrets);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    const answer = await json<{ access_token: string }>(
      await t.call(
        "GET",
        `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${userId}/token`,
        { token: tenant.serviceKey },
      ),
      200,
    );
    secrets.add(answer.access_token);
  }

  async function connectionIdOf(userId: string): Promise<string> {
    const row = await t.deps.db
      .selectFrom("connections")
      .select("id")
      .where("app_id", "=", tenant.appId)
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async function eventsOf(target: string): Promise<AuditEvent[]> {
    const page = await json<AuditPage>(await audit(`?target=${target}`), 200);
    return page.events;
  }

  it("records created, updated (reconnect), refreshed, needs_reauth and deleted, newest first, with the webhook data shape", async () => {
    await connect("erin", "erin-login");
    const id = await connectionIdOf("erin");
    await connect("erin", "erin-login");
    clock.advance(intoRefreshWindowMs);
    await json(
      await t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/erin/token`, {
        token: tenant.serviceKey,
      }),
      200,
    );
    await harness.revokeGrantsOf("erin-login");
    clock.advance(intoRefreshWindowMs);
    await json(
      await t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/erin/token`, {
        token: tenant.serviceKey,
      }),
      409,
    );
    const token = await userToken(t, tenant, "erin");
    const removed = await t.call("DELETE", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}`, {
      token,
      headers: { "x-request-id": "req-disconnect-erin-1" },
    });
    expect(removed.status).toBe(204);

    const events = await eventsOf(id);
    expect(events.map((event) => event.action)).toEqual([
      // The grant was already revoked at the provider: RFC 7009 still answers 200 for an unknown token.
      "connection.revoked",
      "connection.deleted",
      "connection.needs_reauth",
      "connection.refreshed",
      "connection.updated",
      "connection.created",
    ]);
    const base = {
      connection_id: id,
      app_id: tenant.appId,
      connector_id: tenant.connectorId,
      provider: "oidc",
      owner_type: "user",
      user_id: "erin",
    };
    const byAction = new Map(events.map((event) => [event.action, event]));
    expect(byAction.get("connection.created")?.data).toEqual({ ...base, status: "active" });
    expect(byAction.get("connection.created")?.actor).toEqual({ type: "app_user", id: "erin" });
    expect(byAction.get("connection.created")?.request_id).toEqual(expect.any(String));
    expect(byAction.get("connection.needs_reauth")?.data).toEqual({
      ...base,
      status: "needs_reauth",
      reason: "invalid_grant",
    });
    expect(byAction.get("connection.refreshed")?.actor).toEqual({ type: "system" });
    const deleted = byAction.get("connection.deleted");
    expect(deleted?.data).toEqual({ ...base, status: "deleted", reason: "disconnected" });
    expect(deleted?.request_id).toBe("req-disconnect-erin-1");
    for (const event of events) {
      expect(event).toMatchObject({ type: "connection", target: id, app_id: tenant.appId });
    }
  }, 60_000);

  it("writes no event when the change fails, and no change when the event cannot be written (one transaction)", async () => {
    const countEvents = async () =>
      Number(
        (
          await t.deps.db
            .selectFrom("events")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const countConnections = async () =>
      Number(
        (
          await t.deps.db
            .selectFrom("connections")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .where("user_id", "=", "frank")
            .executeTakeFirstOrThrow()
        ).n,
      );
    await sql`create function latchkey_test_refuse() returns trigger language plpgsql as $$
      begin raise exception 'refused by test trigger'; end $$`.execute(t.deps.db);
    const attempt = async () => {
      const token = await userToken(t, tenant, "frank");
      const redirect = await harness.authorize(await initiate(t, tenant, token), { login: "frank-login" });
      return callback(t, redirect);
    };
    // The state is spent either way: the user goes back to the app with server_error, never a 500 page.
    const expectServerError = (response: Response) => {
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location") ?? "");
      expect(location.searchParams.get("latchkey_status")).toBe("error");
      expect(location.searchParams.get("latchkey_error")).toBe("server_error");
    };
    try {
      // The change fails: no connection, and no event either.
      await sql`create trigger refuse_connections before insert on connections
        for each row execute function latchkey_test_refuse()`.execute(t.deps.db);
      let before = await countEvents();
      expectServerError(await attempt());
      expect(await countEvents()).toBe(before);
      await sql`drop trigger refuse_connections on connections`.execute(t.deps.db);

      // The event cannot be written: the connection is not saved either.
      await sql`create trigger refuse_events before insert on events
        for each row execute function latchkey_test_refuse()`.execute(t.deps.db);
      before = await countEvents();
      expectServerError(await attempt());
      expect(await countConnections()).toBe(0);
      expect(await countEvents()).toBe(before);
    } finally {
      await sql`drop trigger if exists refuse_connections on connections`.execute(t.deps.db);
      await sql`drop trigger if exists refuse_events on events`.execute(t.deps.db);
      await sql`drop function if exists latchkey_test_refuse()`.execute(t.deps.db);
    }
    // With the triggers gone the same flow works and records exactly one event.
    const before = await countEvents();
    await connect("frank", "frank-login");
    expect(await countConnections()).toBe(1);
    expect(await countEvents()).toBe(before + 1);
  }, 60_000);

  it("records admin actions with actor, target and request id", async () => {
    const created = await json<{ app: { id: string }; service_key: string }>(
      await t.call("POST", `/api/workspaces/${tenant.workspaceId}/apps`, {
        token: tenant.adminKey,
        headers: { "x-request-id": "req-create-app-1" },
        body: { name: "Audited", allowed_return_origins: ["https://a.example.test"], identity: { type: "latchkey" } },
      }),
      201,
    );
    secrets.add(created.service_key);
    const members = await json<{ members: { id: string; email: string; role: string }[] }>(
      await t.call("GET", `/api/workspaces/${tenant.workspaceId}/members`, { token: tenant.adminKey }),
      200,
    );
    const admin = members.members.find((member) => member.role === "admin");
    const events = await eventsOf(created.app.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: "admin",
      action: "app.created",
      target: created.app.id,
      app_id: created.app.id,
      request_id: "req-create-app-1",
      actor: { type: "member", id: admin?.id, email: admin?.email },
    });
    const workspace = await eventsOf(tenant.workspaceId);
    expect(workspace.map((event) => event.action)).toEqual(["workspace.created"]);
    expect(workspace[0]?.actor).toEqual({ type: "operator" });
    const connector = await eventsOf(tenant.connectorId);
    expect(connector.map((event) => event.action)).toEqual(["connector.created"]);
  });

  it("pages newest first through every event with the cursor, and filters by action and app", async () => {
    const all: AuditEvent[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const page: AuditPage = await json<AuditPage>(
        await audit(`?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`),
        200,
      );
      expect(page.events.length).toBeLessThanOrEqual(2);
      all.push(...page.events);
      cursor = page.next_cursor;
      if (cursor === null) break;
    }
    const total = await t.deps.db
      .selectFrom("events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("workspace_id", "=", tenant.workspaceId)
      .executeTakeFirstOrThrow();
    expect(all).toHaveLength(Number(total.n));
    expect(new Set(all.map((event) => event.id)).size).toBe(all.length);
    expect(all.at(-1)?.action).toBe("workspace.created");
    const times = all.map((event) => Date.parse(event.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const created = await json<AuditPage>(await audit("?action=connection.created"), 200);
    expect(created.events.length).toBeGreaterThan(0);
    expect(created.events.every((event) => event.action === "connection.created")).toBe(true);
    const ofApp = await json<AuditPage>(await audit(`?app_id=${tenant.appId}`), 200);
    expect(ofApp.events.length).toBeGreaterThan(0);
    expect(ofApp.events.every((event) => event.app_id === tenant.appId)).toBe(true);
  });

  it("never answers a secret: no key, client secret, token or code appears in any page", async () => {
    const text = await (await audit("?limit=200")).text();
    expect(text.length).toBeGreaterThan(100);
    for (const secret of secrets) if (secret.length >= 8) expect(text).not.toContain(secret);
  });

  it("is readable by members, not by other workspaces or without a key", async () => {
    const member = await json<{ api_key: string }>(
      await t.call("POST", `/api/workspaces/${tenant.workspaceId}/members`, {
        token: tenant.adminKey,
        body: { email: "reader@example.test", role: "member" },
      }),
      201,
    );
    expect((await audit("", member.api_key)).status).toBe(200);
    const other = await json<{ admin_api_key: string }>(
      await t.call("POST", "/api/operator/workspaces", {
        token: testOperatorKey,
        body: { name: "Other", plan: "builder", admin_email: "other@example.test" },
      }),
      201,
    );
    const foreign = await json<{ error: { code: string } }>(await audit("", other.admin_api_key), 404);
    expect(foreign.error.code).toBe("NOT_FOUND");
    const anonymous = await json<{ error: { code: string } }>(
      await t.call("GET", `/api/workspaces/${tenant.workspaceId}/audit-events`),
      401,
    );
    expect(anonymous.error.code).toBe("UNAUTHENTICATED");
  });

  it.each([
    ["limit=0"],
    ["limit=201"],
    ["limit=abc"],
    ["cursor=abc"],
    ["cursor=-1"],
    ["cursor=0"],
    ["action=DROP TABLE"],
    ["target="],
    ["unknown=1"],
  ])("answers 400 INVALID_REQUEST for the bad query %s", async (query) => {
    const body = await json<{ error: { code: string } }>(await audit(`?${query}`), 400);
    expect(body.error.code).toBe("INVALID_REQUEST");
  });
});
