import type {
  CreateAppResponse,
  CreateMemberResponse,
  CreateWorkspaceResponse,
  ErrorBody,
  Plan,
} from "@latchkey/contracts";
import { expect } from "vitest";
import { type OpenTestApp, type TestApp, testOperatorKey } from "./test-app.ts";
import type { Db } from "../../src/db/open-database.ts";

/**
 * Test-only helpers that set tenants up through the public API: workspaces, members and apps.
 * Every test that needs a workspace makes it with `createWorkspace` here.
 */

export type Harness = OpenTestApp;

export interface TestWorkspace {
  id: string;
  adminKey: string;
  adminMemberId: string;
}

export interface TestMember {
  id: string;
  key: string;
}

/** An app of a workspace (a tenant app), as `createTenantApp` made it. */
export interface TestTenantApp {
  id: string;
  serviceKey: string;
  serviceKeyId: string;
}

export const hs256Secret = "hs256-secret-0123456789-abcdefghijklmnop";

export const validAppBody = {
  name: "Support desk",
  allowed_return_origins: ["https://app.example.com"],
  identity: { type: "jwks", issuer: "https://auth.example.com/", audience: "support-desk" },
};

/**
 * Asserts the status and returns the parsed body, typed as the caller says the API answers.
 * On a wrong status the assertion shows the body.
 */
export async function expectStatus<Body = unknown>(response: Response, status: number): Promise<Body> {
  const text = await response.text();
  const body: unknown = text === "" ? null : JSON.parse(text);
  expect({ status: response.status, body }).toMatchObject({ status });
  return body as Body;
}

export async function expectError(response: Response, status: number, code: string): Promise<ErrorBody> {
  const body = await expectStatus<ErrorBody>(response, status);
  expect(body.error.code).toBe(code);
  return body;
}

let emailCounter = 0;
export function uniqueEmail(label = "person"): string {
  emailCounter += 1;
  return `${label}-${emailCounter}-${Date.now()}@example.com`;
}

/** A workspace made by the operator API, with its first admin's key. Any app instance will do. */
export async function createWorkspace(t: Pick<TestApp, "call">, plan: Plan = "builder"): Promise<TestWorkspace> {
  const response = await t.call("POST", "/api/operator/workspaces", {
    token: testOperatorKey,
    body: { name: "Acme", plan, admin_email: uniqueEmail("admin") },
  });
  const body = await expectStatus<CreateWorkspaceResponse>(response, 201);
  return { id: body.workspace.id, adminKey: body.admin_api_key, adminMemberId: body.admin.id };
}

export async function addMember(t: Harness, ws: TestWorkspace, role: "admin" | "member"): Promise<TestMember> {
  const response = await t.call("POST", `/api/workspaces/${ws.id}/members`, {
    token: ws.adminKey,
    body: { email: uniqueEmail(role), role },
  });
  const body = await expectStatus<CreateMemberResponse>(response, 201);
  return { id: body.member.id, key: body.api_key };
}

export async function createTenantApp(
  t: Pick<TestApp, "call">,
  ws: Pick<TestWorkspace, "id" | "adminKey">,
  body: object = validAppBody,
): Promise<TestTenantApp> {
  const response = await t.call("POST", `/api/workspaces/${ws.id}/apps`, { token: ws.adminKey, body });
  const created = await expectStatus<CreateAppResponse>(response, 201);
  return { id: created.app.id, serviceKey: created.service_key, serviceKeyId: created.key.id };
}

const tenancyTables = ["workspaces", "members", "admin_api_keys", "apps", "service_keys"] as const;

/**
 * Every tenancy row, for "nothing changed" checks. last_used_at is left out: authenticating a
 * request may record it even when the request is then refused.
 */
export async function snapshot(db: Db): Promise<string> {
  const tables: Record<string, unknown[]> = {};
  for (const table of tenancyTables) {
    const rows = await db.selectFrom(table).selectAll().orderBy("id").execute();
    tables[table] = rows.map((row) => {
      const { last_used_at: _ignored, ...rest } = row as Record<string, unknown>;
      return rest;
    });
  }
  return JSON.stringify(tables);
}

/** Runs `request` and asserts the tenancy tables are exactly as before. Returns the response. */
export async function expectNoChange(t: Harness, request: () => Promise<Response>): Promise<Response> {
  const before = await snapshot(t.deps.db);
  const response = await request();
  expect(await snapshot(t.deps.db)).toBe(before);
  return response;
}
