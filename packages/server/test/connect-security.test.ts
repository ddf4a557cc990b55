import { randomBytes } from "node:crypto";
import { callbackErrors, latchkeyCallbackErrors, providerCallbackErrors } from "@latchkey/contracts";
import { describe, expect, it } from "vitest";
import { TestClock } from "./support/test-app.ts";
import { testDbKind } from "./support/test-database.ts";
import {
  appOrigin,
  otherOrigin,
  callback,
  connectionsSnapshot,
  connectTestbed,
  initiate,
  json,
  tableCounts,
  tokenFor,
} from "./support/connect-testbed.ts";

/** THREATS.md, "The connect flow": every attack gets a named test. */
describe(`connect flow threats (${testDbKind()})`, () => {
  const clock = new TestClock();
  const bed = connectTestbed({ clock });
  const { secrets, tokenOf, providerRedirect } = bed;

  /** Where the callback sent the browser; a latchkey_error there is always one of the contract's values. */
  function backTo(response: Response): URL {
    expect(response.status).toBe(302);
    const back = new URL(response.headers.get("location") ?? "");
    const error = back.searchParams.get("latchkey_error");
    if (error !== null) expect(callbackErrors).toContain(error);
    return back;
  }

  async function expectErrorPage(response: Response, reflected: string[] = []): Promise<void> {
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    const page = await response.text();
    expect(page).toContain("Connection failed");
    for (const value of reflected) expect(page).not.toContain(value);
  }

  it("refuses a forged state with an error page that reflects nothing, and stores nothing", async () => {
    const before = await tableCounts(bed.t);
    const forged = randomBytes(32).toString("base64url");
    const marker = "<script>alert(1)</script>";
    await expectErrorPage(
      await bed.t.call("GET", `/oauth/callback?state=${forged}&code=${encodeURIComponent(marker)}&iss=x`),
      [forged, marker, "alert"],
    );
    await expectErrorPage(await bed.t.call("GET", "/oauth/callback"));
    await expectErrorPage(await bed.t.call("GET", `/oauth/callback?state=${encodeURIComponent(marker)}`), [marker]);
    await expectErrorPage(await bed.t.call("GET", "/oauth/callback?error=access_denied"));
    expect(await tableCounts(bed.t)).toEqual(before);
  });

  it("accepts a callback once: a replay gets the error page and redeems nothing", async () => {
    const alice = await tokenOf("alice");
    const redirect = await providerRedirect(alice, "alice-login");
    const grants = bed.harness.counters.authorizationCodeGrants;
    expect(backTo(await callback(bed.t, redirect)).searchParams.get("latchkey_status")).toBe("connected");
    const snapshot = await connectionsSnapshot(bed.t);

    await expectErrorPage(await callback(bed.t, redirect), [redirect.searchParams.get("code") ?? "-"]);
    expect(bed.harness.counters.authorizationCodeGrants).toBe(grants + 1);
    expect(await connectionsSnapshot(bed.t)).toEqual(snapshot);
  });

  it("does not use up a state on a HEAD request (link checkers)", async () => {
    const alice = await tokenOf("alice-head");
    const redirect = await providerRedirect(alice, "alice-login");
    const head = await bed.t.call("HEAD", `/oauth/callback${redirect.search}`);
    expect(head.status).toBe(405);
    expect(backTo(await callback(bed.t, redirect)).searchParams.get("latchkey_status")).toBe("connected");
  });

  it("lets only one of two concurrent callbacks with the same state through", async () => {
    const bob = await tokenOf("bob");
    const redirect = await providerRedirect(bob, "bob-login");
    const answers = await Promise.all([
      callback(bed.t, redirect),
      callback(bed.t, redirect),
      callback(bed.t, redirect),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([302, 400, 400]);
  });

  it("refuses an expired state (10 minutes) without redeeming the code", async () => {
    const carol = await tokenOf("carol");
    const redirect = await providerRedirect(carol, "carol-login");
    const grants = bed.harness.counters.authorizationCodeGrants;
    clock.advance(10 * 60 * 1000 + 1000);
    const back = backTo(await callback(bed.t, redirect));
    expect(back.searchParams.get("latchkey_status")).toBe("error");
    expect(back.searchParams.get("latchkey_error")).toBe("invalid_state");
    expect(bed.harness.counters.authorizationCodeGrants).toBe(grants);
    const stored = await bed.t.deps.db.selectFrom("connections").select("id").where("user_id", "=", "carol").execute();
    expect(stored).toEqual([]);
    // Consumed: not even an expired state can be tried twice.
    await expectErrorPage(await callback(bed.t, redirect));
  });

  it("finishes a flow for the user who started it: an attacker's callback opened by a victim links nothing to the victim", async () => {
    const mallory = await tokenOf("mallory");
    const victim = await tokenOf("victim");
    // Mallory starts a flow with her own account and makes the victim's browser finish it.
    const attackerRedirect = await providerRedirect(mallory, "mallory-login");
    expect(backTo(await callback(bed.t, attackerRedirect)).searchParams.get("latchkey_status")).toBe("connected");
    await json(await tokenFor(bed.t, bed.tenant, victim), 404);
    const mallorysOwn = await json<{ access_token: string }>(await tokenFor(bed.t, bed.tenant, mallory), 200);
    secrets.add(mallorysOwn.access_token);
    expect(await bed.harness.userinfoSub(mallorysOwn.access_token)).toBe("mallory-login");
  });

  it("refuses another user's code injected under the victim's state (PKCE binds the code to its flow)", async () => {
    const mallory = await tokenOf("mallory2");
    const victim = await tokenOf("victim2");
    const attackerRedirect = await providerRedirect(mallory, "mallory-login");
    const victimUrl = new URL(await initiate(bed.t, bed.tenant, victim));
    secrets.add(victimUrl.searchParams.get("state") ?? "");
    const injected = new URL(attackerRedirect);
    injected.searchParams.set("state", victimUrl.searchParams.get("state") ?? "");

    const back = backTo(await callback(bed.t, injected));
    expect(back.searchParams.get("latchkey_status")).toBe("error");
    expect(back.searchParams.get("latchkey_error")).toBe("token_exchange_failed");
    await json(await tokenFor(bed.t, bed.tenant, victim), 404);
    await json(await tokenFor(bed.t, bed.tenant, mallory), 404);
  });

  it("refuses a response whose iss is not the connector's provider (mix-up, RFC 9207), without redeeming the code", async () => {
    const dave = await tokenOf("dave");
    const redirect = await providerRedirect(dave, "dave-login");
    expect(redirect.searchParams.get("iss")).toBe(bed.harness.issuer);
    const grants = bed.harness.counters.authorizationCodeGrants;

    const mixedUp = new URL(redirect);
    mixedUp.searchParams.set("iss", "https://attacker.example");
    const back = backTo(await callback(bed.t, mixedUp));
    expect(back.searchParams.get("latchkey_status")).toBe("error");
    expect(back.searchParams.get("latchkey_error")).toBe("invalid_response");
    expect(bed.harness.counters.authorizationCodeGrants).toBe(grants);
    await json(await tokenFor(bed.t, bed.tenant, dave), 404);
  });

  it("refuses a response without iss from a provider that advertises it", async () => {
    const erin = await tokenOf("erin");
    const redirect = await providerRedirect(erin, "erin-login");
    const stripped = new URL(redirect);
    stripped.searchParams.delete("iss");
    const back = backTo(await callback(bed.t, stripped));
    expect(back.searchParams.get("latchkey_error")).toBe("invalid_response");
    await json(await tokenFor(bed.t, bed.tenant, erin), 404);
  });

  it("passes the provider's standard error codes through and any other as provider_error, never echoing it", async () => {
    const cases = {
      access_denied: "access_denied",
      CONSENT_REQUIRED: "consent_required",
      redirect_uri_mismatch: "provider_error",
      "<b>marker</b>": "provider_error",
    };
    for (const [index, [sent, expected]] of Object.entries(cases).entries()) {
      const user = await tokenOf(`provider-error-${index}`);
      const redirect = await providerRedirect(user, `provider-error-login-${index}`);
      const grants = bed.harness.counters.authorizationCodeGrants;
      const refused = new URL(redirect);
      refused.searchParams.delete("code");
      refused.searchParams.set("error", sent);
      const response = await callback(bed.t, refused);
      const back = backTo(response);
      expect(back.searchParams.get("latchkey_status"), sent).toBe("error");
      expect(back.searchParams.get("latchkey_error"), sent).toBe(expected);
      expect(response.headers.get("location"), sent).not.toContain("marker");
      expect(bed.harness.counters.authorizationCodeGrants, sent).toBe(grants);
    }
  });

  it("documents exactly the contract's latchkey_error values on the callback", async () => {
    const document = (await json(await bed.t.call("GET", "/openapi.json"), 200)) as {
      paths: Record<string, { get?: { summary?: string } }>;
    };
    const summary = document.paths["/oauth/callback"]?.get?.summary ?? "";
    const listed = (pattern: RegExp) =>
      (summary.match(pattern)?.[1] ?? "").split(/, /).map((item) => item.split(" ")[0]);
    expect(listed(/the provider's OAuth error code \(one of ([^)]*)\)/)).toEqual([...providerCallbackErrors]);
    const ownPart = summary.slice(summary.indexOf(") or one of ") + ") or one of ".length);
    const own = [...ownPart.matchAll(/(?:^|, )([a-z_]+) \(/g)].map((match) => match[1]);
    expect(own).toEqual([...latchkeyCallbackErrors]);
  });

  it("refuses a return_to that is not exactly an allowed origin, storing no state", async () => {
    const frank = await tokenOf("frank");
    const before = await tableCounts(bed.t);
    for (const returnTo of [
      "https://app.example.test.evil.example/",
      "https://evil.example/?https://app.example.test",
      "https://app.example.test@evil.example/",
      "https://user:pass@app.example.test/",
      "http://app.example.test/",
      "https://app.example.test:8443/",
      "javascript:alert(1)//https://app.example.test",
      "//app.example.test/",
      "/relative",
      "https:\\\\app.example.test",
      "https://evil.example\\@app.example.test",
    ]) {
      const response = await bed.t.call(
        "POST",
        `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/initiate`,
        {
          token: frank,
          body: { return_to: returnTo },
        },
      );
      const body = await json<{ error: { code: string } }>(response, 400);
      expect(body.error.code, returnTo).toBe("RETURN_TO_NOT_ALLOWED");
    }
    expect(await tableCounts(bed.t)).toEqual(before);
  });

  it("requests only the connector's scopes: a caller cannot add any", async () => {
    const gina = await tokenOf("gina");
    const path = `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/initiate`;
    const before = await tableCounts(bed.t);
    const refused = await json<{ error: { code: string } }>(
      await bed.t.call("POST", path, { token: gina, body: { return_to: appOrigin, scopes: ["api:write"] } }),
      400,
    );
    expect(refused.error.code).toBe("INVALID_REQUEST");
    expect(await tableCounts(bed.t)).toEqual(before);
    const url = new URL(await initiate(bed.t, bed.tenant, gina, undefined, {}));
    const viaQuery = new URL(
      (await json<{ redirect_url: string }>(await bed.t.call("POST", `${path}?scope=api:write`, { token: gina }), 200))
        .redirect_url,
    );
    expect(url.searchParams.get("scope")).toBe("openid email profile api:read");
    expect(viaQuery.searchParams.get("scope")).toBe("openid email profile api:read");
  });

  it("refuses app-user connects on a free plan with 402 PLAN_REQUIRED naming builder, storing nothing", async () => {
    const starter = await bed.newTenant("starter");
    const user = await tokenOf("henry", starter);
    secrets.add(starter.serviceKey);
    const before = await tableCounts(bed.t);
    const body = await json<{ error: { code: string; message: string; details: { required_plan: string } } }>(
      await bed.t.call("POST", `/api/apps/${starter.appId}/app-user-auth/connectors/${starter.connectorId}/initiate`, {
        token: user,
      }),
      402,
    );
    expect(body.error.code).toBe("PLAN_REQUIRED");
    expect(body.error.message).toContain("builder");
    expect(body.error.details.required_plan).toBe("builder");
    expect(await tableCounts(bed.t)).toEqual(before);
  });

  it("refuses to start a flow for a disabled connector (404), and a flow started before it was disabled fails", async () => {
    const ivan = await tokenOf("ivan");
    const redirect = await providerRedirect(ivan, "ivan-login");
    await json(
      await bed.t.call("PATCH", `/api/workspaces/${bed.tenant.workspaceId}/connectors/${bed.tenant.connectorId}`, {
        token: bed.tenant.adminKey,
        body: { status: "disabled" },
      }),
      200,
    );
    try {
      await json(
        await bed.t.call(
          "POST",
          `/api/apps/${bed.tenant.appId}/app-user-auth/connectors/${bed.tenant.connectorId}/initiate`,
          {
            token: ivan,
          },
        ),
        404,
      );
      const back = backTo(await callback(bed.t, redirect));
      expect(back.searchParams.get("latchkey_error")).toBe("connector_unavailable");
    } finally {
      await json(
        await bed.t.call("PATCH", `/api/workspaces/${bed.tenant.workspaceId}/connectors/${bed.tenant.connectorId}`, {
          token: bed.tenant.adminKey,
          body: { status: "enabled" },
        }),
        200,
      );
    }
  });

  it("does not send the user back to an origin removed from the app while the flow was pending", async () => {
    const dave = await tokenOf("dave-removed-origin");
    const redirect = await providerRedirect(dave, "dave-login"); // return_to: the first allowed origin
    const grants = bed.harness.counters.authorizationCodeGrants;
    const setOrigins = (origins: string[]) =>
      bed.t.call("PATCH", `/api/workspaces/${bed.tenant.workspaceId}/apps/${bed.tenant.appId}`, {
        token: bed.tenant.adminKey,
        body: { allowed_return_origins: origins },
      });
    expect((await setOrigins([otherOrigin])).status).toBe(200);
    try {
      await expectErrorPage(await callback(bed.t, redirect), [appOrigin]);
      expect(bed.harness.counters.authorizationCodeGrants).toBe(grants);
      const stored = await bed.t.deps.db
        .selectFrom("connections")
        .select("id")
        .where("user_id", "=", "dave-removed-origin")
        .execute();
      expect(stored).toEqual([]);
    } finally {
      expect((await setOrigins([appOrigin, otherOrigin])).status).toBe(200);
    }
  });

  it("writes no token, secret, code, state or key to the logs", () => {
    const text = bed.t.logs.text;
    expect(secrets.foundIn(text)).toEqual([]);
  });
});
