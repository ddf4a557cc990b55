import type { Context } from "hono";
import { routePath } from "hono/route";
import { AppError } from "../errors/app-error.ts";
import type { AppEnv } from "./app-env.ts";

const nul = /%00/i;
const problem = "must not contain NUL characters";

/**
 * Path ids and query values reach database queries, and PostgreSQL cannot compare or store a NUL
 * character: a URL with `%00` anywhere is refused before any route reads it, naming the path
 * parameter when a route matched. (Percent-decoding yields no other unstorable text: invalid
 * UTF-8, such as an encoded lone surrogate, is left undecoded.)
 */
export function refuseNulInUrl(c: Context<AppEnv>): void {
  if (!nul.test(c.req.url)) return;
  const url = new URL(c.req.url);
  const where = nul.test(url.search)
    ? "query"
    : nul.test(url.pathname)
      ? pathParameterWithNul(url.pathname, routePath(c, -1))
      : null;
  if (where !== null) {
    throw new AppError("INVALID_REQUEST", `Invalid ${where}: ${problem}`, {
      issues: [{ path: where, message: problem }],
    });
  }
}

/** The name of the route parameter whose segment holds the NUL (`/a/:userId` → userId), else "URL". */
function pathParameterWithNul(path: string, pattern: string): string {
  const segments = path.split("/");
  const names = pattern.split("/");
  const name = names.length === segments.length ? names[segments.findIndex((segment) => nul.test(segment))] : undefined;
  return name?.startsWith(":") ? name.slice(1).replace(/\{.*$/, "") : "URL";
}
