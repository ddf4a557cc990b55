import { createHash } from "node:crypto";
import type * as oauth from "oauth4webapi";

/**
 * The `smartsheet-token-hash` hook: Smartsheet's token endpoint lets a client prove it holds the
 * app secret without sending it. Instead of `client_secret` the form body carries `client_id` and
 * `hash` = lowercase hex SHA-256 of `<app secret>|<code>` when redeeming a code, and of
 * `<app secret>|<refresh_token>` when refreshing (developers.smartsheet.com, "Gets or refreshes an
 * access token"). The secret then never leaves Latchkey, not even over TLS.
 */
export function tokenHashAuthentication(secret: string): oauth.ClientAuth {
  return (_as, client, body) => {
    // oauth4webapi has set grant_type and the grant's own parameter before client authentication runs.
    const grant = body.get("grant_type");
    const proof =
      grant === "refresh_token" ? body.get("refresh_token") : grant === "authorization_code" ? body.get("code") : null;
    if (proof === null) throw new Error(`smartsheet-token-hash cannot sign a ${String(grant)} request`);
    body.delete("client_secret");
    body.set("client_id", client.client_id);
    body.set("hash", tokenHash(secret, proof));
  };
}

/** Hex SHA-256 of `secret|value`, UTF-8, as Smartsheet computes it. */
export function tokenHash(secret: string, value: string): string {
  return createHash("sha256").update(`${secret}|${value}`, "utf8").digest("hex");
}
