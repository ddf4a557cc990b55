import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createClient, LatchkeyError } from "../src/index.ts";
import { appId, serviceKey, userToken } from "./support/fixtures.ts";
import { startRecordingServer, unusedServerUrl, type RecordingServer } from "./support/recording-server.ts";

let server: RecordingServer;
beforeAll(async () => {
  server = await startRecordingServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const backend = () => createClient({ serverUrl: server.url, appId, token: userToken, serviceToken: serviceKey });

async function rejection(promise: Promise<unknown>): Promise<LatchkeyError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(LatchkeyError);
  return error as LatchkeyError;
}

describe("server errors", () => {
  it("reads status, code, message, details and request id from the error envelope", async () => {
    const body = {
      error: {
        code: "CONNECTION_NEEDS_REAUTH",
        message: "The user must connect again",
        details: { connector_id: "con_1" },
        request_id: "req-42",
      },
    };
    server.respond({ status: 409, body });

    const error = await rejection(backend().asServiceRole.connectors.getCurrentAppUserConnection("con_1"));

    expect(error.status).toBe(409);
    expect(error.code).toBe("CONNECTION_NEEDS_REAUTH");
    expect(error.message).toBe("The user must connect again");
    expect(error.details).toEqual({ connector_id: "con_1" });
    expect(error.data).toEqual(body);
    expect(error.requestId).toBe("req-42");
    expect(error.name).toBe("LatchkeyError");
    expect(error).toBeInstanceOf(Error);
  });

  it("uses the code as message when the envelope has none, and X-Request-Id when the body has none", async () => {
    server.respond({
      status: 404,
      body: { error: { code: "CONNECTION_NOT_FOUND" } },
      headers: { "x-request-id": "r-7" },
    });

    const error = await rejection(backend().asServiceRole.connectors.getWorkspaceConnection("con_1"));

    expect(error).toMatchObject({
      status: 404,
      code: "CONNECTION_NOT_FOUND",
      message: "CONNECTION_NOT_FOUND",
      requestId: "r-7",
    });
  });

  it("turns a non-JSON error page into HTTP_<status> with the text as data", async () => {
    server.respond({ status: 502, body: "<html>Bad Gateway</html>" });

    const error = await rejection(
      createClient({ serverUrl: server.url, appId, token: userToken }).connectors.connectAppUser("con_1"),
    );

    expect(error.status).toBe(502);
    expect(error.code).toBe("HTTP_502");
    expect(error.message).toBe("Latchkey request failed with HTTP 502 Bad Gateway");
    expect(error.data).toBe("<html>Bad Gateway</html>");
  });

  it("treats JSON without the envelope as HTTP_<status> and keeps it as data", async () => {
    server.respond({ status: 500, body: { message: "oops" } });

    const error = await rejection(backend().asServiceRole.connectors.getConnection("google"));

    expect(error).toMatchObject({ status: 500, code: "HTTP_500", data: { message: "oops" } });
  });

  it("an empty error body gives HTTP_<status> and undefined data", async () => {
    server.respond({ status: 401 });

    const error = await rejection(backend().asServiceRole.connectors.getConnection("google"));

    expect(error).toMatchObject({ status: 401, code: "HTTP_401", data: undefined });
  });

  it("serializes to JSON without the cause", async () => {
    server.respond({ status: 429, body: { error: { code: "RATE_LIMITED", message: "Slow down" } } });

    const error = await rejection(backend().asServiceRole.connectors.getConnection("google"));

    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: "LatchkeyError",
      status: 429,
      code: "RATE_LIMITED",
      message: "Slow down",
      data: { error: { code: "RATE_LIMITED", message: "Slow down" } },
    });
  });
});

describe("malformed success answers", () => {
  it("a 200 that is not JSON is INVALID_RESPONSE with the HTTP status", async () => {
    server.respond({ status: 200, body: "ok" });

    const error = await rejection(backend().asServiceRole.connectors.getConnection("google"));

    expect(error).toMatchObject({ status: 200, code: "INVALID_RESPONSE", data: "ok" });
  });

  it("a token answer without access_token is INVALID_RESPONSE, never a half-filled object", async () => {
    server.respond({ status: 200, body: { token: "x" } });

    const error = await rejection(backend().asServiceRole.connectors.getCurrentAppUserConnection("con_1"));

    expect(error).toMatchObject({ status: 200, code: "INVALID_RESPONSE" });
  });

  it("an initiate answer without redirect_url is INVALID_RESPONSE", async () => {
    server.respond({ status: 200, body: {} });

    const error = await rejection(
      createClient({ serverUrl: server.url, appId, token: userToken }).connectors.connectAppUser("con_1"),
    );

    expect(error.code).toBe("INVALID_RESPONSE");
  });

  it("a list answer without connections is INVALID_RESPONSE", async () => {
    server.respond({ status: 200, body: { items: [] } });

    const error = await rejection(
      createClient({ serverUrl: server.url, appId, token: userToken }).connectors.listAppUserConnections(),
    );

    expect(error.code).toBe("INVALID_RESPONSE");
  });
});

describe("network failures", () => {
  it("a refused connection is status 0 NETWORK_ERROR with the cause kept", async () => {
    const client = createClient({ serverUrl: await unusedServerUrl(), appId, serviceToken: serviceKey });

    const error = await rejection(client.asServiceRole.connectors.getConnection("google"));

    expect(error.status).toBe(0);
    expect(error.code).toBe("NETWORK_ERROR");
    expect(error.cause).toBeInstanceOf(Error);
  });

  it("a throwing custom fetch is NETWORK_ERROR too", async () => {
    const client = createClient({
      serverUrl: "https://latchkey.test",
      appId,
      serviceToken: serviceKey,
      fetch: () => Promise.reject(new TypeError("Failed to fetch")),
    });

    const error = await rejection(client.asServiceRole.connectors.getConnection("google"));

    expect(error).toMatchObject({ status: 0, code: "NETWORK_ERROR" });
    expect(error.message).toContain("Failed to fetch");
  });
});

describe("API proxy errors", () => {
  it("a refusal of Latchkey's own (no connection, needs reauth, bad path) is thrown as a LatchkeyError", async () => {
    const body = {
      error: { code: "CONNECTION_NEEDS_REAUTH", message: "Connect again", details: { connector_id: "c" } },
    };
    server.respond({ status: 409, body });

    const error = await rejection(backend().asServiceRole.connectors.callAppUserApi("con_1", { path: "/user" }));

    expect(error).toMatchObject({ status: 409, code: "CONNECTION_NEEDS_REAUTH", message: "Connect again", data: body });
  });

  it("a 2xx answer that is not a proxy answer is INVALID_RESPONSE", async () => {
    server.respond({ status: 200, body: { access_token: "not a proxy answer" } });

    const error = await rejection(backend().asServiceRole.connectors.callApi("github", { path: "/user" }));

    expect(error).toMatchObject({
      status: 200,
      code: "INVALID_RESPONSE",
      data: { access_token: "not a proxy answer" },
    });
  });
});

describe("checks made before any request", () => {
  it("getCurrentAppUserConnection without a user token is MISSING_USER_TOKEN", async () => {
    const client = createClient({ serverUrl: server.url, appId, serviceToken: serviceKey });

    const error = await rejection(client.asServiceRole.connectors.getCurrentAppUserConnection("con_1"));

    expect(error).toMatchObject({ status: 0, code: "MISSING_USER_TOKEN" });
    expect(server.requests).toHaveLength(0);
  });

  it("getCurrentAppUserConnection without a service key is MISSING_SERVICE_KEY", async () => {
    const client = createClient({ serverUrl: server.url, appId, token: userToken });

    const error = await rejection(client.asServiceRole.connectors.getCurrentAppUserConnection("con_1"));

    expect(error).toMatchObject({ status: 0, code: "MISSING_SERVICE_KEY" });
    expect(server.requests).toHaveLength(0);
  });

  it("every service call without a service key is MISSING_SERVICE_KEY", async () => {
    const { connectors } = createClient({ serverUrl: server.url, appId, token: userToken }).asServiceRole;

    const calls = [
      () => connectors.getAppUserConnection("con_1", "user_1"),
      () => connectors.getWorkspaceConnection("con_1"),
      () => connectors.getConnection("google"),
      () => connectors.getAccessToken("google"),
      () => connectors.getCurrentAppUserAccessToken("con_1"),
      () => connectors.callApi("github", { path: "/user" }),
      () => connectors.callAppUserApi("con_1", { path: "/user" }),
      () => connectors.callAppUserApi("con_1", { path: "/user" }, { userId: "user_1" }),
    ];

    for (const call of calls) expect((await rejection(call())).code).toBe("MISSING_SERVICE_KEY");
    expect(server.requests).toHaveLength(0);
  });

  it("callAppUserApi for the current user needs a user token; for a named user it does not", async () => {
    const { connectors } = createClient({ serverUrl: server.url, appId, serviceToken: serviceKey }).asServiceRole;
    server.respond({ status: 200, body: { success: true, phase: "responded", status_code: 200, data: {} } });

    const error = await rejection(connectors.callAppUserApi("con_1", { path: "/user" }));
    expect(error).toMatchObject({ status: 0, code: "MISSING_USER_TOKEN" });
    expect(server.requests).toHaveLength(0);

    await expect(connectors.callAppUserApi("con_1", { path: "/user" }, { userId: "user_1" })).resolves.toMatchObject({
      success: true,
    });
  });

  it("user calls without a token (or with an empty one, or a function returning none) are MISSING_USER_TOKEN", async () => {
    const clients = [
      createClient({ serverUrl: server.url, appId }),
      createClient({ serverUrl: server.url, appId, token: "  " }),
      createClient({ serverUrl: server.url, appId, token: async () => null }),
    ];

    for (const { connectors } of clients) {
      const calls = [
        () => connectors.connectAppUser("con_1"),
        () => connectors.disconnectAppUser("con_1"),
        () => connectors.listAppUserConnections(),
      ];
      for (const call of calls) {
        expect((await rejection(call())).code).toBe("MISSING_USER_TOKEN");
      }
    }
    expect(server.requests).toHaveLength(0);
  });

  it("empty or non-string ids, user ids and connection values are INVALID_ARGUMENT", async () => {
    const client = backend();
    const untyped = client.asServiceRole.connectors as unknown as Record<
      string,
      (...args: unknown[]) => Promise<unknown>
    >;

    const calls = [
      () => client.connectors.connectAppUser(""),
      () => client.connectors.connectAppUser("con_1", { returnTo: "" }),
      () => client.asServiceRole.connectors.getAppUserConnection("con_1", ""),
      () => untyped.getConnection?.(42),
      () => untyped.getWorkspaceConnection?.(undefined),
      () =>
        client.connectors.connectAppUser("con_1", { connectionValues: { shop: 42 } as unknown as { shop: string } }),
      () => client.connectors.connectAppUser("con_1", { connectionValues: "shop=acme" as unknown as { shop: string } }),
      () => client.asServiceRole.connectors.callAppUserApi("con_1", { path: "/user" }, { userId: "" }),
      () => client.asServiceRole.connectors.callAppUserApi("", { path: "/user" }),
    ];

    for (const call of calls) expect((await rejection(call() as Promise<unknown>)).code).toBe("INVALID_ARGUMENT");
    expect(server.requests).toHaveLength(0);
  });

  it("callApi checks what Base44's callApi checks: integration type, request, path, method; and host", async () => {
    const { connectors } = backend().asServiceRole;
    const untyped = (value: unknown) => value as { path: string };

    const calls = [
      () => connectors.callApi("", { path: "/user" }),
      () => connectors.callApi("github", untyped(undefined)),
      () => connectors.callApi("github", untyped("/user")),
      () => connectors.callApi("github", { path: "" }),
      () => connectors.callApi("github", untyped({ path: 42 })),
      () => connectors.callApi("github", untyped({ path: "/user", method: "TRACE" })),
      () => connectors.callApi("github", untyped({ path: "/user", method: "get" })),
      () => connectors.callApi("github", { path: "/user", host: "" }),
    ];

    for (const call of calls) expect((await rejection(call())).code).toBe("INVALID_ARGUMENT");
    expect(server.requests).toHaveLength(0);
  });

  it("'.' and '..' ids are refused: URL parsers would collapse them into another route", async () => {
    const client = backend();

    const calls = [
      () => client.connectors.disconnectAppUser(".."),
      () => client.asServiceRole.connectors.getAppUserConnection("con_1", "."),
    ];
    for (const call of calls) {
      expect((await rejection(call())).code).toBe("INVALID_ARGUMENT");
    }
    expect(server.requests).toHaveLength(0);
  });

  it("createClient throws INVALID_CONFIG at once for a missing appId or an unusable serverUrl", () => {
    const configs = [
      { serverUrl: server.url, appId: "" },
      { serverUrl: "", appId },
      { serverUrl: "latchkey.example.com", appId },
      { serverUrl: "ftp://latchkey.example.com", appId },
      { serverUrl: "/relative-without-a-page", appId },
    ];

    for (const config of configs) {
      expect(() => createClient(config)).toThrow(LatchkeyError);
      expect(() => createClient(config)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", status: 0 }));
    }
  });
});

describe("LatchkeyError.is", () => {
  it("recognises errors from another copy of the SDK by shape, and nothing else", () => {
    const foreign = Object.assign(new Error("x"), { name: "LatchkeyError", status: 404, code: "NOT_FOUND" });

    expect(LatchkeyError.is(foreign)).toBe(true);
    expect(LatchkeyError.is(new LatchkeyError({ status: 0, code: "NETWORK_ERROR", message: "x" }))).toBe(true);
    expect(LatchkeyError.is(new Error("x"))).toBe(false);
    expect(LatchkeyError.is(null)).toBe(false);
    expect(LatchkeyError.is({ name: "LatchkeyError" })).toBe(false);
  });
});
