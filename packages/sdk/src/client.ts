import { toConnectorApiResponse, toProxyBody } from "./api-proxy.ts";
import { clientError } from "./errors.ts";
import { createTransport, isObject, type Send } from "./transport.ts";
import type {
  AppUserConnectors,
  ClientOptions,
  ConnectAppUserOptions,
  ConnectionToken,
  ConnectorApiRequest,
  ConnectorApiResponse,
  LatchkeyClient,
  ServiceRoleConnectors,
  TokenSource,
} from "./types.ts";
import { toConnectionToken, toConnections, toRedirectUrl } from "./wire-mapping.ts";

/**
 * A Latchkey client with the option names of Base44's `createClient`. Throws a LatchkeyError
 * (`INVALID_CONFIG`) at once when `serverUrl` or `appId` is unusable; everything else is reported by the calls.
 */
export function createClient(options: ClientOptions): LatchkeyClient {
  const appId = requireConfig(options.appId, "appId is required (the app's public id)");
  const send = createTransport({ serverUrl: options.serverUrl, appId, fetch: options.fetch });
  const credentials = { token: options.token ?? undefined, serviceToken: options.serviceToken ?? undefined };
  const auth = {
    user: async () => `Bearer ${await requireUserToken(credentials.token)}`,
    service: () => `Bearer ${requireServiceKey(credentials.serviceToken)}`,
  };
  return {
    connectors: appUserConnectors(send, appId, auth),
    asServiceRole: { connectors: serviceRoleConnectors(send, appId, auth) },
    setToken(token) {
      credentials.token = token ?? undefined;
    },
  };
}

interface Auth {
  user(): Promise<string>;
  service(): string;
}

function appUserConnectors(send: Send, appId: string, auth: Auth): AppUserConnectors {
  const connectorPath = (connectorId: string) => [
    "apps",
    appId,
    "app-user-auth",
    "connectors",
    requireArgument(connectorId, "connectorId"),
  ];
  return {
    async connectAppUser(connectorId, options) {
      const segments = [...connectorPath(connectorId), "initiate"];
      const body = initiateBody(options);
      const answer = await send({
        method: "POST",
        segments,
        authorization: await auth.user(),
        ...(body !== undefined && { body }),
      });
      return toRedirectUrl(answer.body, answer.status);
    },
    async disconnectAppUser(connectorId) {
      const segments = connectorPath(connectorId);
      await send({ method: "DELETE", segments, authorization: await auth.user() });
    },
    async listAppUserConnections() {
      const answer = await send({
        method: "GET",
        segments: ["apps", appId, "app-user-auth", "connections"],
        authorization: await auth.user(),
      });
      return toConnections(answer.body, answer.status);
    },
  };
}

/** `{return_to?, connection_values?}`, or no body at all when neither is given (as Base44 sends it). */
function initiateBody(options: ConnectAppUserOptions | undefined): Record<string, unknown> | undefined {
  const returnTo = options?.returnTo;
  const connectionValues: unknown = options?.connectionValues;
  if (returnTo !== undefined) requireArgument(returnTo, "returnTo");
  if (connectionValues !== undefined) requireStringMap(connectionValues, "connectionValues");
  if (returnTo === undefined && connectionValues === undefined) return undefined;
  return {
    ...(returnTo !== undefined && { return_to: returnTo }),
    ...(connectionValues !== undefined && { connection_values: connectionValues }),
  };
}

function serviceRoleConnectors(send: Send, appId: string, auth: Auth): ServiceRoleConnectors {
  const fetchToken = async (segments: string[], onBehalfOf?: () => Promise<string>): Promise<ConnectionToken> => {
    // The service key is checked first: without it no service call can work at all.
    const authorization = auth.service();
    const answer = await send({
      method: "GET",
      segments: ["apps", appId, ...segments],
      authorization,
      ...(onBehalfOf !== undefined && { onBehalfOf: await onBehalfOf() }),
    });
    return toConnectionToken(answer.body, answer.status);
  };
  const currentUserToken = async (connectorId: string) =>
    fetchToken(["app-user-auth", "connectors", requireArgument(connectorId, "connectorId"), "token"], auth.user);
  const sharedByProvider = (provider: string) =>
    fetchToken(["external-auth", "tokens", requireArgument(provider, "provider")]);
  // POSTs a provider API request to a proxy route; the provider's answer, whatever its status, resolves.
  const proxyCall = async <T>(
    segments: string[],
    request: ConnectorApiRequest,
    onBehalfOf?: () => Promise<string>,
  ): Promise<ConnectorApiResponse<T>> => {
    const body = toProxyBody(request);
    const authorization = auth.service();
    const answer = await send({
      method: "POST",
      segments: ["apps", appId, ...segments],
      authorization,
      body,
      ...(onBehalfOf !== undefined && { onBehalfOf: await onBehalfOf() }),
    });
    return toConnectorApiResponse<T>(answer.body, answer.status);
  };
  return {
    getCurrentAppUserConnection: currentUserToken,
    async getAppUserConnection(connectorId, userId) {
      const id = requireArgument(connectorId, "connectorId");
      const user = requireArgument(userId, "userId");
      return fetchToken(["app-user-auth", "connectors", id, "users", user, "token"]);
    },
    async getWorkspaceConnection(connectorId) {
      return fetchToken(["external-auth", "tokens", "connectors", requireArgument(connectorId, "connectorId")]);
    },
    getConnection: async (provider) => sharedByProvider(provider),
    async getAccessToken(provider) {
      return (await sharedByProvider(provider)).accessToken;
    },
    async getCurrentAppUserAccessToken(connectorId) {
      return (await currentUserToken(connectorId)).accessToken;
    },
    async callApi(integrationType, request) {
      const type = requireArgument(integrationType, "integrationType");
      return proxyCall(["connectors", type, "call"], request);
    },
    async callAppUserApi(connectorId, request, options) {
      const id = requireArgument(connectorId, "connectorId");
      const userId = options?.userId;
      if (userId === undefined) return proxyCall(["app-user-auth", "connectors", id, "call"], request, auth.user);
      const user = requireArgument(userId, "userId");
      return proxyCall(["app-user-auth", "connectors", id, "users", user, "call"], request);
    },
  };
}

async function requireUserToken(source: TokenSource | undefined): Promise<string> {
  const token = typeof source === "function" ? await source() : source;
  if (typeof token !== "string" || token.trim() === "") {
    throw clientError(
      "MISSING_USER_TOKEN",
      "This call needs the signed-in user's token: pass `token` to createClient, or send `Authorization: Bearer <token>` to createClientFromRequest",
    );
  }
  return token.trim();
}

function requireServiceKey(serviceToken: string | undefined): string {
  if (typeof serviceToken !== "string" || serviceToken.trim() === "") {
    throw clientError(
      "MISSING_SERVICE_KEY",
      "This call needs a service key: pass `serviceToken` to createClient or set LATCHKEY_SERVICE_KEY",
    );
  }
  return serviceToken.trim();
}

function requireArgument(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw clientError("INVALID_ARGUMENT", `${name} is required and must be a non-empty string`);
  }
  return value;
}

function requireStringMap(value: unknown, name: string): void {
  if (!isObject(value) || !Object.values(value).every((field) => typeof field === "string")) {
    throw clientError("INVALID_ARGUMENT", `${name} must be an object of strings`);
  }
}

function requireConfig(value: unknown, message: string): string {
  if (typeof value !== "string" || value.trim() === "") throw clientError("INVALID_CONFIG", message);
  return value.trim();
}
