import { createClient as createBase44Client } from "@base44/sdk";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createClient } from "../src/index.ts";
import { appId, proxyAnswer, serviceKey, tokenAnswer, userToken } from "./support/fixtures.ts";
import { startRecordingServer, type RecordedRequest, type RecordingServer } from "./support/recording-server.ts";

// The drop-in promise: for every connectors call both SDKs hit the same route with the same credentials.
let server: RecordingServer;
beforeAll(async () => {
  server = await startRecordingServer();
  server.respond((request) =>
    request.path.endsWith("/initiate")
      ? { status: 200, body: { redirect_url: "https://provider.test/authorize?state=s" } }
      : request.path.endsWith("/call")
        ? { status: 200, body: proxyAnswer }
        : request.method === "DELETE"
          ? { status: 204 }
          : { status: 200, body: tokenAnswer },
  );
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const options = () => ({ serverUrl: server.url, appId, token: userToken, serviceToken: serviceKey });

function essentials(request: RecordedRequest) {
  return {
    method: request.method,
    path: request.path,
    authorization: request.headers.authorization,
    appId: request.headers["x-app-id"],
  };
}

async function both<T>(call: (client: ReturnType<typeof createClient>) => Promise<T>) {
  const base44 = createBase44Client({ ...options(), analytics: { enabled: false } });
  const ours = await call(createClient(options()));
  const theirs = await call(base44 as unknown as ReturnType<typeof createClient>);
  const [ourRequest, theirRequest] = server.requests;
  if (!ourRequest || !theirRequest) throw new Error("expected one request from each SDK");
  return { ours, theirs, ourRequest, theirRequest };
}

describe("parity with @base44/sdk 0.8.50", () => {
  it("connectAppUser: same route, same user token, same redirect URL", async () => {
    const { ours, theirs, ourRequest, theirRequest } = await both((c) => c.connectors.connectAppUser("con_1"));

    expect(ours).toBe(theirs);
    expect(essentials(ourRequest)).toEqual(essentials(theirRequest));
  });

  it("disconnectAppUser: same route and token", async () => {
    const { ourRequest, theirRequest } = await both((c) => c.connectors.disconnectAppUser("con 1"));

    expect(essentials(ourRequest)).toEqual(essentials(theirRequest));
  });

  it("getCurrentAppUserConnection: same route, service key and on-behalf-of; same two Base44 fields", async () => {
    const { ours, theirs, ourRequest, theirRequest } = await both((c) =>
      c.asServiceRole.connectors.getCurrentAppUserConnection("con_1"),
    );

    expect(essentials(ourRequest)).toEqual(essentials(theirRequest));
    expect(ourRequest.headers["on-behalf-of"]).toBe(theirRequest.headers["on-behalf-of"]);
    expect(theirs).toEqual({ accessToken: ours.accessToken, connectionConfig: ours.connectionConfig });
  });

  it("getWorkspaceConnection and getConnection: same routes (we omit Base44's needless on-behalf-of)", async () => {
    const workspace = await both((c) => c.asServiceRole.connectors.getWorkspaceConnection("con_1"));
    server.requests.length = 0;
    const byProvider = await both((c) => c.asServiceRole.connectors.getConnection("salesforce"));

    for (const { ours, theirs, ourRequest, theirRequest } of [workspace, byProvider]) {
      expect(essentials(ourRequest)).toEqual(essentials(theirRequest));
      expect(theirRequest.headers["on-behalf-of"]).toBe(`Bearer ${userToken}`);
      expect(ourRequest.headers["on-behalf-of"]).toBeUndefined();
      expect(theirs).toEqual({ accessToken: ours.accessToken, connectionConfig: ours.connectionConfig });
    }
  });

  it("callApi: same route, key and body (Base44's defaults filled alike); same mapped answer", async () => {
    const { ours, theirs, ourRequest, theirRequest } = await both((c) =>
      c.asServiceRole.connectors.callApi("github", { path: "/user/repos", query: { per_page: 5 } }),
    );

    expect(essentials(ourRequest)).toEqual(essentials(theirRequest));
    expect(JSON.parse(ourRequest.body)).toEqual(JSON.parse(theirRequest.body));
    expect(ourRequest.headers["content-type"]).toBe(theirRequest.headers["content-type"]);
    expect(ours).toEqual(theirs);
  });

  it("callApi with every field set: the same body on the wire", async () => {
    const request = {
      method: "PATCH" as const,
      host: "uploads",
      path: "/repos/o/r",
      query: { a: "1", b: [1, 2] },
      headers: { "x-github-api-version": "2022-11-28" },
      body: { description: "d" },
    };
    const { ourRequest, theirRequest } = await both((c) => c.asServiceRole.connectors.callApi("github", request));

    expect(JSON.parse(ourRequest.body)).toEqual(JSON.parse(theirRequest.body));
  });
});
