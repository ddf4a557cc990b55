/**
 * The demo app's own routes with bad input: they answer 4xx before reaching Latchkey (which the
 * browser test covers end to end), and serve only the SDK's own modules.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDemoAppRoutes, userIdFor } from "./server.ts";

describe("the calendar demo app's routes", () => {
  const app = createDemoAppRoutes();

  beforeAll(() => {
    // Nothing listens here: a request that reached Latchkey would fail with a 5xx, not a 4xx.
    vi.stubEnv("LATCHKEY_URL", "http://127.0.0.1:9");
    vi.stubEnv("LATCHKEY_APP_ID", "app_demo");
    vi.stubEnv("LATCHKEY_SERVICE_KEY", "lk_svc_not_a_real_key");
    vi.stubEnv("CALENDAR_CONNECTOR_ID", "con_demo");
    vi.stubEnv("CALENDAR_EVENTS_URL", "http://127.0.0.1:9/calendar/events");
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  const signIn = (body: string) =>
    app.request("/api/sign-in", { method: "POST", headers: { "content-type": "application/json" }, body });

  it.each([
    ["no body", ""],
    ["not JSON", "name=ada"],
    ["no name", "{}"],
    ["a name that is not a string", '{"name": 42}'],
    ["an empty name", '{"name": "   "}'],
    ["a name without a letter or digit", '{"name": "!!!"}'],
    ["a name over 40 characters", JSON.stringify({ name: "a".repeat(41) })],
  ])("refuses a sign-in with %s (400 INVALID_REQUEST)", async (_case, body) => {
    const response = await signIn(body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "INVALID_REQUEST" } });
  });

  it("turns a name into the app user's id", () => {
    expect(userIdFor("Ada Lovelace")).toBe("ada-lovelace");
    expect(userIdFor("  José  Ñandú ")).toBe("jose-nandu");
    expect(userIdFor("!!!")).toBe("");
  });

  it("answers the events function without a user token with 401 MISSING_USER_TOKEN", async () => {
    const response = await app.request("/api/events");
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: "MISSING_USER_TOKEN" } });
  });

  it("serves the SDK's modules as JavaScript, and nothing else under /sdk/", async () => {
    const index = await app.request("/sdk/index.js");
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toContain("text/javascript");
    const source = await index.text();
    expect(source).toContain('from "./client.js"');
    expect(source).not.toContain(".ts");

    for (const name of ["nothing.js", "index.ts", "..%2Fpackage.json", "client.test.js", "%2e%2e%2findex.js"]) {
      expect((await app.request(`/sdk/${name}`)).status, name).toBe(404);
    }
  });

  it("hands the page only public settings", async () => {
    const config = await (await app.request("/api/config")).json();
    expect(config).toEqual({ latchkeyUrl: "http://127.0.0.1:9", appId: "app_demo", connectorId: "con_demo" });
  });
});
