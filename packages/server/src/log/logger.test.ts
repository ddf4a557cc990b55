import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { readJson } from "../http/read-json.ts";
import { createTestApp, LogCapture } from "../../test/support/test-app.ts";
import { createLogger, isSecretKey } from "./logger.ts";
import { requestLog } from "../http/request-context.ts";

/** Creating a test database can take seconds on a busy machine. */
const databaseSetupMs = 60_000;

const planted = () => `planted${randomBytes(12).toString("hex")}`;

describe("log redaction of a whole request", () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  const secrets = {
    authorization: planted(),
    onBehalfOf: planted(),
    cookie: planted(),
    code: planted(),
    state: planted(),
    clientSecret: planted(),
    accessToken: planted(),
    refreshToken: planted(),
    nestedToken: planted(),
    serviceKey: `lk_svc_${planted()}`,
  };

  beforeAll(async () => {
    t = await createTestApp();
    // A careless route: it logs everything it was sent.
    t.routes.mount("POST", "/api/test/log-everything", [], async (c) => {
      const body = await readJson(c, z.record(z.string(), z.unknown()));
      requestLog(c).info(
        { headers: c.req.header(), query: c.req.query(), url: c.req.url, body },
        "test route saw request",
      );
      requestLog(c).warn(`upstream call failed for ${c.req.url} with ${c.req.header("authorization") ?? ""}`);
      return c.json({ ok: true });
    });
    const res = await t.call("POST", `/api/test/log-everything?code=${secrets.code}&state=${secrets.state}&page=2`, {
      token: secrets.authorization,
      headers: {
        "on-behalf-of": `Bearer ${secrets.onBehalfOf}`,
        cookie: `session=${secrets.cookie}`,
        "x-request-id": "redaction-1",
      },
      body: {
        name: "visible-name",
        client_secret: secrets.clientSecret,
        access_token: secrets.accessToken,
        refresh_token: secrets.refreshToken,
        provider_response: { body: { tokens: { id_token: secrets.nestedToken } }, status: 400 },
        note: `use ${secrets.serviceKey} here`,
      },
    });
    expect(res.status).toBe(200);
  }, databaseSetupMs);
  afterAll(async () => {
    await t.close();
  }, databaseSetupMs);

  it("writes none of the planted secrets to any log line", () => {
    for (const [name, value] of Object.entries(secrets)) {
      expect(t.logs.text, name).not.toContain(value);
    }
    expect(t.logs.text).not.toMatch(/planted[0-9a-f]{24}/);
  });

  it("still logs the request line and the route's non-secret fields", () => {
    const entries = t.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requestLine = entries.find((entry) => entry.msg === "request" && entry.request_id === "redaction-1");
    expect(requestLine).toMatchObject({ method: "POST", path: "/api/test/log-everything", status: 200 });

    const routeLine = entries.find((entry) => entry.msg === "test route saw request") as {
      headers: Record<string, string>;
      query: Record<string, string>;
      url: string;
      body: Record<string, unknown>;
    };
    expect(routeLine.body.name).toBe("visible-name");
    expect(routeLine.body.client_secret).toBe("[redacted]");
    expect(routeLine.headers.authorization).toBe("[redacted]");
    expect(routeLine.headers["on-behalf-of"]).toBe("[redacted]");
    expect(routeLine.headers.cookie).toBe("[redacted]");
    expect(routeLine.query).toEqual({ code: "[redacted]", state: "[redacted]", page: "2" });
    expect(routeLine.url).toBe("http://localhost/api/test/log-everything?code=[redacted]&state=[redacted]&page=2");
    expect(routeLine.body.provider_response).toEqual({ body: { tokens: "[redacted]" }, status: 400 });
  });
});

describe("logger", () => {
  function capture() {
    const logs = new LogCapture();
    return { logs, log: createLogger({ level: "info", destination: logs }) };
  }

  it("keeps an error's errno code, which is not a secret", () => {
    const { logs, log } = capture();
    log.error({ err: Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" }) }, "database down");
    const entry = JSON.parse(logs.lines[0] ?? "{}") as { err: { code: string; message: string } };
    expect(entry.err).toMatchObject({ code: "ECONNREFUSED", message: "connect failed" });
  });

  it("scrubs bearer credentials and Latchkey keys out of error messages and stacks", () => {
    const { logs, log } = capture();
    const token = planted();
    const key = `lk_admin_${planted()}`;
    log.error({ err: new Error(`provider said no to Bearer ${token} (key ${key})`) }, "refresh failed");
    expect(logs.text).not.toContain(token);
    expect(logs.text).not.toContain(key);
    expect(logs.text).toContain("Bearer [redacted]");
  });

  it("censors secret-named fields at any depth, in any casing, but keeps numbers and booleans", () => {
    const { logs, log } = capture();
    const secret = planted();
    log.info({
      a: { b: { c: { clientSecret: secret, "Refresh-Token": secret, has_refresh_token: true, code: 400 } } },
    });
    expect(logs.text).not.toContain(secret);
    expect(JSON.parse(logs.lines[0] ?? "{}")).toMatchObject({
      a: {
        b: { c: { clientSecret: "[redacted]", "Refresh-Token": "[redacted]", has_refresh_token: true, code: 400 } },
      },
    });
  });

  it("does not change the object the caller logged", () => {
    const { log } = capture();
    const logged = { body: { access_token: "kept-for-the-caller" } };
    log.info(logged, "x");
    expect(logged.body.access_token).toBe("kept-for-the-caller");
  });

  it("recognises secret field names and leaves ordinary ones", () => {
    for (const key of [
      "access_token",
      "refreshToken",
      "client_secret",
      "code_verifier",
      "state",
      "on-behalf-of",
      "password",
    ]) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of ["token_type", "expires_at", "status", "request_id", "provider", "scopes", "name"]) {
      expect(isSecretKey(key), key).toBe(false);
    }
  });
});
