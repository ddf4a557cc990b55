/**
 * THREATS.md and the SPEC promises, line by line, where the feature tests did not already prove
 * them. Real database, the real authorization server harness (test/support/oidc-provider.ts), and
 * a scripted provider over real HTTP for the answers a good provider never gives.
 *
 * Where each threat is proved (file › test):
 * - Forged/replayed callback: connect-security › forged state…, accepts a callback once…, concurrent
 *   callbacks…, expired state…; connect-flow › …hashed single-use state; here › the callback ignores…
 * - Account linking CSRF: connect-security › finishes a flow for the user who started it…
 * - Code interception/injection: connect-security › another user's code injected…; here › PKCE verifier never leaves…
 * - Mix-up: connect-security › iss is not the connector's provider…, without iss…; here › a code from
 *   another provider… redeemed only at this connector's token endpoint; another real provider's iss
 * - Open redirect: connect-security › return_to that is not exactly an allowed origin; return-origins.test
 * - Scope escalation: connect-security › requests only the connector's scopes
 * - Database dump: here › a database dump holds no token…; a ciphertext copied to another user's row…;
 *   a refresh token copied…; a client secret copied…; vault.test (AAD unit tests)
 * - Key compromise: rotate-keys.test; vault.test › rewrap; here › after an online rotation…
 * - Logs and error messages: connect-flow / connect-security / token-refresh › writes no token…;
 *   log/logger.test; here › provider error bodies are summarised (describe)
 * - Listing endpoints: connect-flow › lists connections without tokens; tenancy route tests; here › no listing…
 * - Another user / another app or workspace / a frontend: isolation.test; connect-flow › two users…;
 *   base44-compat › keeps each user's connection…; here › forged user token…, sub not valid Unicode…
 * - Forged user tokens: identity/jwks-user-tokens.test, hs256-user-tokens.test, latchkey-user-tokens.test,
 *   identity-url-policy.test (JWKS https except loopback outside production)
 * - Service key leaks: service-key-routes.test, api-key-routes.test; here › stored only as SHA-256 hash…
 * - SSRF: outbound-fetch.test, connectors/routes.test (deny private network), create-provider-resolver.test;
 *   here › redirects are not followed…, oversized answer…, DENY_PRIVATE_NETWORK…; templated values: todo
 * - Refresh storms / provider outage: token-refresh.test, token-refresh-provider-answers.test; here › hung code exchange
 * - Floods: http/app.test (body limit, JSON depth); rate limits: their own tests
 * - Bad input never a 500: connection-routes-input, tenancy-access; here › the SPEC promise describe (every route)
 */
import { createHash, randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { errorCodes, statusOf, type ErrorCode } from "@latchkey/contracts";
import { decryptRefreshToken } from "../src/connections/connection-store.ts";
import type { ConnectionRow } from "../src/db/schema.ts";
import { isStorableText } from "../src/db/storable-text.ts";
import type { RouteDoc } from "../src/http/api-docs.ts";
import { identitySecretOf } from "../src/identity/identity-settings.ts";
import { createLogger } from "../src/log/logger.ts";
import { decryptVerifier, hashState } from "../src/oauth/oauth-states.ts";
import { encryptedColumns } from "../src/vault/encrypted-columns.ts";
import { rotateKeys } from "../src/vault/rotate-keys.ts";
import { Vault } from "../src/vault/vault.ts";
import {
  appOrigin,
  callback,
  callbackUrl,
  connectShared,
  connectTestbed,
  connectUser,
  createConnector,
  createLatchkeyIdentityApp,
  createTenant,
  initiate,
  json,
  started,
  tableCounts,
  tokenFor,
  userToken,
  type Tenant,
} from "./support/connect-testbed.ts";
import { startAuthorizationServer, type AuthorizationServer } from "./support/oidc-provider.ts";
import { json as jsonAnswer, startScriptedProvider, type ScriptedProvider } from "./support/scripted-provider.ts";
import {
  buildTestApp,
  createTestApp,
  LogCapture,
  testKeys,
  testOperatorKey,
  type OpenTestApp,
  type TestApp,
  type TestAppOptions,
} from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import { databaseFingerprint } from "./support/database-fingerprint.ts";

const kind = testDbKind();

function backTo(response: Response): URL {
  expect(response.status).toBe(302);
  return new URL(response.headers.get("location") ?? "");
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

async function connectionRow(t: TestApp, appId: string, userId: string) {
  return t.deps.db
    .selectFrom("connections")
    .selectAll()
    .where("app_id", "=", appId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
}

async function accessToken(t: TestApp, tenant: Tenant, user: string): Promise<string> {
  return (await json<{ access_token: string }>(await tokenFor(t, tenant, user), 200)).access_token;
}

/** Every text-like column of every table, as text: what a database dump would show. */
async function dumpAllText(t: TestApp): Promise<{ columns: string[]; values: string[] }> {
  const columns = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = current_schema() and data_type in ('text', 'jsonb', 'json', 'character varying', 'character')
    order by table_name, column_name`.execute(t.deps.db);
  const values: string[] = [];
  for (const { table_name, column_name } of columns.rows) {
    const rows = await sql<{
      value: string | null;
    }>`select ${sql.ref(column_name)}::text as value from ${sql.table(table_name)}`.execute(t.deps.db);
    for (const row of rows.rows) if (row.value !== null) values.push(row.value);
  }
  return { columns: columns.rows.map((c) => `${c.table_name}.${c.column_name}`), values };
}

describe(`THREATS: the connect flow (${kind})`, () => {
  const bed = connectTestbed();
  const { secrets } = bed;
  let second: AuthorizationServer;
  let other: Tenant;

  beforeAll(async () => {
    second = await startAuthorizationServer();
    other = await bed.newTenant();
    secrets.add(other.serviceKey, other.adminKey, other.clientSecret);
  }, 60_000);
  afterAll(async () => {
    await second?.close();
  });

  it("a callback ignores return_to, user, app and connector parameters added to it: the stored state alone decides", async () => {
    const user = await userToken(bed.t, bed.tenant, "smuggler");
    const redirect = await bed.harness.authorize(await initiate(bed.t, bed.tenant, user), { login: "smuggler-login" });
    secrets.add(user, redirect.searchParams.get("code"), redirect.searchParams.get("state"));
    const tampered = new URL(redirect);
    for (const [name, value] of [
      ["return_to", "https://evil.example/"],
      ["redirect_uri", "https://evil.example/"],
      ["user_id", "victim"],
      ["sub", "victim"],
      ["app_id", other.appId],
      ["connector_id", other.connectorId],
      ["latchkey_connector", other.connectorId],
    ] as const) {
      tampered.searchParams.set(name, value);
    }
    const back = backTo(await callback(bed.t, tampered));
    expect(back.origin).toBe(appOrigin);
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    expect(back.searchParams.getAll("latchkey_connector")).toEqual([bed.tenant.connectorId]);
    expect(await connectionRow(bed.t, bed.tenant.appId, "smuggler")).toMatchObject({
      connector_id: bed.tenant.connectorId,
      owner_type: "user",
    });
    expect(await connectionRow(bed.t, bed.tenant.appId, "victim")).toBeUndefined();
    expect(await connectionRow(bed.t, other.appId, "smuggler")).toBeUndefined();
  });

  it("the PKCE verifier never leaves the server: only its S256 challenge is sent, and it is not in any answer, redirect or log", async () => {
    const user = await userToken(bed.t, bed.tenant, "pkce-user");
    secrets.add(user);
    const initiated = await bed.t.call(
      "POST",
      `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/initiate`,
      {
        token: user,
      },
    );
    const initiateText = await initiated.text();
    expect(initiated.status).toBe(200);
    const authorizationUrl = new URL((JSON.parse(initiateText) as { redirect_url: string }).redirect_url);
    const state = authorizationUrl.searchParams.get("state") ?? "";
    const stored = await bed.t.deps.db
      .selectFrom("oauth_states")
      .selectAll()
      .where("state_hash", "=", hashState(state))
      .executeTakeFirstOrThrow();
    const verifier = decryptVerifier(bed.t.deps, stored) ?? "";
    expect(verifier).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);
    expect(stored.code_verifier).not.toContain(verifier);
    expect(authorizationUrl.searchParams.get("code_challenge")).toBe(s256(verifier));
    expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(initiateText).not.toContain(verifier);

    const providerRedirect = await bed.harness.authorize(authorizationUrl.href, { login: "pkce-login" });
    secrets.add(state, providerRedirect.searchParams.get("code"));
    expect(providerRedirect.href).not.toContain(verifier);
    // The harness requires PKCE S256: connecting proves the verifier went to the token endpoint, and only there.
    const response = await callback(bed.t, providerRedirect);
    expect(backTo(response).searchParams.get("latchkey_status")).toBe("connected");
    expect(response.headers.get("location")).not.toContain(verifier);
    expect(await response.text()).not.toContain(verifier);
    expect(bed.t.logs.text).not.toContain(verifier);
    const left = await bed.t.deps.db
      .selectFrom("oauth_states")
      .select("state_hash")
      .where("state_hash", "=", hashState(state))
      .execute();
    expect(left).toEqual([]);
  });

  it("a code from another provider replayed under this connector's state is redeemed only at this connector's token endpoint, and fails there (mix-up)", async () => {
    const secondConnector = await createConnector(bed.t, second, bed.tenant);
    secrets.add(secondConnector.clientSecret);
    const user = await userToken(bed.t, bed.tenant, "mixup-user");
    const honestState = new URL(await initiate(bed.t, bed.tenant, user)).searchParams.get("state") ?? "";
    const attackerRedirect = await second.authorize(
      await initiate(bed.t, { appId: bed.tenant.appId, connectorId: secondConnector.connectorId }, user),
      { login: "mixup-login" },
    );
    secrets.add(
      user,
      honestState,
      attackerRedirect.searchParams.get("code"),
      attackerRedirect.searchParams.get("state"),
    );
    second.resetCounters();
    const honestRequests = bed.harness.counters.tokenRequests;

    // The attacker forges the honest provider's iss: the state sends the code to the state's connector only.
    const injected = new URL(callbackUrl);
    injected.search = new URLSearchParams({
      code: attackerRedirect.searchParams.get("code") ?? "",
      state: honestState,
      iss: bed.harness.issuer,
    }).toString();
    const back = backTo(await callback(bed.t, injected));
    expect(back.searchParams.get("latchkey_error")).toBe("token_exchange_failed");
    expect(second.counters.tokenRequests).toBe(0);
    expect(bed.harness.counters.tokenRequests).toBe(honestRequests + 1);
    expect(await connectionRow(bed.t, bed.tenant.appId, "mixup-user")).toBeUndefined();
  });

  it("an authorization response carrying another real provider's iss is refused before any code is redeemed", async () => {
    const user = await userToken(bed.t, bed.tenant, "mixup-iss-user");
    const honest = await bed.harness.authorize(await initiate(bed.t, bed.tenant, user), { login: "mixup-iss-login" });
    secrets.add(user, honest.searchParams.get("code"), honest.searchParams.get("state"));
    second.resetCounters();
    const honestRequests = bed.harness.counters.tokenRequests;
    const mixedUp = new URL(honest);
    mixedUp.searchParams.set("iss", second.issuer);
    expect(backTo(await callback(bed.t, mixedUp)).searchParams.get("latchkey_error")).toBe("invalid_response");
    expect(bed.harness.counters.tokenRequests).toBe(honestRequests);
    expect(second.counters.tokenRequests).toBe(0);
  });

  it("writes none of the flow's tokens, codes, states or keys to the logs", () => {
    expect(secrets.foundIn(bed.t.logs.text)).toEqual([]);
  });
});

describe(`THREATS: tokens at rest and in motion (${kind})`, () => {
  const keys = testKeys();
  const bed = connectTestbed({ keys });
  const { secrets } = bed;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    alice = await bed.tokenOf("alice");
    bob = await bed.tokenOf("bob");
    secrets.add(testOperatorKey);
    await bed.connect(alice, "alice-login");
    await bed.connect(bob, "bob-login");
  }, 60_000);

  /** Tokens of alice and bob as the token route serves them, and their refresh tokens as stored. */
  async function tokensOfBothUsers() {
    const [aliceRow, bobRow] = [
      await connectionRow(bed.t, bed.tenant.appId, "alice"),
      await connectionRow(bed.t, bed.tenant.appId, "bob"),
    ];
    if (!aliceRow || !bobRow) throw new Error("alice and bob are connected in beforeAll");
    const rows = { alice: aliceRow, bob: bobRow };
    const served = {
      alice: await accessToken(bed.t, bed.tenant, alice),
      bob: await accessToken(bed.t, bed.tenant, bob),
    };
    const refresh = {
      alice: decryptRefreshToken(bed.t.deps.vault, rows.alice),
      bob: decryptRefreshToken(bed.t.deps.vault, rows.bob),
    };
    secrets.add(served.alice, served.bob, refresh.alice, refresh.bob);
    return { rows, served, refresh };
  }

  async function setTokenColumns(
    id: string,
    columns: { access_token: string; refresh_token: string | null; expires_at?: Date | null },
  ) {
    await bed.t.deps.db.updateTable("connections").set(columns).where("id", "=", id).execute();
  }

  it("a database dump holds no token, client secret, code verifier, state, code, user token, signing secret or key in clear: every text and jsonb column is scanned", async () => {
    // Everything the tables can hold: an hs256 app, a member, a shared connection and a flow still pending.
    const hs256Secret = `hs256-${randomBytes(24).toString("hex")}`;
    const hsApp = await json<{ service_key: string }>(
      await bed.t.call("POST", `/api/workspaces/${bed.tenant.workspaceId}/apps`, {
        token: bed.tenant.adminKey,
        body: { name: "HS app", allowed_return_origins: [appOrigin], identity: { type: "hs256", secret: hs256Secret } },
      }),
      201,
    );
    const member = await json<{ api_key: string }>(
      await bed.t.call("POST", `/api/workspaces/${bed.tenant.workspaceId}/members`, {
        token: bed.tenant.adminKey,
        body: { email: "dump@example.test", role: "member" },
      }),
      201,
    );
    const shared = await json<{ redirect_url: string }>(
      await bed.t.call(
        "POST",
        `/api/workspaces/${bed.tenant.workspaceId}/apps/${bed.tenant.appId}/connectors/${bed.tenant.connectorId}/initiate`,
        {
          token: bed.tenant.adminKey,
        },
      ),
      200,
    );
    const sharedRedirect = await bed.harness.authorize(shared.redirect_url, { login: "shared-login" });
    expect((await callback(bed.t, sharedRedirect)).status).toBe(302);
    const sharedToken = await json<{ access_token: string }>(
      await bed.t.call(
        "GET",
        `/api/apps/${bed.tenant.appId}/external-auth/tokens/connectors/${bed.tenant.connectorId}`,
        {
          token: bed.tenant.serviceKey,
        },
      ),
      200,
    );
    const pendingState = new URL(await initiate(bed.t, bed.tenant, alice)).searchParams.get("state") ?? "";
    const pendingRow = await bed.t.deps.db
      .selectFrom("oauth_states")
      .selectAll()
      .where("state_hash", "=", hashState(pendingState))
      .executeTakeFirstOrThrow();
    const latchkeyApp = await bed.t.deps.db
      .selectFrom("apps")
      .selectAll()
      .where("id", "=", bed.tenant.appId)
      .executeTakeFirstOrThrow();
    const { served, refresh } = await tokensOfBothUsers();
    const sharedRow = await bed.t.deps.db
      .selectFrom("connections")
      .selectAll()
      .where("owner_type", "=", "app")
      .executeTakeFirstOrThrow();
    secrets.add(
      hs256Secret,
      hsApp.service_key,
      member.api_key,
      sharedToken.access_token,
      decryptRefreshToken(bed.t.deps.vault, sharedRow),
      sharedRedirect.searchParams.get("code"),
      sharedRedirect.searchParams.get("state"),
      pendingState,
      decryptVerifier(bed.t.deps, pendingRow),
      bed.t.deps.vault.decrypt(latchkeyApp.identity_secret ?? "", {
        table: "apps",
        column: "identity_secret",
        rowId: bed.tenant.appId,
      }),
      ...keys.flatMap(({ key }) => [key.toString("base64"), key.toString("base64url"), key.toString("hex")]),
    );
    expect(
      [served.alice, served.bob, refresh.alice, refresh.bob].every((value) => value && secrets.values.has(value)),
    ).toBe(true);

    const dump = await dumpAllText(bed.t);
    for (const column of [
      "connections.access_token",
      "connections.refresh_token",
      "connectors.client_secret",
      "oauth_states.code_verifier",
      "apps.identity_secret",
      "service_keys.key_hash",
      "admin_api_keys.key_hash",
    ]) {
      expect(dump.columns).toContain(column);
    }
    expect(dump.values.filter((value) => value.startsWith("lk1.")).length).toBeGreaterThanOrEqual(8);
    expect(secrets.foundIn(dump.values.join("\n"))).toEqual([]);
  });

  it("a ciphertext copied to another user's connection row does not decrypt: the token routes fail closed and serve neither user's token", async () => {
    const { rows, served } = await tokensOfBothUsers();
    const swap = async (from: ConnectionRow, to: ConnectionRow) =>
      setTokenColumns(to.id, { access_token: from.access_token, refresh_token: from.refresh_token });
    await swap(rows.bob, rows.alice);
    await swap(rows.alice, rows.bob);
    try {
      for (const response of [
        await tokenFor(bed.t, bed.tenant, alice),
        await tokenFor(bed.t, bed.tenant, bob),
        await bed.t.call(
          "GET",
          `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/alice/token`,
          {
            token: bed.tenant.serviceKey,
          },
        ),
      ]) {
        const text = await response.text();
        expect(response.status).toBe(500);
        expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe("INTERNAL");
        expect(text).not.toContain(served.alice);
        expect(text).not.toContain(served.bob);
      }
    } finally {
      await setTokenColumns(rows.alice.id, {
        access_token: rows.alice.access_token,
        refresh_token: rows.alice.refresh_token,
      });
      await setTokenColumns(rows.bob.id, {
        access_token: rows.bob.access_token,
        refresh_token: rows.bob.refresh_token,
      });
    }
    // Put back where they belong, both decrypt again: the failure was the swap, nothing else.
    expect(await accessToken(bed.t, bed.tenant, alice)).toBe(served.alice);
    expect(await accessToken(bed.t, bed.tenant, bob)).toBe(served.bob);
  });

  it("a refresh token copied to another user's row is never sent to the provider", async () => {
    const { rows, served } = await tokensOfBothUsers();
    bed.harness.resetCounters();
    // Alice's token is about to expire, so serving it means refreshing with the (swapped) refresh token.
    await setTokenColumns(rows.alice.id, {
      access_token: rows.alice.access_token,
      refresh_token: rows.bob.refresh_token,
      expires_at: new Date(Date.now() + 10_000),
    });
    try {
      const response = await tokenFor(bed.t, bed.tenant, alice);
      const text = await response.text();
      expect(response.status).toBe(500);
      expect(text).not.toContain(served.alice);
      expect(bed.harness.counters.tokenRequests).toBe(0);
    } finally {
      await setTokenColumns(rows.alice.id, {
        access_token: rows.alice.access_token,
        refresh_token: rows.alice.refresh_token,
        expires_at: rows.alice.expires_at,
      });
    }
    expect(await accessToken(bed.t, bed.tenant, alice)).toBe(served.alice);
  });

  it("a client secret copied to another connector's row does not decrypt, so the code is never redeemed with it", async () => {
    const spare = await createConnector(bed.t, bed.harness, bed.tenant);
    secrets.add(spare.clientSecret);
    const rowsOf = () =>
      bed.t.deps.db
        .selectFrom("connectors")
        .select(["id", "client_secret"])
        .where("id", "in", [bed.tenant.connectorId, spare.connectorId])
        .execute();
    const original = new Map((await rowsOf()).map((row) => [row.id, row.client_secret]));
    await bed.t.deps.db
      .updateTable("connectors")
      .set({ client_secret: original.get(spare.connectorId) ?? null })
      .where("id", "=", bed.tenant.connectorId)
      .execute();
    try {
      const user = await userToken(bed.t, bed.tenant, "secret-swap-user");
      const redirect = await bed.harness.authorize(await initiate(bed.t, bed.tenant, user), {
        login: "secret-swap-login",
      });
      secrets.add(user, redirect.searchParams.get("code"), redirect.searchParams.get("state"));
      bed.harness.resetCounters();
      const back = backTo(await callback(bed.t, redirect));
      expect(back.searchParams.get("latchkey_status")).toBe("error");
      expect(bed.harness.counters.tokenRequests).toBe(0);
      expect(await connectionRow(bed.t, bed.tenant.appId, "secret-swap-user")).toBeUndefined();
    } finally {
      await bed.t.deps.db
        .updateTable("connectors")
        .set({ client_secret: original.get(bed.tenant.connectorId) ?? null })
        .where("id", "=", bed.tenant.connectorId)
        .execute();
    }
  });

  it("no listing or read route answers with a token, secret, key, key hash or ciphertext; the token routes give the access token only", async () => {
    const { refresh } = await tokensOfBothUsers();
    const hashes = [
      ...(await bed.t.deps.db.selectFrom("service_keys").select("key_hash").execute()).map((row) => row.key_hash),
      ...(await bed.t.deps.db.selectFrom("admin_api_keys").select("key_hash").execute()).map((row) => row.key_hash),
    ];
    const serviceKeys = await json<{ keys: { id: string }[] }>(
      await bed.t.call("GET", `/api/workspaces/${bed.tenant.workspaceId}/apps/${bed.tenant.appId}/service-keys`, {
        token: bed.tenant.adminKey,
      }),
      200,
    );
    const members = await json<{ members: { id: string }[] }>(
      await bed.t.call("GET", `/api/workspaces/${bed.tenant.workspaceId}/members`, { token: bed.tenant.adminKey }),
      200,
    );
    const member = members.members[0];
    const ws = `/api/workspaces/${bed.tenant.workspaceId}`;
    const reads: [string, string][] = [
      ["/api/operator/workspaces", testOperatorKey],
      [`/api/operator/workspaces/${bed.tenant.workspaceId}`, testOperatorKey],
      [ws, bed.tenant.adminKey],
      [`${ws}/members`, bed.tenant.adminKey],
      [`${ws}/members/${member?.id ?? "-"}`, bed.tenant.adminKey],
      [`${ws}/api-keys`, bed.tenant.adminKey],
      [`${ws}/apps`, bed.tenant.adminKey],
      [`${ws}/apps/${bed.tenant.appId}`, bed.tenant.adminKey],
      [`${ws}/apps/${bed.tenant.appId}/service-keys`, bed.tenant.adminKey],
      [`${ws}/connectors`, bed.tenant.adminKey],
      [`${ws}/connectors/${bed.tenant.connectorId}`, bed.tenant.adminKey],
      [`${ws}/connections`, bed.tenant.adminKey],
      [`/api/apps/${bed.tenant.appId}/app-user-auth/connections`, alice],
      ["/metrics", ""],
      ["/openapi.json", ""],
    ];
    expect(serviceKeys.keys.length).toBeGreaterThan(0);
    for (const [path, token] of reads) {
      const response = await bed.t.call("GET", path, token ? { token } : {});
      const text = await response.text();
      expect(response.status, path).toBe(200);
      expect(secrets.foundIn(text), path).toEqual([]);
      expect(text, path).not.toMatch(/lk1\.[A-Za-z0-9_-]+\./);
      for (const hash of hashes) expect(text, path).not.toContain(hash);
    }
    const served = await tokenFor(bed.t, bed.tenant, alice);
    const servedText = await served.text();
    expect(Object.keys(JSON.parse(servedText) as object).sort()).toEqual(
      ["access_token", "account", "connection_config", "expires_at", "integration_type", "scopes", "token_type"].sort(),
    );
    expect(servedText).not.toContain(refresh.alice ?? "-");
    expect(servedText).not.toContain(bed.tenant.clientSecret);
    expect(servedText).not.toMatch(/lk1\./);
  });

  it("writes none of the tokens, secrets or keys to the logs", () => {
    expect(bed.t.logs.text).toContain("oauth callback");
    expect(secrets.foundIn(bed.t.logs.text)).toEqual([]);
  });
});

describe(`THREATS: key compromise, rotation and removal of the old key (${kind})`, () => {
  const k1 = testKeys()[0] ?? { id: "t1", key: randomBytes(32) };
  const k2 = { id: "t2", key: randomBytes(32) };
  const bed = connectTestbed({ keys: [k1] });

  it("after an online rotation to a new key, an instance holding only the new key serves every token, verifies old user tokens and finishes pending flows", async () => {
    const alice = await userToken(bed.t, bed.tenant, "alice");
    await connectUser(bed.t, bed.harness, bed.tenant, alice, "alice-login");
    const before = await accessToken(bed.t, bed.tenant, alice);
    const bob = await userToken(bed.t, bed.tenant, "bob");
    const pending = await bed.harness.authorize(await initiate(bed.t, bed.tenant, bob), { login: "bob-login" });

    const report = await rotateKeys({
      db: bed.t.deps.db,
      vault: new Vault([k2, k1]),
      logger: createLogger({ level: "info", destination: new LogCapture() }),
    });
    expect(report.every((column) => column.failed === 0)).toBe(true);
    for (const column of encryptedColumns) {
      const values = await sql<{
        value: string | null;
      }>`select ${sql.ref(column.column)} as value from ${sql.table(column.table)}`.execute(bed.t.deps.db);
      for (const { value } of values.rows)
        if (value !== null) expect(value.split(".")[1], `${column.table}.${column.column}`).toBe(k2.id);
    }

    const onlyNewKey = buildTestApp({ database: bed.t.database, keys: [k2] });
    expect(await accessToken(onlyNewKey, bed.tenant, alice)).toBe(before);
    expect(backTo(await callback(onlyNewKey, pending)).searchParams.get("latchkey_status")).toBe("connected");
    expect(await bed.harness.userinfoSub(await accessToken(onlyNewKey, bed.tenant, bob))).toBe("bob-login");
    // The old key alone no longer reads anything: it holds nothing and can be destroyed.
    const onlyOldKey = buildTestApp({ database: bed.t.database, keys: [k1] });
    expect((await tokenFor(onlyOldKey, bed.tenant, alice)).status).toBe(500);
  });
});

describe(`THREATS: who may read a token (${kind})`, () => {
  const bed = connectTestbed();
  let victim: string;

  beforeAll(async () => {
    victim = await userToken(bed.t, bed.tenant, "victim");
    await connectUser(bed.t, bed.harness, bed.tenant, victim, "victim-login");
  }, 60_000);

  const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = () => ({
    iss: bed.t.deps.config.publicUrl,
    aud: bed.tenant.appId,
    sub: "victim",
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 600,
  });
  const hs256 = (secret: string | Uint8Array, payload = claims()) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);

  it("a forged user token naming a connected user (alg none, guessed secret, expired, another app's audience or issuer) gets 401 and no token", async () => {
    // The app's real signing secret, as if it had leaked: the claims are still checked.
    const appRow = await bed.t.deps.db
      .selectFrom("apps")
      .selectAll()
      .where("id", "=", bed.tenant.appId)
      .executeTakeFirstOrThrow();
    const realSecret = identitySecretOf(bed.t.deps, appRow);
    const other = await createLatchkeyIdentityApp(bed.t, bed.tenant);
    const forged = {
      "alg none": `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims())}.`,
      "another app's audience": await hs256(realSecret, { ...claims(), aud: other.appId }),
      "another issuer": await hs256(realSecret, { ...claims(), iss: "https://other-latchkey.example" }),
      "another app's own token": await userToken(bed.t, other, "victim"),
      "alg none, signature kept": `${base64url({ alg: "none" })}.${base64url(claims())}.${victim.split(".")[2] ?? ""}`,
      "HS256 with a guessed secret": await hs256("secret"),
      "HS256 keyed with the service key": await hs256(bed.tenant.serviceKey),
      "expired an hour ago": await hs256("secret", { ...claims(), exp: Math.floor(Date.now() / 1000) - 3600 }),
      "the victim's token with its payload swapped": `${victim.split(".")[0] ?? ""}.${base64url({ ...claims(), sub: "victim" })}.${victim.split(".")[2] ?? ""}`,
    };
    for (const [name, token] of Object.entries(forged)) {
      const response = await tokenFor(bed.t, bed.tenant, token);
      const text = await response.text();
      expect(response.status, name).toBe(401);
      expect((JSON.parse(text) as { error: { code: string } }).error.code, name).toBe("INVALID_USER_TOKEN");
      expect(text, name).not.toContain("access_token");
      const listing = await bed.t.call("GET", `/api/apps/${bed.tenant.appId}/app-user-auth/connections`, { token });
      expect(listing.status, name).toBe(401);
    }
    // The genuine token still works: the refusals were about the forgeries.
    await json(await tokenFor(bed.t, bed.tenant, victim), 200);
  });

  it("a user token whose sub is not valid Unicode (an unpaired surrogate) gets 401, and never reads the user whose id the database would confuse it with", async () => {
    const secret = `hs256-${randomBytes(24).toString("hex")}`;
    const created = await json<{ app: { id: string }; service_key: string }>(
      await bed.t.call("POST", `/api/workspaces/${bed.tenant.workspaceId}/apps`, {
        token: bed.tenant.adminKey,
        body: { name: "HS app", allowed_return_origins: [appOrigin], identity: { type: "hs256", secret } },
      }),
      201,
    );
    const hsTenant = { ...bed.tenant, appId: created.app.id, serviceKey: created.service_key };
    const tokenOf = (sub: string) =>
      new SignJWT({ sub })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode(secret));
    // A database stores an unpaired surrogate as U+FFFD: "\ud800" would be read as the user "\ufffd".
    await connectUser(bed.t, bed.harness, hsTenant, await tokenOf("\ufffd"), "replacement-login");
    for (const sub of ["\ud800", "\udfff", "a\ud83d"]) {
      const body = await json<{ error: { code: string } }>(await tokenFor(bed.t, hsTenant, await tokenOf(sub)), 401);
      expect(body.error.code, JSON.stringify(sub)).toBe("INVALID_USER_TOKEN");
    }
    expect(await bed.harness.userinfoSub(await accessToken(bed.t, hsTenant, await tokenOf("\ufffd")))).toBe(
      "replacement-login",
    );
  });

  it("service and admin keys are stored only as their SHA-256 hash, shown once, and listed by prefix only", async () => {
    const created = await json<{ service_key: string; key: { id: string; prefix: string } }>(
      await bed.t.call("POST", `/api/workspaces/${bed.tenant.workspaceId}/apps/${bed.tenant.appId}/service-keys`, {
        token: bed.tenant.adminKey,
        body: { name: "rotation" },
      }),
      201,
    );
    const adminKey = await json<{ api_key: string; key: { id: string } }>(
      await bed.t.call("POST", `/api/workspaces/${bed.tenant.workspaceId}/api-keys`, {
        token: bed.tenant.adminKey,
        body: { name: "ci" },
      }),
      201,
    );
    const serviceRow = await bed.t.deps.db
      .selectFrom("service_keys")
      .selectAll()
      .where("id", "=", created.key.id)
      .executeTakeFirstOrThrow();
    const adminRow = await bed.t.deps.db
      .selectFrom("admin_api_keys")
      .selectAll()
      .where("id", "=", adminKey.key.id)
      .executeTakeFirstOrThrow();
    for (const [row, key] of [
      [serviceRow, created.service_key],
      [adminRow, adminKey.api_key],
    ] as const) {
      expect(row.key_hash).toBe(createHash("sha256").update(key).digest("hex"));
      expect(JSON.stringify(row)).not.toContain(key);
      expect(key.startsWith(row.prefix)).toBe(true);
      expect(key.length - row.prefix.length).toBeGreaterThanOrEqual(32);
    }
    const listings = [
      await bed.t.call("GET", `/api/workspaces/${bed.tenant.workspaceId}/apps/${bed.tenant.appId}/service-keys`, {
        token: bed.tenant.adminKey,
      }),
      await bed.t.call("GET", `/api/workspaces/${bed.tenant.workspaceId}/api-keys`, { token: bed.tenant.adminKey }),
    ];
    for (const listing of listings) {
      const text = await listing.text();
      expect(text).not.toContain(created.service_key);
      expect(text).not.toContain(adminKey.api_key);
      expect(text).not.toContain(serviceRow.key_hash);
    }
    // Both keys work next to the ones made before (rotation), and the service key reads the victim's token.
    await json(
      await bed.t.call(
        "GET",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/users/victim/token`,
        {
          token: created.service_key,
        },
      ),
      200,
    );
    await json(await bed.t.call("GET", `/api/workspaces/${bed.tenant.workspaceId}`, { token: adminKey.api_key }), 200);
  });
});

/** A workspace, app and generic oauth2 connector whose endpoints are the scripted provider's. */
function scriptedTenant(t: TestApp, provider: ScriptedProvider, host = "127.0.0.1"): Promise<Tenant> {
  const base = provider.origin.replace("127.0.0.1", host);
  return createTenant(t, {
    provider: "oauth2",
    client_id: "scripted-client",
    client_secret: `scripted-secret-${randomBytes(12).toString("hex")}`,
    authorization_url: `${base}/authorize`,
    token_url: `${base}/token`,
    revocation_url: `${base}/revoke`,
    userinfo_url: `${base}/userinfo`,
    scopes: ["read"],
  });
}

/**
 * The connect testbed's counterpart for answers a good provider never gives: a scripted provider
 * over real HTTP, a test app and a tenant whose connector is at that provider, started and closed
 * by the calling describe's hooks.
 */
function scriptedTestbed(options: Omit<TestAppOptions, "database"> = {}) {
  let provider: ScriptedProvider | undefined;
  let t: OpenTestApp | undefined;
  let tenant: Tenant | undefined;
  beforeAll(async () => {
    provider = await startScriptedProvider();
    t = await createTestApp(options);
    tenant = await scriptedTenant(t, provider);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  });
  return {
    get provider() {
      return started(provider, "scripted provider");
    },
    get t() {
      return started(t, "app");
    },
    get tenant() {
      return started(tenant, "tenant");
    },
  };
}

const goodTokens = (label: string) =>
  jsonAnswer(200, {
    access_token: `access-${label}-${randomBytes(8).toString("hex")}`,
    refresh_token: `refresh-${label}-${randomBytes(8).toString("hex")}`,
    token_type: "bearer",
    expires_in: 3600,
    scope: "read",
  });

/** initiate, then the provider's redirect back with a code, as the browser would bring it. */
async function scriptedCallback(t: TestApp, tenant: Tenant, user: string): Promise<Response> {
  const state = new URL(await initiate(t, tenant, user)).searchParams.get("state") ?? "";
  return t.call("GET", `/oauth/callback?state=${state}&code=scripted-code-${randomBytes(6).toString("hex")}`);
}

async function expireToken(t: TestApp, appId: string, userId: string): Promise<void> {
  await t.deps.db
    .updateTable("connections")
    .set({ expires_at: new Date(Date.now() - 1000), refresh_cooldown_until: null })
    .where("app_id", "=", appId)
    .where("user_id", "=", userId)
    .execute();
}

const namedUserToken = (t: TestApp, tenant: Tenant, userId: string) =>
  t.call("GET", `/api/apps/${tenant.appId}/app-user-auth/connectors/${tenant.connectorId}/users/${userId}/token`, {
    token: tenant.serviceKey,
  });

describe(`THREATS: logs and error messages — provider error bodies are summarised (${kind})`, () => {
  const marker = `RAW-PROVIDER-BODY-${randomBytes(8).toString("hex")}`;
  const bed = scriptedTestbed();

  beforeAll(() => {
    bed.provider.answer("/userinfo", () => ({
      status: 500,
      headers: { "content-type": "text/html" },
      body: `<h1>${marker}</h1>`,
    }));
  });

  const rawAnswers = {
    "an OAuth error with a description": jsonAnswer(400, {
      error: "invalid_grant",
      error_description: `${marker} for ${"client"}`,
    }),
    "an error code that is markup": jsonAnswer(400, { error: `<script>${marker}</script>` }),
    "an HTML error page": { status: 500, headers: { "content-type": "text/html" }, body: `<html>${marker}</html>` },
    "a 200 that is not JSON": { status: 200, headers: { "content-type": "text/plain" }, body: marker },
    "a refused client with a WWW-Authenticate challenge": jsonAnswer(
      401,
      { error: "invalid_client", error_description: marker },
      {
        "www-authenticate": `Basic realm="${marker}"`,
      },
    ),
  };

  it("a failed code exchange sends the user back with a short error code, never the provider's body", async () => {
    for (const [name, answer] of Object.entries(rawAnswers)) {
      bed.provider.answer("/token", () => answer);
      const user = await userToken(bed.t, bed.tenant, "exchange-user");
      const response = await scriptedCallback(bed.t, bed.tenant, user);
      const location = response.headers.get("location") ?? "";
      const back = backTo(response);
      expect(back.searchParams.get("latchkey_status"), name).toBe("error");
      expect(back.searchParams.get("latchkey_error"), name).toMatch(/^[a-z_]{1,64}$/);
      expect(location, name).not.toContain(marker);
      expect(await response.text(), name).not.toContain(marker);
    }
  });

  it("a failed refresh answers 502/503 with Latchkey's own message, never the provider's body", async () => {
    bed.provider.answer("/token", () => goodTokens("refresh-user"));
    const user = await userToken(bed.t, bed.tenant, "refresh-user");
    expect(backTo(await scriptedCallback(bed.t, bed.tenant, user)).searchParams.get("latchkey_status")).toBe(
      "connected",
    );
    for (const [name, answer] of Object.entries(rawAnswers)) {
      bed.provider.answer("/token", () => answer);
      await expireToken(bed.t, bed.tenant.appId, "refresh-user");
      const response = await namedUserToken(bed.t, bed.tenant, "refresh-user");
      const text = await response.text();
      expect([409, 502, 503], `${name}: ${text}`).toContain(response.status);
      expect(text, name).not.toContain(marker);
      if (response.status === 409) {
        // invalid_grant: reconnect so the next answer is tried on a live connection.
        bed.provider.answer("/token", () => goodTokens("refresh-user"));
        await scriptedCallback(bed.t, bed.tenant, user);
      }
    }
  });

  it("a failed revocation at disconnect is logged as a code, and the connection is removed anyway", async () => {
    bed.provider.answer("/token", () => goodTokens("revoke-user"));
    bed.provider.answer("/revoke", () =>
      jsonAnswer(400, { error: "unsupported_token_type", error_description: marker }),
    );
    const user = await userToken(bed.t, bed.tenant, "revoke-user");
    await scriptedCallback(bed.t, bed.tenant, user);
    const response = await bed.t.call(
      "DELETE",
      `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}`,
      { token: user },
    );
    expect(response.status).toBe(204);
    expect(bed.provider.requestsTo("/revoke").length).toBeGreaterThan(0);
    expect(await connectionRow(bed.t, bed.tenant.appId, "revoke-user")).toBeUndefined();
  });

  it("no provider body reached any log line", () => {
    expect(bed.provider.requestsTo("/userinfo").length).toBeGreaterThan(0);
    expect(bed.t.logs.text).toContain("connect flow step failed");
    expect(bed.t.logs.text).not.toContain(marker);
    expect(bed.t.logs.text).not.toContain(bed.tenant.clientSecret);
  });
});

describe(`THREATS: the server as a client (SSRF) (${kind})`, () => {
  const keys = testKeys();
  const bed = scriptedTestbed({ keys });

  beforeAll(() => {
    // Whatever reaches /elsewhere would get tokens: a client that followed a redirect there would "succeed".
    bed.provider.answer("/elsewhere", () => goodTokens("elsewhere"));
    bed.provider.answer("/userinfo", () => jsonAnswer(200, { sub: "scripted-account" }));
  });

  const redirectTo = (status: number) => ({ status, headers: { location: `${bed.provider.origin}/elsewhere` } });

  it("redirects are not followed on token calls: code exchange, refresh, userinfo and revocation", async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      bed.provider.answer("/token", () => redirectTo(status));
      const user = await userToken(bed.t, bed.tenant, `redirected-${status}`);
      const back = backTo(await scriptedCallback(bed.t, bed.tenant, user));
      expect(back.searchParams.get("latchkey_error"), String(status)).toBe("token_exchange_failed");
    }

    bed.provider.answer("/token", () => goodTokens("redirect-user"));
    bed.provider.answer("/userinfo", () => redirectTo(302));
    const user = await userToken(bed.t, bed.tenant, "redirect-user");
    expect(backTo(await scriptedCallback(bed.t, bed.tenant, user)).searchParams.get("latchkey_status")).toBe(
      "connected",
    );
    bed.provider.answer("/token", () => redirectTo(307));
    await expireToken(bed.t, bed.tenant.appId, "redirect-user");
    expect((await namedUserToken(bed.t, bed.tenant, "redirect-user")).status).toBe(502);
    bed.provider.answer("/revoke", () => redirectTo(307));
    expect(
      (
        await bed.t.call("DELETE", `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}`, {
          token: user,
        })
      ).status,
    ).toBe(204);

    expect(bed.provider.requestsTo("/revoke")).toHaveLength(1);
    expect(bed.provider.requestsTo("/elsewhere")).toEqual([]);
  });

  it("an oversized provider answer is refused, not read whole, and the user is told the exchange failed", async () => {
    const huge = JSON.stringify({ access_token: "x", token_type: "bearer", padding: "a".repeat(3 * 1024 * 1024) });
    bed.provider.answer("/token", () => ({ status: 200, headers: { "content-type": "application/json" }, body: huge }));
    const user = await userToken(bed.t, bed.tenant, "oversized-user");
    const back = backTo(await scriptedCallback(bed.t, bed.tenant, user));
    expect(back.searchParams.get("latchkey_error")).toBe("token_exchange_failed");
    expect(await connectionRow(bed.t, bed.tenant.appId, "oversized-user")).toBeUndefined();
  });

  it("with LATCHKEY_DENY_PRIVATE_NETWORK=true, a provider whose name resolves to loopback is never called", async () => {
    const local = await scriptedTenant(bed.t, bed.provider, "localhost");
    bed.provider.answer("/token", () => goodTokens("local-user"));
    const user = await userToken(bed.t, local, "local-user");
    expect(backTo(await scriptedCallback(bed.t, local, user)).searchParams.get("latchkey_status")).toBe("connected");
    await expireToken(bed.t, local.appId, "local-user");

    const denying = buildTestApp({ database: bed.t.database, keys, env: { LATCHKEY_DENY_PRIVATE_NETWORK: "true" } });
    const before = bed.provider.requests.length;
    const blocked = await namedUserToken(denying, local, "local-user");
    expect([502, 503]).toContain(blocked.status);
    const back = backTo(await scriptedCallback(denying, local, user));
    expect(back.searchParams.get("latchkey_status")).toBe("error");
    expect(bed.provider.requests.length).toBe(before);
  });

  it("templated per-connection values are validated and cannot change the host: the connector's, the app user's and the provider's", async () => {
    const { t, tenant, provider } = bed;
    const connectorsPath = `/api/workspaces/${tenant.workspaceId}/connectors`;
    const before = await tableCounts(t);

    // The admin's value (an Okta org, one DNS label before the chosen Okta domain).
    for (const org of ["evil.example/x", "acme.evil", "acme@evil", "..", ""]) {
      const refused = await t.call("POST", connectorsPath, {
        token: tenant.adminKey,
        body: { provider: "okta", client_id: "c", client_secret: "s", connection_values: { org } },
      });
      expect((await json<{ error: { code: string } }>(refused, 400)).error.code, org).toBe("INVALID_REQUEST");
    }

    // The app user's value (a Zendesk subdomain) at initiate: refused before any flow is stored.
    const zendesk = await json<{ connector: { id: string } }>(
      await t.call("POST", connectorsPath, {
        token: tenant.adminKey,
        body: { provider: "zendesk", client_id: "c", client_secret: "s" },
      }),
      201,
    );
    const afterConnector = await tableCounts(t);
    const user = await userToken(t, tenant, "templated-user");
    for (const subdomain of ["evil.example/x", "evil.example#", "a.b", "x@evil.example", "%2e%2e", "ACME"]) {
      const refused = await t.call(
        "POST",
        `/api/apps/${tenant.appId}/app-user-auth/connectors/${zendesk.connector.id}/initiate`,
        { token: user, body: { connection_values: { subdomain } } },
      );
      expect((await json<{ error: { code: string } }>(refused, 400)).error.code, subdomain).toBe("INVALID_REQUEST");
    }
    expect(await tableCounts(t)).toEqual(afterConnector);
    expect(afterConnector).toEqual({ ...before, connectors: (before.connectors ?? 0) + 1 });

    // The provider's value (a Salesforce instance URL from the token answer) outside its pattern is not
    // kept, so no API call can be sent there.
    const salesforce = await json<{ connector: { id: string } }>(
      await t.call("POST", connectorsPath, {
        token: tenant.adminKey,
        body: {
          provider: "salesforce",
          client_id: "scripted-client",
          client_secret: "scripted-secret",
          endpoints: {
            authorization_url: `${provider.origin}/authorize`,
            token_url: `${provider.origin}/token`,
            // Never the real provider from a test.
            userinfo_url: `${provider.origin}/userinfo`,
          },
        },
      }),
      201,
    );
    provider.answer("/token", () =>
      jsonAnswer(200, {
        access_token: `access-sf-${randomBytes(8).toString("hex")}`,
        refresh_token: "refresh-sf",
        token_type: "Bearer",
        instance_url: "https://acme.my.salesforce.com.evil.example",
        id: "https://login.salesforce.com/id/00D/005",
      }),
    );
    const sfTenant = { ...tenant, connectorId: salesforce.connector.id };
    const back = backTo(await scriptedCallback(t, sfTenant, user));
    expect(back.searchParams.get("latchkey_status")).toBe("connected");
    const stored = await json<{ connection_config: Record<string, string> | null }>(
      await tokenFor(t, sfTenant, user),
      200,
    );
    expect(stored.connection_config?.instance_url).toBeUndefined();
    const requestsBefore = provider.requests.length;
    const call = await t.call(
      "POST",
      `/api/apps/${tenant.appId}/app-user-auth/connectors/${salesforce.connector.id}/users/templated-user/call`,
      { token: tenant.serviceKey, body: { path: "/services/data" } },
    );
    expect((await json<{ error: { code: string } }>(call, 409)).error.code).toBe("CONNECTION_NEEDS_REAUTH");
    expect(provider.requests.length).toBe(requestsBefore);
  });
});

describe(`THREATS: availability — provider timeouts on the connect flow (${kind})`, () => {
  const bed = scriptedTestbed();

  it("a provider that never answers the code exchange holds the callback no longer than the provider timeout; the user is sent back with provider_unavailable", async () => {
    bed.provider.answer("/token", () => "hang");
    const user = await userToken(bed.t, bed.tenant, "hung-user");
    const started = Date.now();
    const back = backTo(await scriptedCallback(bed.t, bed.tenant, user));
    const elapsed = Date.now() - started;
    expect(back.searchParams.get("latchkey_error")).toBe("provider_unavailable");
    expect(elapsed).toBeGreaterThanOrEqual(9_000);
    expect(elapsed).toBeLessThan(20_000);
  }, 40_000);
});

describe(`THREATS: a provider's strange characters cannot break the callback or refresh (${kind})`, () => {
  const bed = scriptedTestbed();

  // PostgreSQL text and jsonb cannot hold U+0000, and jsonb refuses a lone surrogate escape.
  const strange = ["nul\u0000byte", "lone\ud800surrogate", "\udc00", "ünïcödé 𝕏 \u202e"];

  it("NUL bytes and lone surrogates in a provider's account and scopes never turn the callback into a 500", async () => {
    for (const [index, value] of strange.entries()) {
      bed.provider.answer("/token", () =>
        jsonAnswer(200, {
          access_token: `access-${index}`,
          refresh_token: `refresh-${index}`,
          token_type: "bearer",
          expires_in: 3600,
          scope: `read ${value}`,
        }),
      );
      bed.provider.answer("/userinfo", () =>
        jsonAnswer(200, { sub: `id-${value}`, email: `e${value}@example.test`, name: value }),
      );
      const user = await userToken(bed.t, bed.tenant, `strange-${index}`);
      const label = JSON.stringify(value);
      expect(backTo(await scriptedCallback(bed.t, bed.tenant, user)).searchParams.get("latchkey_status"), label).toBe(
        "connected",
      );
      const listed = await json<{ connections: { account: { name: string | null }; scopes: string[] }[] }>(
        await bed.t.call("GET", `/api/apps/${bed.tenant.appId}/app-user-auth/connections`, { token: user }),
        200,
      );
      expect(listed.connections[0]?.scopes, label).toContain("read");
      // What the database cannot hold is dropped, not mangled; ordinary Unicode is kept as sent.
      expect(listed.connections[0]?.account.name, label).toBe(isStorableText(value) ? value : null);
      await json(await namedUserToken(bed.t, bed.tenant, `strange-${index}`), 200);
    }
  });

  it("NUL bytes and lone surrogates in a refresh answer never turn the token route into a 500", async () => {
    bed.provider.answer("/token", () => goodTokens("strange-refresh"));
    bed.provider.answer("/userinfo", () => jsonAnswer(200, { sub: "strange-refresh" }));
    const user = await userToken(bed.t, bed.tenant, "strange-refresh");
    expect(backTo(await scriptedCallback(bed.t, bed.tenant, user)).searchParams.get("latchkey_status")).toBe(
      "connected",
    );
    for (const value of strange) {
      bed.provider.answer("/token", () =>
        jsonAnswer(200, {
          access_token: `fresh${value}`,
          token_type: "bearer",
          expires_in: 3600,
          scope: `read ${value}`,
        }),
      );
      await expireToken(bed.t, bed.tenant.appId, "strange-refresh");
      const served = await json<{ scopes: string[] }>(await namedUserToken(bed.t, bed.tenant, "strange-refresh"), 200);
      expect(served.scopes, JSON.stringify(value)).toContain("read");
    }
  });
});

/**
 * SPEC "Promises": bad input gets a 4xx with a stable code, never a 500, and changes nothing.
 * Every documented route, with real ids, gets malformed path ids, queries and bodies, with valid
 * and with wrong credentials; after every refusal the database must be exactly as before.
 */
describe(`SPEC promise: bad input never gets a 500 and changes nothing, on every documented route (${kind})`, () => {
  const bed = connectTestbed();
  let alice: string;
  let forgedUser: string;
  const ids: Record<string, string> = {};
  let fingerprint: () => Promise<string>;

  beforeAll(async () => {
    alice = await userToken(bed.t, bed.tenant, "alice");
    forgedUser = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(bed.t.deps.config.publicUrl)
      .setAudience(bed.tenant.appId)
      .setExpirationTime("1h")
      .sign(randomBytes(32));
    await connectUser(bed.t, bed.harness, bed.tenant, alice, "alice-login");
    await connectShared(bed.t, bed.harness, bed.tenant, "shared-login");
    await collectIds();
    fingerprint = await databaseFingerprint(bed.t);
  }, 90_000);

  /** Real ids for every path parameter; routes that change or delete things get spare ones. */
  async function collectIds(): Promise<void> {
    const ws = `/api/workspaces/${bed.tenant.workspaceId}`;
    const spareMember = await json<{ member: { id: string } }>(
      await bed.t.call("POST", `${ws}/members`, {
        token: bed.tenant.adminKey,
        body: { email: "spare@example.test", role: "admin" },
      }),
      201,
    );
    const spareAdminKey = await json<{ key: { id: string } }>(
      await bed.t.call("POST", `${ws}/api-keys`, { token: bed.tenant.adminKey, body: { name: "spare" } }),
      201,
    );
    const spareServiceKey = await json<{ key: { id: string } }>(
      await bed.t.call("POST", `${ws}/apps/${bed.tenant.appId}/service-keys`, {
        token: bed.tenant.adminKey,
        body: { name: "spare" },
      }),
      201,
    );
    const hookBody = { url: "https://hooks.example.test/x", events: ["connection.created"] };
    const createHook = async () =>
      (
        await json<{ webhook: { id: string } }>(
          await bed.t.call("POST", `${ws}/webhooks`, { token: bed.tenant.adminKey, body: hookBody }),
          201,
        )
      ).webhook.id;
    const webhookId = await createHook();
    const spareWebhookId = await createHook();
    // A connection.created after the webhook exists: its delivery is the {deliveryId} to fuzz.
    await connectUser(bed.t, bed.harness, bed.tenant, await userToken(bed.t, bed.tenant, "bob"), "bob-login");
    const deliveries = await json<{ deliveries: { id: string }[] }>(
      await bed.t.call("GET", `${ws}/webhooks/${webhookId}/deliveries`, { token: bed.tenant.adminKey }),
      200,
    );
    const members = await json<{ members: { id: string; email: string }[] }>(
      await bed.t.call("GET", `${ws}/members`, { token: bed.tenant.adminKey }),
      200,
    );
    Object.assign(ids, {
      workspaceId: bed.tenant.workspaceId,
      appId: bed.tenant.appId,
      connectorId: bed.tenant.connectorId,
      memberId: members.members.find((m) => m.email === "admin@example.test")?.id ?? "-",
      userId: "alice",
      provider: "oidc",
      providerId: "google",
      // Ids nothing in this database has: the routes answer 404 for them, which the fuzz accepts.
      sessionId: "ses_unknown",
      integrationType: "oidc",
      file: "index.html",
      connectionId: "conn_unknown",
      spareAppId: (await createLatchkeyIdentityApp(bed.t, bed.tenant)).appId,
      spareConnectorId: (await createConnector(bed.t, bed.harness, bed.tenant)).connectorId,
      spareMemberId: spareMember.member.id,
      webhookId,
      spareWebhookId,
      deliveryId: deliveries.deliveries[0]?.id ?? fail("no webhook delivery to fuzz"),
      spareAdminKeyId: spareAdminKey.key.id,
      spareServiceKeyId: spareServiceKey.key.id,
    });
  }

  function fail(message: string): never {
    throw new Error(message);
  }

  function idFor(doc: RouteDoc, param: string): string {
    const changes = doc.method === "patch" || doc.method === "delete";
    if (changes && param === "appId" && doc.path === "/api/workspaces/{workspaceId}/apps/{appId}")
      return ids.spareAppId ?? "";
    if (changes && param === "connectorId" && doc.path.startsWith("/api/workspaces/{workspaceId}/connectors/"))
      return ids.spareConnectorId ?? "";
    if (changes && param === "memberId") return ids.spareMemberId ?? "";
    if (doc.method === "delete" && param === "webhookId") return ids.spareWebhookId ?? "";
    if (param === "keyId")
      return (doc.path.includes("service-keys") ? ids.spareServiceKeyId : ids.spareAdminKeyId) ?? "";
    const id = ids[param];
    if (id === undefined) throw new Error(`no id for {${param}} in ${doc.path}: add one to collectIds`);
    return id;
  }

  function concretePath(doc: RouteDoc, replaced?: { param: string; segment: string }): string {
    return doc.path.replace(/\{(\w+)\}/g, (_, param: string) =>
      param === replaced?.param ? replaced.segment : encodeURIComponent(idFor(doc, param)),
    );
  }

  function credentials(doc: RouteDoc, valid: boolean): Record<string, string> {
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const wrong = (prefix: string) => `${prefix}${randomBytes(32).toString("base64url")}`;
    switch (doc.auth) {
      case "none":
        return {};
      case "operator":
        return bearer(valid ? testOperatorKey : wrong("op_"));
      case "workspace":
        return bearer(valid ? bed.tenant.adminKey : wrong("lk_admin_"));
      case "service":
        return bearer(valid ? bed.tenant.serviceKey : wrong("lk_svc_"));
      case "user":
        return bearer(valid ? alice : forgedUser);
      case "service+user":
        return {
          ...bearer(valid ? bed.tenant.serviceKey : wrong("lk_svc_")),
          "on-behalf-of": `Bearer ${valid ? alice : forgedUser}`,
        };
    }
  }

  /** A body each route accepts; the fuzz breaks one part of it at a time. */
  function validBody(doc: RouteDoc): Record<string, unknown> | undefined {
    const bodies: Record<string, () => Record<string, unknown>> = {
      "post /api/operator/workspaces": () => ({ name: "Fuzz", plan: "free", admin_email: "fuzz@example.test" }),
      "patch /api/operator/workspaces/{workspaceId}": () => ({ name: "Fuzzed", plan: "builder" }),
      "post /api/workspaces/{workspaceId}/members": () => ({
        email: `m-${randomBytes(4).toString("hex")}@example.test`,
        role: "member",
      }),
      "patch /api/workspaces/{workspaceId}/members/{memberId}": () => ({ role: "admin" }),
      "post /api/workspaces/{workspaceId}/api-keys": () => ({ name: "fuzz" }),
      "post /api/workspaces/{workspaceId}/apps": () => ({
        name: "Fuzz",
        allowed_return_origins: [appOrigin],
        identity: { type: "latchkey" },
      }),
      "patch /api/workspaces/{workspaceId}/apps/{appId}": () => ({
        name: "Fuzz",
        allowed_return_origins: [appOrigin],
        identity: { type: "latchkey" },
      }),
      "post /api/workspaces/{workspaceId}/apps/{appId}/service-keys": () => ({ name: "fuzz" }),
      "post /api/apps/{appId}/users/{userId}/token": () => ({ expires_in: 600 }),
      "post /api/workspaces/{workspaceId}/connectors": () => ({
        provider: "oauth2",
        name: "Fuzz",
        client_id: "fuzz-client",
        client_secret: "fuzz-secret",
        scopes: ["read"],
        authorization_url: "https://provider.example/authorize",
        token_url: "https://provider.example/token",
        authorize_params: { prompt: "consent" },
        account_fields: { id: "data.id" },
      }),
      "patch /api/workspaces/{workspaceId}/connectors/{connectorId}": () => ({
        name: "Fuzz",
        scopes: ["openid"],
        options: { authorize_params: { prompt: "consent" } },
      }),
      "post /api/apps/{appId}/app-user-auth/connectors/{connectorId}/initiate": () => ({
        return_to: `${appOrigin}/back`,
      }),
      "post /api/workspaces/{workspaceId}/apps/{appId}/connectors/{connectorId}/initiate": () => ({
        return_to: appOrigin,
      }),
      "post /api/console/sign-in": () => ({ email: "admin@example.test", password: "not-the-password-1" }),
      "post /api/console/setup": () => ({ token: "t".repeat(43), password: "a-long-password-1" }),
      "post /api/console/sign-out": () => ({}),
      "post /api/workspaces/{workspaceId}/invitations": () => ({
        email: `i-${randomBytes(4).toString("hex")}@example.test`,
        role: "member",
      }),
      "post /api/workspaces/{workspaceId}/apps/{appId}/test-token": () => ({ token: "not-a-token" }),
      "post /api/workspaces/{workspaceId}/webhooks": () => ({
        url: "https://hooks.example.test/x",
        events: ["connection.created"],
        description: "fuzz",
        status: "enabled",
      }),
      "patch /api/workspaces/{workspaceId}/webhooks/{webhookId}": () => ({
        url: "https://hooks.example.test/x",
        events: ["connection.created"],
        description: "fuzz",
        status: "enabled",
      }),
      "post /api/workspaces/{workspaceId}/webhooks/{webhookId}/rotate-secret": () => ({ overlap_seconds: 60 }),
      // The proxy: the oidc connector has no API host, so even a valid request is refused before sending.
      "post /api/apps/{appId}/connectors/{integrationType}/call": () => ({ method: "GET", path: "/me" }),
      "post /api/apps/{appId}/app-user-auth/connectors/{connectorId}/call": () => ({ method: "GET", path: "/me" }),
      "post /api/apps/{appId}/app-user-auth/connectors/{connectorId}/users/{userId}/call": () => ({
        method: "GET",
        path: "/me",
      }),
    };
    const make = bodies[`${doc.method} ${doc.path}`];
    if (doc.body !== undefined && make === undefined)
      throw new Error(`no valid body for ${doc.method} ${doc.path}: add one`);
    return make?.();
  }

  interface Attempt {
    label: string;
    path: string;
    headers: Record<string, string>;
    body?: string | Blob;
  }

  /** Sends one attempt; a refusal must be a 4xx in the error envelope and leave the database untouched. */
  async function expectNoServerError(doc: RouteDoc, attempt: Attempt): Promise<void> {
    const before = await fingerprint();
    const response = await bed.t.app.request(attempt.path, {
      method: doc.method.toUpperCase(),
      headers: attempt.headers,
      ...(attempt.body !== undefined && { body: attempt.body }),
    });
    const text = await response.text();
    const where = `${doc.method.toUpperCase()} ${doc.path} — ${attempt.label} → ${response.status} ${text.slice(0, 300)}`;
    expect(response.status, where).toBeLessThan(500);
    if (response.status < 400) return;
    const htmlCallbackPage =
      doc.path === "/oauth/callback" && (response.headers.get("content-type") ?? "").startsWith("text/html");
    if (!htmlCallbackPage) {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      expect(errorCodes, where).toContain(body.error?.code);
      expect(statusOf(body.error?.code as ErrorCode), where).toBe(response.status);
      expect(typeof body.error?.message, where).toBe("string");
    }
    expect(await fingerprint(), `${where}: a refused request changed the database`).toBe(before);
  }

  const badSegments = [
    "%00",
    "a%00b",
    "%E0%A4%A",
    "%ED%A0%80",
    "%FF%FE",
    "%C0%80",
    "%",
    "%G0",
    "%F0%9F%92%A9%C3%BC%E2%80%AE",
    "..%2F..%2Fapi",
    "%2e%2e",
    "%20",
    "x".repeat(2000),
    "__proto__",
    "-1",
  ];

  const hugeString = "h".repeat(60_000);
  const badValues: unknown[] = [
    null,
    0,
    -1,
    1.5,
    1e308,
    true,
    "",
    " ",
    [],
    {},
    [null],
    { "k\u0000": 1 },
    "a\u0000b",
    "\u0000",
    "x\ud800",
    "\udfff",
    "ünïcödé 𝕏 \u202e",
    "%00",
    "%E0%A4%A",
    "<script>alert(1)</script>",
    "'; drop table apps; --",
    hugeString,
  ];

  const jsonType = "application/json";
  const rawBodies: [label: string, body: string | Blob, contentType: string][] = [
    ["an array", "[]", jsonType],
    ["an array of objects", "[{}]", jsonType],
    ["a string", '"x"', jsonType],
    ["a number", "42", jsonType],
    ["null", "null", jsonType],
    ["invalid JSON", '{"a":', jsonType],
    ["a raw NUL inside a JSON string", '{"name":"a\u0000b"}', jsonType],
    ["an escaped NUL key", '{"\\u0000":1}', jsonType],
    [
      "an escaped NUL value in every field",
      '{"name":"\\u0000","email":"\\u0000","return_to":"\\u0000","client_id":"\\u0000"}',
      jsonType,
    ],
    ["a lone surrogate escape", '{"name":"\\ud800"}', jsonType],
    ["__proto__ and constructor keys", '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}', jsonType],
    ["arrays nested 5000 deep", `${"[".repeat(5000)}${"]".repeat(5000)}`, jsonType],
    ["objects nested 3000 deep", `${'{"a":'.repeat(3000)}1${"}".repeat(3000)}`, jsonType],
    [
      "invalid UTF-8",
      new Blob([
        new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
      ]),
      jsonType,
    ],
    ["a byte order mark", "\ufeff{}", jsonType],
    ["two JSON values", "{} {}", jsonType],
    ["a huge array", JSON.stringify(Array(10_000).fill(0)), jsonType],
    ["plain text", "hello", "text/plain"],
    ["a form", "a=b", "application/x-www-form-urlencoded"],
    ["JSON announced as UTF-16", "{}", "application/json; charset=utf-16"],
  ];

  /** Every part of a body (leaves, objects, arrays) replaced in turn by `value`. */
  function* mutations(body: unknown, value: unknown, path: string[] = []): Generator<[string, unknown]> {
    if (path.length > 0) yield [path.join("."), value];
    if (body === null || typeof body !== "object") return;
    for (const [key, child] of Object.entries(body)) {
      for (const [childPath, replaced] of mutations(child, value, [...path, key])) {
        yield [
          childPath,
          Array.isArray(body)
            ? body.map((item, i) => (String(i) === key ? replaced : item))
            : { ...body, [key]: replaced },
        ];
      }
    }
  }

  const docs = () => bed.t.docs.routes.filter((doc) => doc.method !== "put");

  it("documents routes to fuzz, and has real ids for every path parameter", () => {
    expect(docs().length).toBeGreaterThanOrEqual(40);
    for (const doc of docs()) expect(concretePath(doc)).not.toMatch(/[{}]/);
  });

  it("malformed path ids (NUL, broken percent-encoding, unicode, traversal, huge) with valid and wrong credentials", async () => {
    for (const doc of docs()) {
      const params = [...doc.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? "");
      const body = validBody(doc);
      for (const param of params) {
        for (const segment of badSegments) {
          for (const valid of [true, false]) {
            await expectNoServerError(doc, {
              label: `{${param}} = ${segment.slice(0, 40)}, ${valid ? "valid" : "wrong"} credentials`,
              path: concretePath(doc, { param, segment }),
              headers: { ...credentials(doc, valid), ...(body && { "content-type": jsonType }) },
              ...(body && { body: JSON.stringify(body) }),
            });
          }
        }
      }
    }
  }, 240_000);

  it("malformed query strings: NUL, broken encoding, repeated and array-style keys, huge values", async () => {
    const queryVariants = (key: string) =>
      ["%00", "a%00b", "%E0%A4%A", "%ED%A0%80", "%FF", "-1", "1e400", "q".repeat(5000)]
        .map((value) => `${key}=${value}`)
        .concat(`${key}[]=x`, `${key}=a&${key}=b`);
    for (const doc of docs().filter((d) => d.method === "get")) {
      const keys = doc.query instanceof z.ZodObject ? Object.keys(doc.query.shape) : [];
      for (const query of [...keys.flatMap(queryVariants), "%00=%00", "x=%E0%A4%A&%ED%A0%80=1", "%=%", "&&&=&"]) {
        await expectNoServerError(doc, {
          label: `?${query.slice(0, 60)}`,
          path: `${concretePath(doc)}?${query}`,
          headers: credentials(doc, true),
        });
      }
    }
  }, 240_000);

  it("whole bodies of the wrong kind (arrays, scalars, broken JSON, NUL, deep nesting, invalid UTF-8, other content types), with valid and wrong credentials", async () => {
    for (const doc of docs().filter((d) => d.method !== "get")) {
      for (const [label, body, contentType] of rawBodies) {
        for (const valid of [true, false]) {
          await expectNoServerError(doc, {
            label: `${label}, ${valid ? "valid" : "wrong"} credentials`,
            path: concretePath(doc),
            headers: { ...credentials(doc, valid), "content-type": contentType },
            body,
          });
        }
      }
    }
  }, 240_000);

  it("every field of a valid body replaced by wrong types, NUL bytes, lone surrogates, unicode and huge strings", async () => {
    for (const doc of docs().filter((d) => d.body !== undefined)) {
      for (const value of badValues) {
        for (const [field, body] of mutations(validBody(doc), value)) {
          await expectNoServerError(doc, {
            label: `${field} = ${JSON.stringify(value)?.slice(0, 40)}`,
            path: concretePath(doc),
            headers: { ...credentials(doc, true), "content-type": jsonType },
            body: JSON.stringify(body),
          });
        }
      }
    }
  }, 240_000);

  it("a NUL in a path id, a query filter or a JSON string is refused with 400 INVALID_REQUEST (PostgreSQL text cannot hold it)", async () => {
    const ws = `/api/workspaces/${bed.tenant.workspaceId}`;
    const cases: [method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>][] = [
      ["GET", `/api/apps/%00/app-user-auth/connections`, alice],
      [
        "GET",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/%00/token`,
        bed.tenant.serviceKey,
        undefined,
        { "on-behalf-of": `Bearer ${alice}` },
      ],
      ["GET", `/api/apps/${bed.tenant.appId}/external-auth/tokens/%00`, bed.tenant.serviceKey],
      ["GET", `/api/operator/workspaces/%00`, testOperatorKey],
      ["GET", `${ws}/apps/a%00b`, bed.tenant.adminKey],
      ["GET", `${ws}/connections?app_id=%00`, bed.tenant.adminKey],
      ["GET", `${ws}/connections?cursor=%00`, bed.tenant.adminKey],
      [
        "POST",
        `/api/operator/workspaces`,
        testOperatorKey,
        { name: "a\u0000b", plan: "free", admin_email: "nul@example.test" },
      ],
      ["PATCH", `${ws}/apps/${ids.spareAppId ?? ""}`, bed.tenant.adminKey, { name: "a\u0000b" }],
      ["PATCH", `${ws}/connectors/${ids.spareConnectorId ?? ""}`, bed.tenant.adminKey, { name: "a\u0000b" }],
      [
        "PATCH",
        `${ws}/connectors/${ids.spareConnectorId ?? ""}`,
        bed.tenant.adminKey,
        { options: { authorize_params: { prompt: "a\u0000" } } },
      ],
      [
        "PATCH",
        `${ws}/connectors/${ids.spareConnectorId ?? ""}`,
        bed.tenant.adminKey,
        { options: { authorize_params: { prompt: "\ud800" } } },
      ],
      ["POST", `${ws}/api-keys`, bed.tenant.adminKey, { name: "\u0000" }],
    ];
    for (const [method, path, token, body, headers] of cases) {
      const before = await fingerprint();
      const response = await bed.t.call(method, path, {
        token,
        ...(body !== undefined && { body }),
        ...(headers && { headers }),
      });
      const text = await response.text();
      expect(response.status, `${method} ${path}: ${text}`).toBe(400);
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe("INVALID_REQUEST");
      expect(await fingerprint()).toBe(before);
    }
    const named = await json<{ error: { message: string } }>(
      await bed.t.call("GET", `${ws}/apps/a%00b`, { token: bed.tenant.adminKey }),
      400,
    );
    expect(named.error.message).toBe("Invalid appId: must not contain NUL characters");
  });

  it("logged no unhandled error while fuzzing", () => {
    expect(bed.t.logs.text).toContain('"status":400');
    expect(bed.t.logs.text).not.toContain("unhandled error");
  });
});
