import { LatchkeyError } from "./errors.ts";
import { isObject } from "./transport.ts";
import type { AppUserConnection, ConnectionToken } from "./types.ts";

/** `connection_config` → `connectionConfig`. Only the top level: nested maps (provider values) keep their keys. */
export function camelizeKeys(value: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    result[key.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())] = field;
  }
  return result;
}

export function toConnectionToken(body: unknown, status: number): ConnectionToken {
  if (!isObject(body) || typeof body.access_token !== "string") {
    throw invalidResponse(status, "a token answer without access_token", body);
  }
  const fields = camelizeKeys(body);
  return {
    ...fields,
    accessToken: body.access_token,
    connectionConfig: (fields.connectionConfig ?? null) as ConnectionToken["connectionConfig"],
    tokenType: (fields.tokenType ?? "bearer") as string,
    expiresAt: (fields.expiresAt ?? null) as string | null,
    scopes: (fields.scopes ?? []) as string[],
    account: (fields.account ?? null) as ConnectionToken["account"],
    integrationType: (fields.integrationType ?? "") as string,
  };
}

export function toConnections(body: unknown, status: number): AppUserConnection[] {
  if (!isObject(body) || !Array.isArray(body.connections)) {
    throw invalidResponse(status, "a list answer without connections", body);
  }
  return body.connections.map((item: unknown) => {
    if (!isObject(item)) throw invalidResponse(status, "a connection that is not an object", body);
    return camelizeKeys(item) as unknown as AppUserConnection;
  });
}

export function toRedirectUrl(body: unknown, status: number): string {
  if (!isObject(body) || typeof body.redirect_url !== "string") {
    throw invalidResponse(status, "an initiate answer without redirect_url", body);
  }
  return body.redirect_url;
}

function invalidResponse(status: number, what: string, data: unknown): LatchkeyError {
  return new LatchkeyError({ status, code: "INVALID_RESPONSE", message: `Latchkey sent ${what}`, data });
}
