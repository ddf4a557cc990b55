import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import {
  addMember,
  createTenantApp,
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  type Harness,
  type TestWorkspace,
  validAppBody,
} from "../../test/support/tenants.ts";
import { hashPassword, needsRehash, verifyPassword } from "./passwords.ts";
import { issueSetupLink } from "./setup-links.ts";

const password = "a long enough passphrase";

interface SessionAnswer {
  csrf_token: string;
  member: { id: string; role: string };
  session: { id: string };
}

describe("console sign-in and sessions", { timeout: 30_000 }, () => {
  let t: Harness;
  beforeAll(async () => {
    t = await createTestApp();
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  const tokenOf = (url: string) => new URL(url).hash.replace("#token=", "");
  const cookieOf = (response: Response) => (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";

  /** A member with a password set through a setup link; returns their session cookie and CSRF token. */
  async function signedIn(ws: TestWorkspace, memberId = ws.adminMemberId) {
    const link = await issueSetupLink(t.deps, { workspaceId: ws.id, memberId });
    const response = await t.call("POST", "/api/console/setup", { body: { token: tokenOf(link.setupUrl), password } });
    const body = await expectStatus<SessionAnswer>(response, 200);
    return { cookie: cookieOf(response), csrf: body.csrf_token, body };
  }

  it("hashes passwords with scrypt and compares them in constant time", async () => {
    const hash = await hashPassword(password);
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword(password, hash)).toBe(true);
    expect(await verifyPassword(`${password}!`, hash)).toBe(false);
    expect(await verifyPassword(password, "scrypt$1$1$1$x$y")).toBe(false);
    expect(await verifyPassword(password, "not a hash")).toBe(false);
    expect(needsRehash(await hashPassword(password, { N: 1024, r: 8, p: 1 }))).toBe(true);
  });

  it("sets the session cookie HttpOnly, SameSite=Lax; signs in by password; signs out", async () => {
    const ws = await createWorkspace(t);
    const { cookie } = await signedIn(ws);
    const email = (
      await t.deps.db.selectFrom("members").select("email").where("id", "=", ws.adminMemberId).executeTakeFirstOrThrow()
    ).email;
    const response = await t.call("POST", "/api/console/sign-in", { body: { email, password } });
    const body = await expectStatus<SessionAnswer>(response, 200);
    const setCookie = response.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/); // http public URL in tests; Secure behind https
    // The sign-in is audited with the member and the request, never the password.
    const audited = await t.deps.db
      .selectFrom("events")
      .selectAll()
      .where("workspace_id", "=", ws.id)
      .where("action", "=", "console.signed_in")
      .execute();
    expect(audited.map((event) => [event.actor, event.request_id !== null])).toEqual([
      [{ type: "member", id: ws.adminMemberId, email }, true],
    ]);
    expect(JSON.stringify(audited)).not.toContain(password);
    const session = cookieOf(response);
    expect((await t.call("GET", "/api/console/session", { headers: { cookie: session } })).status).toBe(200);
    const out = await t.call("POST", "/api/console/sign-out", {
      headers: { cookie: session, "x-csrf-token": body.csrf_token },
    });
    expect(out.status).toBe(204);
    await expectError(
      await t.call("GET", "/api/console/session", { headers: { cookie: session } }),
      401,
      "UNAUTHENTICATED",
    );
    // The setup session is another session: still live until revoked.
    expect((await t.call("GET", "/api/console/session", { headers: { cookie } })).status).toBe(200);
  });

  it("refuses a wrong password, an unknown email and a used setup link alike", async () => {
    const ws = await createWorkspace(t);
    const link = await issueSetupLink(t.deps, { workspaceId: ws.id, memberId: ws.adminMemberId });
    const token = tokenOf(link.setupUrl);
    expect((await t.call("POST", "/api/console/setup", { body: { token, password } })).status).toBe(200);
    await expectError(
      await t.call("POST", "/api/console/setup", { body: { token, password } }),
      400,
      "INVALID_REQUEST",
    );
    const wrong = await t.call("POST", "/api/console/sign-in", { body: { email: "nobody@example.com", password } });
    const error = await expectError(wrong, 401, "UNAUTHENTICATED");
    expect(error.error.message).toBe("Invalid email or password");
  });

  describe("bad input gets a 4xx with a stable code and changes nothing", () => {
    const cases: [string, string, unknown, number, string][] = [
      ["sign-in without a password", "/api/console/sign-in", { email: "a@b.co" }, 400, "INVALID_REQUEST"],
      ["sign-in with a malformed email", "/api/console/sign-in", { email: "nope", password }, 400, "INVALID_REQUEST"],
      [
        "sign-in with an unknown field",
        "/api/console/sign-in",
        { email: "a@b.co", password, admin: true },
        400,
        "INVALID_REQUEST",
      ],
      [
        "sign-in with a password over 1024 characters",
        "/api/console/sign-in",
        { email: "a@b.co", password: "x".repeat(1025) },
        400,
        "INVALID_REQUEST",
      ],
      [
        "setup with a short password",
        "/api/console/setup",
        { token: "t".repeat(43), password: "short" },
        400,
        "INVALID_REQUEST",
      ],
      [
        "setup with an unknown token",
        "/api/console/setup",
        { token: "t".repeat(43), password },
        400,
        "INVALID_REQUEST",
      ],
      ["setup without a token", "/api/console/setup", { password }, 400, "INVALID_REQUEST"],
      ["setup with a body that is not JSON", "/api/console/setup", "token=x", 400, "INVALID_REQUEST"],
    ];
    for (const [name, path, body, status, code] of cases) {
      it(name, async () => {
        await expectError(await expectNoChange(t, () => t.call("POST", path, { body })), status, code);
      });
    }

    it("a form post (not JSON) to sign-in", async () => {
      const response = await t.call("POST", "/api/console/sign-in", {
        body: "email=a%40b.co&password=x",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      await expectError(response, 415, "UNSUPPORTED_MEDIA_TYPE");
    });

    it("sign-in from another origin", async () => {
      const response = await t.call("POST", "/api/console/sign-in", {
        body: { email: "a@b.co", password },
        headers: { origin: "https://evil.example" },
      });
      await expectError(response, 403, "FORBIDDEN");
    });
  });

  it("rate-limits sign-in per address and per email", async () => {
    const limited = await createTestApp({ env: { LATCHKEY_RATE_LIMIT_SIGN_IN_PER_MINUTE: "4" } });
    try {
      const attempt = (email: string) => limited.call("POST", "/api/console/sign-in", { body: { email, password } });
      const sameEmail = [await attempt("a@x.co"), await attempt("a@x.co"), await attempt("a@x.co")];
      expect(sameEmail.map((r) => r.status)).toEqual([401, 401, 429]);
      expect(sameEmail[2]?.headers.get("retry-after")).toBeTruthy();
      await expectError(await attempt("b@x.co"), 401, "UNAUTHENTICATED");
      await expectError(await attempt("c@x.co"), 429, "RATE_LIMITED");
    } finally {
      await limited.close();
    }
  });

  it("checks the CSRF token on every state-changing request made with the cookie", async () => {
    const ws = await createWorkspace(t);
    const { cookie, csrf } = await signedIn(ws);
    const apps = `/api/workspaces/${ws.id}/apps`;
    const body = validAppBody;
    const noToken = await expectNoChange(t, () => t.call("POST", apps, { body, headers: { cookie } }));
    expect((await expectError(noToken, 403, "FORBIDDEN")).error.details).toEqual({ reason: "csrf" });
    await expectError(
      await t.call("POST", apps, { body, headers: { cookie, "x-csrf-token": "x".repeat(43) } }),
      403,
      "FORBIDDEN",
    );
    expect((await t.call("GET", apps, { headers: { cookie } })).status).toBe(200);
    expect((await t.call("POST", apps, { body, headers: { cookie, "x-csrf-token": csrf } })).status).toBe(201);
  });

  it("keeps members out of admin routes and sessions out of other workspaces", async () => {
    const ws = await createWorkspace(t);
    const other = await createWorkspace(t);
    const member = await addMember(t, ws, "member");
    const { cookie, csrf } = await signedIn(ws, member.id);
    const headers = { cookie, "x-csrf-token": csrf };
    await expectError(
      await t.call("POST", `/api/workspaces/${ws.id}/invitations`, {
        body: { email: "x@y.co", role: "admin" },
        headers,
      }),
      403,
      "FORBIDDEN",
    );
    expect((await t.call("GET", `/api/workspaces/${ws.id}/connectors`, { headers })).status).toBe(200);
    await expectError(await t.call("GET", `/api/workspaces/${other.id}/connectors`, { headers }), 404, "NOT_FOUND");
  });

  it("invites a member with a one-time link, and lists and revokes sessions", async () => {
    const ws = await createWorkspace(t);
    const admin = await signedIn(ws);
    const headers = { cookie: admin.cookie, "x-csrf-token": admin.csrf };
    const invited = await expectStatus<{ setup_url: string; member: { id: string; role: string } }>(
      await t.call("POST", `/api/workspaces/${ws.id}/invitations`, {
        body: { email: "new@acme.test", role: "member" },
        headers,
      }),
      201,
    );
    expect(invited.setup_url).toMatch(/\/console\/setup#token=/);
    await expectError(
      await t.call("POST", `/api/workspaces/${ws.id}/invitations`, {
        body: { email: "new@acme.test", role: "member" },
        headers,
      }),
      409,
      "CONFLICT",
    );
    await expectError(
      await t.call("POST", `/api/workspaces/${ws.id}/invitations`, {
        body: { email: "new@acme.test", role: "owner" },
        headers,
      }),
      400,
      "INVALID_REQUEST",
    );
    const joined = await t.call("POST", "/api/console/setup", {
      body: { token: tokenOf(invited.setup_url), password },
    });
    expect((await expectStatus<SessionAnswer>(joined, 200)).member.role).toBe("member");

    const listed = await expectStatus<{ sessions: { id: string; current: boolean }[] }>(
      await t.call("GET", "/api/console/sessions", { headers }),
      200,
    );
    expect(listed.sessions.filter((s) => s.current)).toHaveLength(1);
    await expectError(await t.call("DELETE", "/api/console/sessions/ses_nope", { headers }), 404, "NOT_FOUND");
    await expectError(
      await t.call("DELETE", `/api/console/sessions/${admin.body.session.id}`, { headers: { cookie: admin.cookie } }),
      403,
      "FORBIDDEN",
    );
    expect((await t.call("DELETE", `/api/console/sessions/${admin.body.session.id}`, { headers })).status).toBe(204);
    await expectError(await t.call("GET", "/api/console/session", { headers }), 401, "UNAUTHENTICATED");
  });

  it("says why an app refuses a user token", async () => {
    const ws = await createWorkspace(t);
    const app = await createTenantApp(t, ws);
    const path = `/api/workspaces/${ws.id}/apps/${app.id}/test-token`;
    const refused = await expectStatus<{ valid: boolean; code: string; reason: string }>(
      await t.call("POST", path, { token: ws.adminKey, body: { token: "not-a-jwt" } }),
      200,
    );
    expect(refused).toMatchObject({ valid: false, code: "INVALID_USER_TOKEN" });
    expect(refused.reason).toMatch(/malformed/);
    await expectError(await t.call("POST", path, { token: ws.adminKey, body: {} }), 400, "INVALID_REQUEST");
    await expectError(
      await t.call("POST", `/api/workspaces/${ws.id}/apps/app_nope/test-token`, {
        token: ws.adminKey,
        body: { token: "x" },
      }),
      404,
      "NOT_FOUND",
    );
  });
});
