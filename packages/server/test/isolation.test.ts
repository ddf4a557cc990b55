import { beforeAll, describe, expect, it } from "vitest";
import { testDbKind } from "./support/test-database.ts";
import {
  connectionsSnapshot,
  connectShared,
  connectTestbed,
  connectUser,
  createConnector,
  createLatchkeyIdentityApp,
  json,
  tableCounts,
  tokenFor,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";

/** THREATS.md, "Who may read a token". */
describe(`tenant isolation of connections (${testDbKind()})`, () => {
  const bed = connectTestbed();
  /** Workspace A: apps A1 and A2 share connector A; A1's user "sam" is connected, and A1 has a shared connection. */
  let a1: Tenant;
  let a2: Tenant;
  /** Workspace B: its own app and connector. */
  let b: Tenant;
  let samOfA1: string;

  beforeAll(async () => {
    a1 = bed.tenant;
    a2 = { ...a1, ...(await createLatchkeyIdentityApp(bed.t, a1)) };
    b = await bed.newTenant();
    samOfA1 = await userToken(bed.t, a1, "sam");
    await connectUser(bed.t, bed.harness, a1, samOfA1, "sam-login");
    await connectShared(bed.t, bed.harness, a1, "a1-service");
  }, 90_000);

  const tokenRoutes = (appId: string, connectorId: string) => [
    `/api/apps/${appId}/app-user-auth/connectors/${connectorId}/users/sam/token`,
    `/api/apps/${appId}/external-auth/tokens/connectors/${connectorId}`,
    `/api/apps/${appId}/external-auth/tokens/oidc`,
  ];

  it("serves the connected user's token to its own app's service key (baseline)", async () => {
    const own = await json<{ access_token: string }>(await tokenFor(bed.t, a1, samOfA1), 200);
    expect(await bed.harness.userinfoSub(own.access_token)).toBe("sam-login");
    for (const path of tokenRoutes(a1.appId, a1.connectorId))
      await json(await bed.t.call("GET", path, { token: a1.serviceKey }), 200);
  });

  it("refuses a user token of app A1 on app A2's routes (401), and A2's user of the same id sees nothing", async () => {
    for (const [method, path] of [
      ["GET", `/api/apps/${a2.appId}/app-user-auth/connections`],
      ["POST", `/api/apps/${a2.appId}/app-user-auth/connectors/${a2.connectorId}/initiate`],
      ["DELETE", `/api/apps/${a2.appId}/app-user-auth/connectors/${a2.connectorId}`],
    ] as const) {
      const body = await json<{ error: { code: string } }>(await bed.t.call(method, path, { token: samOfA1 }), 401);
      expect(body.error.code).toBe("INVALID_USER_TOKEN");
    }
    const samOfA2 = await userToken(bed.t, a2, "sam");
    const listed = await json<{ connections: unknown[] }>(
      await bed.t.call("GET", `/api/apps/${a2.appId}/app-user-auth/connections`, { token: samOfA2 }),
      200,
    );
    expect(listed.connections).toEqual([]);
    await json(await tokenFor(bed.t, a2, samOfA2), 404);
  });

  it("answers 404 to a service key of app A1 on app A2 or on another workspace's app, for every token route", async () => {
    for (const path of [...tokenRoutes(a2.appId, a2.connectorId), ...tokenRoutes(b.appId, b.connectorId)]) {
      const body = await json<{ error: { code: string } }>(
        await bed.t.call("GET", path, { token: a1.serviceKey }),
        404,
      );
      expect(body.error.code, path).toBe("NOT_FOUND");
    }
    const onBehalf = await bed.t.call("GET", `/api/apps/${b.appId}/app-user-auth/connectors/${b.connectorId}/token`, {
      token: a1.serviceKey,
      headers: { "on-behalf-of": `Bearer ${samOfA1}` },
    });
    await json(onBehalf, 404);
  });

  it("does not let app A2 read app A1's connections through the shared connector", async () => {
    for (const path of tokenRoutes(a2.appId, a2.connectorId)) {
      const body = await json<{ error: { code: string } }>(
        await bed.t.call("GET", path, { token: a2.serviceKey }),
        404,
      );
      expect(body.error.code, path).toBe("CONNECTION_NOT_FOUND");
    }
  });

  it("refuses an on-behalf-of token of another app (401), so a backend cannot borrow a user of another app", async () => {
    const body = await json<{ error: { code: string } }>(await tokenFor(bed.t, a2, samOfA1), 401);
    expect(body.error.code).toBe("INVALID_USER_TOKEN");
  });

  it("never hands provider tokens to a user token (a frontend credential)", async () => {
    for (const path of tokenRoutes(a1.appId, a1.connectorId)) {
      await json(await bed.t.call("GET", path, { token: samOfA1 }), 401);
    }
    await json(
      await bed.t.call("GET", `/api/apps/${a1.appId}/app-user-auth/connectors/${a1.connectorId}/token`, {
        token: samOfA1,
        headers: { "on-behalf-of": `Bearer ${samOfA1}` },
      }),
      401,
    );
  });

  it("hides workspace A's connections from a member of workspace B (404), and B's listing has none of them", async () => {
    const before = await connectionsSnapshot(bed.t);
    await json(await bed.t.call("GET", `/api/workspaces/${a1.workspaceId}/connections`, { token: b.adminKey }), 404);
    await json(
      await bed.t.call(
        "DELETE",
        `/api/workspaces/${a1.workspaceId}/apps/${a1.appId}/connectors/${a1.connectorId}/connection`,
        {
          token: b.adminKey,
        },
      ),
      404,
    );
    await json(
      await bed.t.call(
        "DELETE",
        `/api/workspaces/${b.workspaceId}/apps/${a1.appId}/connectors/${a1.connectorId}/connection`,
        {
          token: b.adminKey,
        },
      ),
      404,
    );
    await json(
      await bed.t.call(
        "POST",
        `/api/workspaces/${b.workspaceId}/apps/${a1.appId}/connectors/${a1.connectorId}/initiate`,
        {
          token: b.adminKey,
        },
      ),
      404,
    );
    const listed = await json<{ connections: unknown[] }>(
      await bed.t.call("GET", `/api/workspaces/${b.workspaceId}/connections?app_id=${a1.appId}`, { token: b.adminKey }),
      200,
    );
    expect(listed.connections).toEqual([]);
    expect(await connectionsSnapshot(bed.t)).toEqual(before);
  });

  it("refuses to start a flow with another workspace's connector (404), storing nothing", async () => {
    const before = await tableCounts(bed.t);
    const userOfB = await userToken(bed.t, b, "sam");
    await json(
      await bed.t.call("POST", `/api/apps/${b.appId}/app-user-auth/connectors/${a1.connectorId}/initiate`, {
        token: userOfB,
      }),
      404,
    );
    await json(
      await bed.t.call(
        "POST",
        `/api/workspaces/${b.workspaceId}/apps/${b.appId}/connectors/${a1.connectorId}/initiate`,
        {
          token: b.adminKey,
        },
      ),
      404,
    );
    expect(await tableCounts(bed.t)).toEqual(before);
  });

  it("lets a workspace member list connections but not connect or disconnect shared ones (403)", async () => {
    const member = await json<{ api_key: string }>(
      await bed.t.call("POST", `/api/workspaces/${a1.workspaceId}/members`, {
        token: a1.adminKey,
        body: { email: "viewer@example.test", role: "member" },
      }),
      201,
    );
    const before = await tableCounts(bed.t);
    const listed = await json<{ connections: unknown[] }>(
      await bed.t.call("GET", `/api/workspaces/${a1.workspaceId}/connections`, { token: member.api_key }),
      200,
    );
    expect(listed.connections).toHaveLength(2);
    const sharedPath = `/api/workspaces/${a1.workspaceId}/apps/${a1.appId}/connectors/${a1.connectorId}`;
    await json(await bed.t.call("POST", `${sharedPath}/initiate`, { token: member.api_key }), 403);
    await json(await bed.t.call("DELETE", `${sharedPath}/connection`, { token: member.api_key }), 403);
    expect(await tableCounts(bed.t)).toEqual(before);
  });

  it("disconnecting a user in one app leaves the same user id in another app connected", async () => {
    const connector = await createConnector(bed.t, bed.harness, a1);
    const samOfA2 = await userToken(bed.t, a2, "sam");
    await connectUser(
      bed.t,
      bed.harness,
      { appId: a2.appId, connectorId: connector.connectorId },
      samOfA2,
      "sam-other",
    );
    expect(
      (
        await bed.t.call("DELETE", `/api/apps/${a2.appId}/app-user-auth/connectors/${connector.connectorId}`, {
          token: samOfA2,
        })
      ).status,
    ).toBe(204);
    const own = await json<{ access_token: string }>(await tokenFor(bed.t, a1, samOfA1), 200);
    expect(await bed.harness.userinfoSub(own.access_token)).toBe("sam-login");
  });
});
