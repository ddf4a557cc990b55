import type { Logger } from "../log/logger.ts";
import type { AppRow } from "../db/schema.ts";
import type { MemberRole } from "@latchkey/contracts";
import type { AuthFailureLimit } from "./rate-limit.ts";

export interface AuthenticatedMember {
  memberId: string;
  workspaceId: string;
  role: MemberRole;
  email: string;
  /** The admin API key used, or null for a console session. */
  apiKeyId: string | null;
  /** The console session used, when the request came from the console. */
  sessionId?: string;
}

export interface AuthenticatedApp {
  app: AppRow;
  /** The service key used, when the caller authenticated with one. */
  serviceKeyId: string | null;
}

export interface AuthenticatedAppUser {
  /** The app user's id (the verified token's `sub`). */
  userId: string;
}

/** Per-request values set by middleware. Feature folders add theirs here. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** The instance's logger; a route logs through `requestLog(c)`, which adds the request id. */
    baseLogger: Logger;
    /** The request's child logger once `requestLog(c)` has made it. */
    requestLog: Logger | undefined;
    /** Headers every answer to this request carries (see http/response-headers.ts). */
    responseHeaders: Record<string, string>;
    /** Set when the route's response already carries `responseHeaders`. */
    responseHeadersApplied: boolean;
    member: AuthenticatedMember;
    serviceApp: AuthenticatedApp;
    appUser: AuthenticatedAppUser;
    /** This instance's failed-authentication limit, for the auth middlewares (set by createLatchkeyApp). */
    authFailures: AuthFailureLimit;
  };
}
