import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createClientFromRequest, LatchkeyError } from "../src/index.ts";
import { appId, serviceKey, tokenAnswer, userToken } from "./support/fixtures.ts";
import { closeServer, listen, startRecordingServer, type RecordingServer } from "./support/recording-server.ts";

let latchkey: RecordingServer;
beforeAll(async () => {
  latchkey = await startRecordingServer();
  latchkey.respond({ status: 200, body: tokenAnswer });
});
afterAll(() => latchkey.close());
beforeEach(() => {
  latchkey.requests.length = 0;
  vi.stubEnv("LATCHKEY_URL", latchkey.url);
  vi.stubEnv("LATCHKEY_SERVICE_KEY", serviceKey);
  vi.stubEnv("LATCHKEY_APP_ID", undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

function incoming(headers: Record<string, string>): Request {
  return new Request("https://backend.test/fn", { headers });
}

async function currentUserCall(request: Parameters<typeof createClientFromRequest>[0]) {
  await createClientFromRequest(request).asServiceRole.connectors.getCurrentAppUserConnection("con_1");
  return latchkey.onlyRequest();
}

describe("createClientFromRequest with a Fetch Request", () => {
  it("takes the user token and app id from the request and the server and service key from the env", async () => {
    const sent = await currentUserCall(incoming({ Authorization: `Bearer ${userToken}`, "X-App-Id": appId }));

    expect(sent.path).toBe(`/api/apps/${appId}/app-user-auth/connectors/con_1/token`);
    expect(sent.headers.authorization).toBe(`Bearer ${serviceKey}`);
    expect(sent.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
    expect(sent.headers["x-app-id"]).toBe(appId);
  });

  it("falls back to LATCHKEY_APP_ID when the request has no X-App-Id", async () => {
    vi.stubEnv("LATCHKEY_APP_ID", "app_from_env");

    const sent = await currentUserCall(incoming({ Authorization: `Bearer ${userToken}` }));

    expect(sent.headers["x-app-id"]).toBe("app_from_env");
    expect(sent.path).toBe("/api/apps/app_from_env/app-user-auth/connectors/con_1/token");
  });

  it("accepts the bearer scheme in any case and surrounding spaces", async () => {
    const sent = await currentUserCall(incoming({ Authorization: `  bearer   ${userToken} `, "X-App-Id": appId }));

    expect(sent.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
  });

  it("lets explicit options win over the request and the env", async () => {
    const other = await startRecordingServer();
    other.respond({ status: 200, body: tokenAnswer });
    try {
      const client = createClientFromRequest(incoming({ Authorization: "Bearer from-request", "X-App-Id": appId }), {
        serverUrl: other.url,
        appId: "app_explicit",
        token: "explicit-user",
        serviceToken: "explicit-key",
      });

      await client.asServiceRole.connectors.getCurrentAppUserConnection("con_1");

      const sent = other.onlyRequest();
      expect(sent.path).toBe("/api/apps/app_explicit/app-user-auth/connectors/con_1/token");
      expect(sent.headers.authorization).toBe("Bearer explicit-key");
      expect(sent.headers["on-behalf-of"]).toBe("Bearer explicit-user");
      expect(latchkey.requests).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it("reads LATCHKEY_* from a passed env object (Cloudflare Workers) instead of the process", async () => {
    vi.stubEnv("LATCHKEY_URL", "http://127.0.0.1:1");
    const env = {
      LATCHKEY_URL: latchkey.url,
      LATCHKEY_SERVICE_KEY: "key-from-binding",
      LATCHKEY_APP_ID: "app_binding",
    };

    const client = createClientFromRequest(incoming({ Authorization: `Bearer ${userToken}` }), { env });
    await client.asServiceRole.connectors.getCurrentAppUserConnection("con_1");

    const sent = latchkey.onlyRequest();
    expect(sent.headers.authorization).toBe("Bearer key-from-binding");
    expect(sent.headers["x-app-id"]).toBe("app_binding");
  });
});

describe("createClientFromRequest with a Node IncomingMessage", () => {
  it("works inside a real node:http handler", async () => {
    const backend = createServer((req: IncomingMessage, res) => {
      createClientFromRequest(req)
        .asServiceRole.connectors.getCurrentAppUserConnection("con_1")
        .then(
          (connection) => res.writeHead(200).end(connection.accessToken),
          (error: LatchkeyError) => res.writeHead(500).end(error.code),
        );
    });
    await listen(backend);
    try {
      const { port } = backend.address() as AddressInfo;
      const answer = await fetch(`http://127.0.0.1:${port}/fn`, {
        headers: { Authorization: `Bearer ${userToken}`, "X-App-Id": appId },
      });

      expect(await answer.text()).toBe(tokenAnswer.access_token);
      const sent = latchkey.onlyRequest();
      expect(sent.headers.authorization).toBe(`Bearer ${serviceKey}`);
      expect(sent.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
      expect(sent.headers["x-app-id"]).toBe(appId);
    } finally {
      await closeServer(backend);
    }
  });

  it("takes the first value of a header given as an array", async () => {
    const sent = await currentUserCall({
      headers: { authorization: [`Bearer ${userToken}`, "Bearer other"], "x-app-id": [appId] },
    });

    expect(sent.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
    expect(sent.headers["x-app-id"]).toBe(appId);
  });
});

describe("what createClientFromRequest refuses", () => {
  it("never takes the service key from the request", async () => {
    vi.stubEnv("LATCHKEY_SERVICE_KEY", undefined);
    const request = incoming({
      Authorization: `Bearer ${userToken}`,
      "X-App-Id": appId,
      "Base44-Service-Authorization": `Bearer ${serviceKey}`,
      "X-Latchkey-Service-Key": serviceKey,
      "Latchkey-Service-Key": serviceKey,
    });

    const call = createClientFromRequest(request).asServiceRole.connectors.getCurrentAppUserConnection("con_1");

    await expect(call).rejects.toMatchObject({ code: "MISSING_SERVICE_KEY", status: 0 });
    expect(latchkey.requests).toHaveLength(0);
  });

  it("a request without a bearer token gives MISSING_USER_TOKEN on a current-user call, before any request", async () => {
    for (const headers of [{ "X-App-Id": appId }, { "X-App-Id": appId, Authorization: "Basic dXNlcjpwdw==" }]) {
      const call = createClientFromRequest(incoming(headers)).asServiceRole.connectors.getCurrentAppUserConnection(
        "con_1",
      );
      await expect(call).rejects.toMatchObject({ code: "MISSING_USER_TOKEN" });
    }
    expect(latchkey.requests).toHaveLength(0);
  });

  it("throws INVALID_CONFIG naming LATCHKEY_URL when no server is known", () => {
    vi.stubEnv("LATCHKEY_URL", undefined);

    expect(() => createClientFromRequest(incoming({ "X-App-Id": appId }))).toThrow(/LATCHKEY_URL/);
    expect(() => createClientFromRequest(incoming({ "X-App-Id": appId }))).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });

  it("throws INVALID_CONFIG naming LATCHKEY_APP_ID when neither the request nor the env names the app", () => {
    expect(() => createClientFromRequest(incoming({ Authorization: `Bearer ${userToken}` }))).toThrow(
      /LATCHKEY_APP_ID/,
    );
  });

  it("throws INVALID_ARGUMENT for something that is not a request", () => {
    const notRequests = [null, undefined, "Bearer x", {}, { headers: null }];

    for (const value of notRequests) {
      expect(() => createClientFromRequest(value as unknown as Request)).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });
});

describe("environment access where there is no process", () => {
  it("works without a global process when everything is passed explicitly", async () => {
    vi.stubGlobal("process", undefined);
    const client = createClientFromRequest(incoming({ Authorization: `Bearer ${userToken}` }), {
      serverUrl: latchkey.url,
      appId,
      serviceToken: serviceKey,
    });
    vi.unstubAllGlobals();

    await client.asServiceRole.connectors.getCurrentAppUserConnection("con_1");
    expect(latchkey.onlyRequest().headers["x-app-id"]).toBe(appId);
  });

  it("without a process and without options it reports the missing LATCHKEY_URL instead of crashing", () => {
    vi.stubGlobal("process", undefined);
    let thrown: unknown;
    try {
      createClientFromRequest(incoming({ "X-App-Id": appId }));
    } catch (error) {
      thrown = error;
    }
    vi.unstubAllGlobals();

    expect(thrown).toBeInstanceOf(LatchkeyError);
    expect((thrown as LatchkeyError).code).toBe("INVALID_CONFIG");
  });

  it("reads Deno.env when there is no process", async () => {
    const urls: string[] = [];
    const recordUrl = async (url: string) => {
      urls.push(url);
      return Response.json(tokenAnswer);
    };
    vi.stubGlobal("process", undefined);
    vi.stubGlobal("Deno", {
      env: {
        get: (name: string) => ({ LATCHKEY_URL: "https://deno.latchkey.test", LATCHKEY_SERVICE_KEY: "deno-key" })[name],
      },
    });
    const client = createClientFromRequest(incoming({ "X-App-Id": appId }), { fetch: recordUrl });
    vi.unstubAllGlobals();

    await client.asServiceRole.connectors.getConnection("github");

    expect(urls).toEqual([`https://deno.latchkey.test/api/apps/${appId}/external-auth/tokens/github`]);
  });

  it("survives Deno.env refusing access (no --allow-env) and reports the missing LATCHKEY_URL", () => {
    vi.stubGlobal("process", undefined);
    vi.stubGlobal("Deno", {
      env: {
        get: () => {
          throw new Error("PermissionDenied: Requires env access");
        },
      },
    });
    let refused: unknown;
    try {
      createClientFromRequest(incoming({ "X-App-Id": appId }));
    } catch (error) {
      refused = error;
    }
    vi.unstubAllGlobals();

    expect(refused).toMatchObject({ code: "INVALID_CONFIG" });
  });
});
