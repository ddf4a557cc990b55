import type { App, CreateAppResponse, ServiceKeyInfo } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../test/support/test-app.ts";
import { serviceKeyAuth } from "../access/auth.ts";
import {
  addMember,
  createTenantApp,
  createWorkspace,
  expectError,
  expectNoChange,
  expectStatus,
  hs256Secret,
  validAppBody,
  type Harness,
  type TestWorkspace,
} from "../../test/support/tenants.ts";

describe("workspace apps", { timeout: 30_000 }, () => {
  let t: Harness;
  beforeAll(async () => {
    t = await createTestApp();
    // A stand-in for the service routes other features mount: proves a key authenticates its app.
    t.routes.mount("GET", "/probe/apps/:appId", [serviceKeyAuth(t.deps)], (c) =>
      c.json({ app_id: c.get("serviceApp").app.id }),
    );
  }, 60_000);
  afterAll(async () => {
    await t.close();
  }, 60_000);

  const appsPath = (ws: TestWorkspace) => `/api/workspaces/${ws.id}/apps`;

  async function appRow(appId: string) {
    return t.deps.db.selectFrom("apps").selectAll().where("id", "=", appId).executeTakeFirstOrThrow();
  }

  function decryptIdentitySecret(appId: string, ciphertext: string | null): string {
    return t.deps.vault.decrypt(ciphertext ?? "", { table: "apps", column: "identity_secret", rowId: appId });
  }

  describe("POST apps", () => {
    it("creates an app with a service key that authenticates the app right away", async () => {
      const ws = await createWorkspace(t);
      const response = await t.call("POST", appsPath(ws), { token: ws.adminKey, body: validAppBody });
      const body = await expectStatus<CreateAppResponse>(response, 201);
      expect(body.app).toMatchObject({
        workspace_id: ws.id,
        name: "Support desk",
        allowed_return_origins: ["https://app.example.com"],
        identity: { type: "jwks", issuer: "https://auth.example.com/", audience: "support-desk" },
      });
      expect(body.service_key).toMatch(/^lk_svc_/);
      expect(body.key).toMatchObject({ app_id: body.app.id, revoked_at: null });

      const probe = await t.call("GET", `/probe/apps/${body.app.id}`, { token: body.service_key });
      expect(await expectStatus(probe, 200)).toEqual({ app_id: body.app.id });
      const row = await appRow(body.app.id);
      expect(row).toMatchObject({ identity_type: "jwks", identity_secret: null });
      expect(row.identity_config).toEqual({ issuer: "https://auth.example.com/", audience: "support-desk" });
      expect(t.logs.text).not.toContain(body.service_key);
    });

    it("normalizes origins and removes duplicates", async () => {
      const ws = await createWorkspace(t);
      const origins = ["HTTPS://App.Example.com:443/", "https://app.example.com", "http://localhost:3000"];
      const response = await t.call("POST", appsPath(ws), {
        token: ws.adminKey,
        body: { ...validAppBody, allowed_return_origins: origins },
      });
      const body = await expectStatus<CreateAppResponse>(response, 201);
      expect(body.app.allowed_return_origins).toEqual(["https://app.example.com", "http://localhost:3000"]);
      expect((await appRow(body.app.id)).allowed_return_origins).toEqual(body.app.allowed_return_origins);
    });

    it("stores an hs256 secret encrypted and never returns it", async () => {
      const ws = await createWorkspace(t);
      const identity = { type: "hs256", secret: hs256Secret, issuer: "my-backend", audience: "latchkey" };
      const response = await t.call("POST", appsPath(ws), { token: ws.adminKey, body: { ...validAppBody, identity } });
      const body = await expectStatus<CreateAppResponse>(response, 201);
      expect(body.app.identity).toEqual({ type: "hs256", issuer: "my-backend", audience: "latchkey" });
      const row = await appRow(body.app.id);
      expect(row.identity_secret).not.toContain(hs256Secret);
      expect(decryptIdentitySecret(body.app.id, row.identity_secret)).toBe(hs256Secret);
      expect(JSON.stringify(row.identity_config)).not.toContain(hs256Secret);

      const list = await t.call("GET", appsPath(ws), { token: ws.adminKey });
      const got = await t.call("GET", `${appsPath(ws)}/${body.app.id}`, { token: ws.adminKey });
      for (const text of [JSON.stringify(body), await list.text(), await got.text(), t.logs.text]) {
        expect(text).not.toContain(hs256Secret);
        expect(text).not.toContain(row.identity_secret ?? "unset");
      }
    });

    it("gives a latchkey app a fresh random 32-byte signing secret", async () => {
      const ws = await createWorkspace(t);
      const first = await createTenantApp(t, ws, { ...validAppBody, identity: { type: "latchkey" } });
      const second = await createTenantApp(t, ws, { ...validAppBody, identity: { type: "latchkey" } });
      const firstSecret = decryptIdentitySecret(first.id, (await appRow(first.id)).identity_secret);
      const secondSecret = decryptIdentitySecret(second.id, (await appRow(second.id)).identity_secret);
      expect(Buffer.from(firstSecret, "base64url")).toHaveLength(32);
      expect(firstSecret).not.toBe(secondSecret);
      const got = await t.call("GET", `${appsPath(ws)}/${first.id}`, { token: ws.adminKey });
      expect((await expectStatus<{ app: App }>(got, 200)).app.identity).toEqual({ type: "latchkey" });
      expect(t.logs.text).not.toContain(firstSecret);
    });

    it("accepts http identity URLs on loopback hosts", async () => {
      const ws = await createWorkspace(t);
      const identity = {
        type: "jwks",
        issuer: "http://localhost:8080/realms/dev",
        jwks_url: "http://127.0.0.1:8080/certs",
      };
      await expectStatus(
        await t.call("POST", appsPath(ws), { token: ws.adminKey, body: { ...validAppBody, identity } }),
        201,
      );
    });

    const origins = (count: number) => Array.from({ length: count }, (_, i) => `https://app${i}.example.com`);
    it.each([
      ["a missing name", { allowed_return_origins: ["https://a.example"], identity: { type: "latchkey" } }],
      ["an empty name", { ...validAppBody, name: " " }],
      ["a numeric name", { ...validAppBody, name: 1 }],
      ["missing origins", { name: "x", identity: { type: "latchkey" } }],
      ["no origins", { ...validAppBody, allowed_return_origins: [] }],
      ["51 origins", { ...validAppBody, allowed_return_origins: origins(51) }],
      ["origins as a string", { ...validAppBody, allowed_return_origins: "https://app.example.com" }],
      ["an origin with a path", { ...validAppBody, allowed_return_origins: ["https://app.example.com/callback"] }],
      ["an origin with a query", { ...validAppBody, allowed_return_origins: ["https://app.example.com/?a=1"] }],
      ["an origin with a fragment", { ...validAppBody, allowed_return_origins: ["https://app.example.com#x"] }],
      ["an origin with userinfo", { ...validAppBody, allowed_return_origins: ["https://u:p@app.example.com"] }],
      ["a wildcard origin", { ...validAppBody, allowed_return_origins: ["https://*.example.com"] }],
      ["a javascript: origin", { ...validAppBody, allowed_return_origins: ["javascript:alert(1)"] }],
      ["an ftp origin", { ...validAppBody, allowed_return_origins: ["ftp://files.example.com"] }],
      ["a missing identity", { name: "x", allowed_return_origins: ["https://a.example"] }],
      ["an unknown identity type", { ...validAppBody, identity: { type: "saml" } }],
      ["an identity that is a string", { ...validAppBody, identity: "jwks" }],
      ["jwks without issuer", { ...validAppBody, identity: { type: "jwks" } }],
      ["jwks with an http issuer", { ...validAppBody, identity: { type: "jwks", issuer: "http://auth.example.com" } }],
      [
        "jwks with an http jwks_url",
        { ...validAppBody, identity: { type: "jwks", issuer: "https://a.example", jwks_url: "http://a.example/jwks" } },
      ],
      ["jwks with a non-URL issuer", { ...validAppBody, identity: { type: "jwks", issuer: "auth0" } }],
      [
        "jwks with a secret",
        { ...validAppBody, identity: { type: "jwks", issuer: "https://a.example", secret: hs256Secret } },
      ],
      ["hs256 without secret", { ...validAppBody, identity: { type: "hs256" } }],
      ["hs256 with a 31-byte secret", { ...validAppBody, identity: { type: "hs256", secret: "s".repeat(31) } }],
      ["hs256 with a numeric secret", { ...validAppBody, identity: { type: "hs256", secret: 12345 } }],
      ["latchkey with a secret", { ...validAppBody, identity: { type: "latchkey", secret: hs256Secret } }],
      ["an unknown field", { ...validAppBody, service_key: "lk_svc_mine" }],
      ["an empty body", ""],
    ])("rejects %s with 400 and creates nothing", async (_case, body) => {
      const ws = await createWorkspace(t);
      const response = await expectNoChange(t, () => t.call("POST", appsPath(ws), { token: ws.adminKey, body }));
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("does not echo a rejected secret in the error or the logs", async () => {
      const ws = await createWorkspace(t);
      const shortSecret = "short-secret-value-123";
      const response = await t.call("POST", appsPath(ws), {
        token: ws.adminKey,
        body: { ...validAppBody, identity: { type: "hs256", secret: shortSecret } },
      });
      const body = await expectError(response, 400, "INVALID_REQUEST");
      expect(JSON.stringify(body)).not.toContain(shortSecret);
      expect(t.logs.text).not.toContain(shortSecret);
    });
  });

  describe("GET apps", () => {
    it("lists the workspace's apps only, without keys or secrets, to any member", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      const mine = await createTenantApp(t, ws, { ...validAppBody, identity: { type: "hs256", secret: hs256Secret } });
      const theirs = await createTenantApp(t, other);
      const member = await addMember(t, ws, "member");
      const response = await t.call("GET", appsPath(ws), { token: member.key });
      const text = await response.text();
      expect(response.status).toBe(200);
      const body = JSON.parse(text) as { apps: App[] };
      expect(body.apps.map((a) => a.id)).toEqual([mine.id]);
      expect(text).not.toContain(theirs.id);
      expect(text).not.toContain(mine.serviceKey);
      expect(text).not.toContain(hs256Secret);
      expect(text).not.toMatch(/identity_secret|key_hash|lk_svc_/);
    });

    it("gets one app, and 404 for an unknown app or another workspace's app", async () => {
      const ws = await createWorkspace(t);
      const other = await createWorkspace(t);
      const mine = await createTenantApp(t, ws);
      const theirs = await createTenantApp(t, other);
      const got = await t.call("GET", `${appsPath(ws)}/${mine.id}`, { token: ws.adminKey });
      expect((await expectStatus<{ app: App }>(got, 200)).app.id).toBe(mine.id);
      for (const appId of ["app_nope", theirs.id]) {
        await expectError(await t.call("GET", `${appsPath(ws)}/${appId}`, { token: ws.adminKey }), 404, "NOT_FOUND");
      }
    });
  });

  describe("PATCH apps/{appId}", () => {
    it("changes the name and origins, leaving the identity and its secret alone", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws, { ...validAppBody, identity: { type: "latchkey" } });
      const secretBefore = (await appRow(app.id)).identity_secret;
      const response = await t.call("PATCH", `${appsPath(ws)}/${app.id}`, {
        token: ws.adminKey,
        body: { name: "Renamed", allowed_return_origins: ["https://new.example.com/", "https://new.example.com"] },
      });
      const body = await expectStatus<{ app: App }>(response, 200);
      expect(body.app).toMatchObject({
        name: "Renamed",
        allowed_return_origins: ["https://new.example.com"],
        identity: { type: "latchkey" },
      });
      expect((await appRow(app.id)).identity_secret).toBe(secretBefore);
    });

    it("keeps a latchkey app's signing secret when identity is re-sent as latchkey", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws, { ...validAppBody, identity: { type: "latchkey" } });
      const secretBefore = (await appRow(app.id)).identity_secret;
      await expectStatus(
        await t.call("PATCH", `${appsPath(ws)}/${app.id}`, {
          token: ws.adminKey,
          body: { identity: { type: "latchkey" } },
        }),
        200,
      );
      expect((await appRow(app.id)).identity_secret).toBe(secretBefore);
    });

    it("switches identity from jwks to hs256 and back, storing and then dropping the secret", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const toHs256 = await t.call("PATCH", `${appsPath(ws)}/${app.id}`, {
        token: ws.adminKey,
        body: { identity: { type: "hs256", secret: hs256Secret } },
      });
      expect((await expectStatus<{ app: App }>(toHs256, 200)).app.identity).toEqual({ type: "hs256" });
      expect(decryptIdentitySecret(app.id, (await appRow(app.id)).identity_secret)).toBe(hs256Secret);

      const audienceOnly = await t.call("PATCH", `${appsPath(ws)}/${app.id}`, {
        token: ws.adminKey,
        body: { identity: { type: "hs256", audience: "api" } },
      });
      expect((await expectStatus<{ app: App }>(audienceOnly, 200)).app.identity).toEqual({
        type: "hs256",
        audience: "api",
      });
      expect(decryptIdentitySecret(app.id, (await appRow(app.id)).identity_secret)).toBe(hs256Secret);

      const back = await t.call("PATCH", `${appsPath(ws)}/${app.id}`, {
        token: ws.adminKey,
        body: { identity: { type: "jwks", issuer: "https://id.example.com", jwks_url: "https://id.example.com/keys" } },
      });
      expect((await expectStatus<{ app: App }>(back, 200)).app.identity).toEqual({
        type: "jwks",
        issuer: "https://id.example.com",
        jwks_url: "https://id.example.com/keys",
      });
      expect((await appRow(app.id)).identity_secret).toBeNull();
    });

    it.each([
      ["an empty body", ""],
      ["an empty object", {}],
      ["an empty name", { name: "" }],
      ["no origins", { allowed_return_origins: [] }],
      ["an origin with a path", { allowed_return_origins: ["https://app.example.com/x"] }],
      ["hs256 without a secret on a jwks app", { identity: { type: "hs256" } }],
      ["a short hs256 secret", { identity: { type: "hs256", secret: "short" } }],
      ["an http jwks issuer", { identity: { type: "jwks", issuer: "http://evil.example" } }],
      ["an unknown field", { workspace_id: "ws_other" }],
      ["a null name", { name: null }],
    ])("rejects %s with 400 and changes nothing", async (_case, body) => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      const response = await expectNoChange(t, () =>
        t.call("PATCH", `${appsPath(ws)}/${app.id}`, { token: ws.adminKey, body }),
      );
      await expectError(response, 400, "INVALID_REQUEST");
    });

    it("answers 404 for an unknown app and another workspace's app, changing nothing", async () => {
      const ws = await createWorkspace(t);
      const theirs = await createTenantApp(t, await createWorkspace(t));
      for (const appId of ["app_nope", theirs.id]) {
        const response = await expectNoChange(t, () =>
          t.call("PATCH", `${appsPath(ws)}/${appId}`, { token: ws.adminKey, body: { name: "hijacked" } }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
    });
  });

  describe("DELETE apps/{appId}", () => {
    it("deletes the app; its service keys stop working", async () => {
      const ws = await createWorkspace(t);
      const app = await createTenantApp(t, ws);
      expect((await t.call("DELETE", `${appsPath(ws)}/${app.id}`, { token: ws.adminKey })).status).toBe(204);
      await expectError(await t.call("GET", `${appsPath(ws)}/${app.id}`, { token: ws.adminKey }), 404, "NOT_FOUND");
      await expectError(
        await t.call("GET", `/probe/apps/${app.id}`, { token: app.serviceKey }),
        401,
        "UNAUTHENTICATED",
      );
      const keys = await t.deps.db.selectFrom("service_keys").select("id").where("app_id", "=", app.id).execute();
      expect(keys).toEqual([]);
    });

    it("answers 404 for an unknown app and another workspace's app, deleting nothing", async () => {
      const ws = await createWorkspace(t);
      const theirs = await createTenantApp(t, await createWorkspace(t));
      for (const appId of ["app_nope", theirs.id]) {
        const response = await expectNoChange(t, () =>
          t.call("DELETE", `${appsPath(ws)}/${appId}`, { token: ws.adminKey }),
        );
        await expectError(response, 404, "NOT_FOUND");
      }
      await expectStatus(await t.call("GET", `/probe/apps/${theirs.id}`, { token: theirs.serviceKey }), 200);
    });
  });

  it("never lists a service key with more than metadata", async () => {
    const ws = await createWorkspace(t);
    const app = await createTenantApp(t, ws);
    const response = await t.call("GET", `${appsPath(ws)}/${app.id}/service-keys`, { token: ws.adminKey });
    const body = await expectStatus<{ keys: ServiceKeyInfo[] }>(response, 200);
    expect(JSON.stringify(body)).not.toContain(app.serviceKey);
    expect(body.keys.map((k) => k.id)).toEqual([app.serviceKeyId]);
  });
});
