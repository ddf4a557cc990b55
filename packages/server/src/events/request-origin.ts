import type { Context } from "hono";
import type { AppEnv } from "../http/app-env.ts";
import type { EventOrigin } from "./record-event.ts";

/** The signed-in member behind a workspace route, its workspace and the request id, for an audit record. */
export function memberOrigin(c: Context<AppEnv>): EventOrigin & { workspaceId: string } {
  const member = c.get("member");
  return {
    workspaceId: member.workspaceId,
    actor: { type: "member", id: member.memberId, email: member.email },
    requestId: c.get("requestId"),
  };
}

/** The operator (bearer LATCHKEY_OPERATOR_KEY) and the request id. */
export function operatorOrigin(c: Context<AppEnv>): EventOrigin {
  return { actor: { type: "operator" }, requestId: c.get("requestId") };
}
