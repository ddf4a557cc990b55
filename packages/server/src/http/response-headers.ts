import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";

/**
 * Headers every answer carries (request id, CORS), gathered during the request in one plain
 * object, `c.get("responseHeaders")`. The token routes answer with `bodyWithResponseHeaders`
 * (their JSON already serialized, so the token cache can keep it), which hands them to the
 * Response as that plain object: @hono/node-server gives it to Node as is, whereas `c.header()` + `c.json()` build a Fetch `Headers` that node-server then
 * converts back (a measurable share of the token hot path). Every other answer gets them from
 * `applyResponseHeaders` once its route has run.
 */
export function bodyWithResponseHeaders(
  c: Context<AppEnv>,
  json: string,
  status: number,
  extra: Readonly<Record<string, string>>,
): Response {
  c.set("responseHeadersApplied", true);
  // The request's own object, completed in place: no copy per answer.
  const headers = c.get("responseHeaders");
  headers["Content-Type"] = "application/json";
  for (const name in extra) headers[name] = extra[name] as string;
  return new Response(json, { status, headers });
}

/** Adds the gathered headers to a response built any other way. */
export function applyResponseHeaders(c: Context<AppEnv>): void {
  if (c.get("responseHeadersApplied")) return;
  const headers = c.res.headers;
  for (const [name, value] of Object.entries(c.get("responseHeaders"))) headers.set(name, value);
}
