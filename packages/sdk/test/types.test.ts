import type { IncomingMessage } from "node:http";
import type { ErrorCode as ServerErrorTable } from "@latchkey/contracts";
import { describe, expectTypeOf, it } from "vitest";
import {
  createClient,
  type ClientOptions,
  createClientFromRequest,
  type LatchkeyError,
  type AppUserConnection,
  type ConnectionToken,
  type ConnectorApiRequest,
  type ConnectorApiResponse,
  type LatchkeyClient,
  type LatchkeyErrorCode,
  type ServerErrorCode,
} from "../src/index.ts";

describe("public types", () => {
  it("createClient takes Base44's option names and returns the client", () => {
    expectTypeOf(createClient).parameter(0).toHaveProperty("serverUrl").toEqualTypeOf<string>();
    expectTypeOf(createClient).parameter(0).toHaveProperty("appId").toEqualTypeOf<string>();
    const base44Options = { serverUrl: "https://lk.test", appId: "app_1", token: "user", serviceToken: "key" };
    expectTypeOf(base44Options).toExtend<ClientOptions>();
    expectTypeOf({ ...base44Options, token: undefined, serviceToken: undefined }).toExtend<ClientOptions>();
    expectTypeOf(createClient).returns.toEqualTypeOf<LatchkeyClient>();
  });

  it("frontend calls resolve to a redirect URL, nothing, and a connection list", () => {
    const { connectors } = createClient({ serverUrl: "https://lk.test", appId: "app_1" });
    expectTypeOf(connectors.connectAppUser).parameters.toEqualTypeOf<
      [
        string,
        (
          | {
              returnTo?: string | undefined;
              connectionValues?: Readonly<Record<string, string>> | undefined;
            }
          | undefined
        )?,
      ]
    >();
    expectTypeOf(connectors.connectAppUser).returns.resolves.toEqualTypeOf<string>();
    expectTypeOf(connectors.disconnectAppUser).returns.resolves.toEqualTypeOf<void>();
    expectTypeOf(connectors.listAppUserConnections).returns.resolves.toEqualTypeOf<AppUserConnection[]>();
    expectTypeOf<AppUserConnection["status"]>().toEqualTypeOf<"active" | "needs_reauth">();
  });

  it("service calls resolve to the camelCase token shape", () => {
    const { connectors } = createClient({ serverUrl: "https://lk.test", appId: "app_1" }).asServiceRole;
    expectTypeOf(connectors.getCurrentAppUserConnection).returns.resolves.toEqualTypeOf<ConnectionToken>();
    expectTypeOf(connectors.getAppUserConnection).parameters.toEqualTypeOf<[string, string]>();
    expectTypeOf(connectors.getWorkspaceConnection).returns.resolves.toEqualTypeOf<ConnectionToken>();
    expectTypeOf(connectors.getConnection).returns.resolves.toEqualTypeOf<ConnectionToken>();
    expectTypeOf<ConnectionToken>().toEqualTypeOf<{
      accessToken: string;
      connectionConfig: Record<string, string> | null;
      tokenType: string;
      expiresAt: string | null;
      scopes: string[];
      account: { id: string | null; email: string | null; name?: string | null } | null;
      integrationType: string;
    }>();
  });

  it("the token shape is assignable to what @base44/sdk code expects", () => {
    type Base44Connection = import("@base44/sdk").ConnectorConnectionResponse;
    expectTypeOf<ConnectionToken>().toExtend<Base44Connection>();
  });

  it("callApi and callAppUserApi take Base44's request and resolve to Base44's response", () => {
    type Base44Request = import("@base44/sdk").ConnectorApiRequest;
    type Base44Response<T> = import("@base44/sdk").ConnectorApiResponse<T>;
    const { connectors } = createClient({ serverUrl: "https://lk.test", appId: "app_1" }).asServiceRole;

    expectTypeOf<Base44Request>().toExtend<ConnectorApiRequest>();
    expectTypeOf<ConnectorApiResponse<{ id: number }>>().toEqualTypeOf<Base44Response<{ id: number }>>();
    expectTypeOf(connectors.callApi<{ id: number }>).returns.resolves.toEqualTypeOf<
      ConnectorApiResponse<{ id: number }>
    >();
    expectTypeOf(connectors.callApi).parameters.toEqualTypeOf<[string, ConnectorApiRequest]>();
    expectTypeOf(connectors.callAppUserApi).parameters.toEqualTypeOf<
      [string, ConnectorApiRequest, ({ userId?: string | undefined } | undefined)?]
    >();
    expectTypeOf(connectors.callAppUserApi).returns.resolves.toEqualTypeOf<ConnectorApiResponse>();
    // @ts-expect-error TRACE is not a method the proxy forwards
    connectors.callApi.bind(null, "github", { path: "/user", method: "TRACE" });
    // @ts-expect-error path is required
    connectors.callApi.bind(null, "github", { method: "GET" });
  });

  it("createClientFromRequest accepts a Fetch Request and a Node IncomingMessage, not a string", () => {
    expectTypeOf(createClientFromRequest).toBeCallableWith(new Request("https://x.test"));
    expectTypeOf(createClientFromRequest).toBeCallableWith({} as IncomingMessage);
    expectTypeOf(createClientFromRequest).toBeCallableWith({} as IncomingMessage, {
      env: { LATCHKEY_URL: "https://lk.test" },
    });
    // @ts-expect-error a string is not a request
    createClientFromRequest.bind(null, "Bearer x");
  });

  it("LatchkeyError carries status, code, message and data", () => {
    expectTypeOf<LatchkeyError>().toExtend<Error>();
    expectTypeOf<LatchkeyError["status"]>().toEqualTypeOf<number>();
    expectTypeOf<LatchkeyError["code"]>().toEqualTypeOf<LatchkeyErrorCode>();
    expectTypeOf<LatchkeyError["data"]>().toEqualTypeOf<unknown>();
    expectTypeOf<"CONNECTION_NEEDS_REAUTH">().toExtend<LatchkeyErrorCode>();
    expectTypeOf<"HTTP_502">().toExtend<LatchkeyErrorCode>();
    expectTypeOf<"NETWORK_ERROR">().toExtend<LatchkeyErrorCode>();
  });

  it("the SDK's server codes are exactly the server's error table", () => {
    expectTypeOf<ServerErrorCode>().toEqualTypeOf<ServerErrorTable>();
  });
});
