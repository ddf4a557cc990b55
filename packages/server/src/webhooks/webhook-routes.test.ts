import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import {
  addMember,
  createTenantApp,
  createWorkspace,
  expectError,
  expectStatus,
  type Harness,
  type TestMember,
  type TestWorkspace,
} from "../../test/support/tenants.ts";

/** Webhooks, their deliveries and the audit log: what a refused request must leave as it was. */
async function webhookState(t: Harness): Promise<string> {
  const webhooks = await t.deps.db.selectFrom("webhooks").selectAll().orderBy("id").execute();
  const deliveries = await t.deps.db.selectFrom("webhook_deliveries").selectAll().orderBy("id").execute();
  const events = await t.deps.db.selectFrom("events").select("id").orderBy("id").execute();
  return JSON.stringify({ webhooks, deliveries, events });
}

describe("webhook routes: bad input", { timeout: 60_000 }, () => {
  let t: Harness;
  let ws: TestWorkspace;
  let other: TestWorkspace;
  let member: TestMember;
  let hookId: string;
  let foreignAppId: string;
  const valid = { url: "https://hooks.example.com/latchkey", events: ["connection.created"] };

  beforeAll(async () => {
    t = await createTestApp();
    ws = await createWorkspace(t);
    other = await createWorkspace(t);
    member = await addMember(t, ws, "member");
    foreignAppId = (await createTenantApp(t, other)).id;
    const created = await expectStatus<{ webhook: { id: string } }>(
      await t.call("POST", `/api/workspaces/${ws.id}/webhooks`, { token: ws.adminKey, body: valid }),
      201,
    );
    hookId = created.webhook.id;
  }, 60_000);
  afterAll(async () => {
    await t.close();
  });

  const hooks = () => `/api/workspaces/${ws.id}/webhooks`;

  /** Sends the request, expects the error, and checks that nothing changed. */
  async function refused(
    method: string,
    path: string,
    options: { body?: unknown; token?: string },
    status: number,
    code: string,
  ): Promise<void> {
    const before = await webhookState(t);
    await expectError(await t.call(method, path, { token: ws.adminKey, ...options }), status, code);
    expect(await webhookState(t)).toBe(before);
  }

  it.each([
    ["a missing url", { events: ["connection.created"] }],
    ["a relative url", { ...valid, url: "/hooks" }],
    ["an ftp url", { ...valid, url: "ftp://hooks.example.com/x" }],
    ["a url with credentials", { ...valid, url: "https://user:pw@hooks.example.com/x" }],
    ["a url with a fragment", { ...valid, url: "https://hooks.example.com/x#frag" }],
    ["a url with a space", { ...valid, url: "https://hooks.example.com/a b" }],
    ["a url too long", { ...valid, url: `https://hooks.example.com/${"a".repeat(2100)}` }],
    ["no events", { ...valid, events: [] }],
    ["an unknown event", { ...valid, events: ["connection.exploded"] }],
    ["a repeated event", { ...valid, events: ["connection.created", "connection.created"] }],
    ["events as a string", { ...valid, events: "connection.created" }],
    ["an unknown field", { ...valid, secret: "whsec_mine" }],
    ["a bad status", { ...valid, status: "paused" }],
    ["an app of another workspace", { ...valid, app_id: "placeholder" }],
    ["an empty app id", { ...valid, app_id: "" }],
  ])("POST with %s → 400 INVALID_REQUEST, nothing created", async (_name, body) => {
    const withApp = (body as { app_id?: string }).app_id === "placeholder" ? { ...body, app_id: foreignAppId } : body;
    await refused("POST", hooks(), { body: withApp }, 400, "INVALID_REQUEST");
  });

  it("POST with a non-JSON body → 400, with another content type → 415", async () => {
    const before = await webhookState(t);
    const notJson = await t.call("POST", hooks(), { token: ws.adminKey, body: "{not json" });
    await expectError(notJson, 400, "INVALID_REQUEST");
    const text = await t.call("POST", hooks(), {
      token: ws.adminKey,
      body: "url=x",
      headers: { "content-type": "text/plain" },
    });
    await expectError(text, 415, "UNSUPPORTED_MEDIA_TYPE");
    expect(await webhookState(t)).toBe(before);
  });

  it("refuses plain http in production", async () => {
    const production = await createTestApp({
      env: { NODE_ENV: "production", LATCHKEY_PUBLIC_URL: "https://latchkey.example.com" },
    });
    try {
      const prodWs = await createWorkspace(production);
      const answer = await production.call("POST", `/api/workspaces/${prodWs.id}/webhooks`, {
        token: prodWs.adminKey,
        body: { ...valid, url: "http://hooks.example.com/x" },
      });
      const body = await expectError(answer, 400, "INVALID_REQUEST");
      expect(body.error.message).toContain("https");
      await expectStatus(
        await production.call("POST", `/api/workspaces/${prodWs.id}/webhooks`, { token: prodWs.adminKey, body: valid }),
        201,
      );
    } finally {
      await production.close();
    }
  });

  it("members may not manage webhooks (403), other workspaces' keys get 404, no key 401", async () => {
    await refused("POST", hooks(), { body: valid, token: member.key }, 403, "FORBIDDEN");
    await refused("GET", hooks(), { token: member.key }, 403, "FORBIDDEN");
    await refused("POST", hooks(), { body: valid, token: other.adminKey }, 404, "NOT_FOUND");
    await refused("DELETE", `${hooks()}/${hookId}`, { token: other.adminKey }, 404, "NOT_FOUND");
    const before = await webhookState(t);
    await expectError(await t.call("POST", hooks(), { body: valid }), 401, "UNAUTHENTICATED");
    expect(await webhookState(t)).toBe(before);
  });

  it.each([
    ["an empty body", {}],
    ["a bad url", { url: "not a url" }],
    ["no events", { events: [] }],
    ["an unknown field", { secret: "x" }],
    ["an app of another workspace", { app_id: "placeholder" }],
  ])("PATCH with %s → 400 INVALID_REQUEST, nothing changed", async (_name, body) => {
    const withApp = (body as { app_id?: string }).app_id === "placeholder" ? { app_id: foreignAppId } : body;
    await refused("PATCH", `${hooks()}/${hookId}`, { body: withApp }, 400, "INVALID_REQUEST");
  });

  it("unknown webhook ids → 404 NOT_FOUND on every route", async () => {
    const missing = `${hooks()}/wh_missing`;
    await refused("GET", missing, {}, 404, "NOT_FOUND");
    await refused("PATCH", missing, { body: { status: "disabled" } }, 404, "NOT_FOUND");
    await refused("DELETE", missing, {}, 404, "NOT_FOUND");
    await refused("POST", `${missing}/rotate-secret`, {}, 404, "NOT_FOUND");
    await refused("GET", `${missing}/deliveries`, {}, 404, "NOT_FOUND");
    await refused("POST", `${missing}/deliveries/msg_x/redeliver`, {}, 404, "NOT_FOUND");
    await refused("POST", `${hooks()}/${hookId}/deliveries/msg_x/redeliver`, {}, 404, "NOT_FOUND");
  });

  it.each([
    ["a negative overlap", { overlap_seconds: -1 }],
    ["an overlap over 7 days", { overlap_seconds: 7 * 86_400 + 1 }],
    ["a fractional overlap", { overlap_seconds: 1.5 }],
    ["an overlap as a string", { overlap_seconds: "60" }],
    ["an unknown field", { secret: "whsec_mine" }],
  ])("rotate-secret with %s → 400 INVALID_REQUEST, the secret unchanged", async (_name, body) => {
    await refused("POST", `${hooks()}/${hookId}/rotate-secret`, { body }, 400, "INVALID_REQUEST");
  });

  it.each([["limit=0"], ["limit=201"], ["cursor=x"], ["state=lost"], ["extra=1"]])(
    "deliveries with %s → 400 INVALID_REQUEST",
    async (query) => {
      await refused("GET", `${hooks()}/${hookId}/deliveries?${query}`, {}, 400, "INVALID_REQUEST");
    },
  );

  it("a valid PATCH changes the webhook and is audited; DELETE removes it", async () => {
    const patched = await expectStatus<{ webhook: { status: string; events: string[] } }>(
      await t.call("PATCH", `${hooks()}/${hookId}`, {
        token: ws.adminKey,
        body: { status: "disabled", events: ["connection.deleted"] },
      }),
      200,
    );
    expect(patched.webhook).toMatchObject({ status: "disabled", events: ["connection.deleted"] });
    const audit = await expectStatus<{ events: { action: string }[] }>(
      await t.call("GET", `/api/workspaces/${ws.id}/audit-events?target=${hookId}`, { token: ws.adminKey }),
      200,
    );
    expect(audit.events.map((event) => event.action)).toEqual(["webhook.updated", "webhook.created"]);
    expect((await t.call("DELETE", `${hooks()}/${hookId}`, { token: ws.adminKey })).status).toBe(204);
    await expectError(await t.call("GET", `${hooks()}/${hookId}`, { token: ws.adminKey }), 404, "NOT_FOUND");
  });
});
