import type { Logger } from "../log/logger.ts";

/** Per-request values set by middleware. Feature folders add theirs here. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
  };
}
