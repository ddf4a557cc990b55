export { createClient } from "./client.ts";
export { createClientFromRequest } from "./from-request.ts";
export { LatchkeyError } from "./errors.ts";
export type {
  ClientErrorCode,
  HttpStatusErrorCode,
  LatchkeyErrorCode,
  LatchkeyErrorInit,
  ServerErrorCode,
} from "./errors.ts";
export type { EnvSource } from "./env.ts";
export type { FetchRequestLike, FromRequestOptions, NodeRequestLike, RequestLike } from "./from-request.ts";
export type {
  AppUserConnection,
  AppUserConnectors,
  CallAppUserApiOptions,
  ClientOptions,
  ConnectAppUserOptions,
  ConnectionStatus,
  ConnectionToken,
  ConnectorApiMethod,
  ConnectorApiRequest,
  ConnectorApiResponse,
  ConnectorApiResponsePhase,
  FetchLike,
  LatchkeyClient,
  ProviderAccount,
  ServiceRoleConnectors,
  TokenSource,
} from "./types.ts";
