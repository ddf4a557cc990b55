import type { Context } from "hono";
import type { ErrorCode } from "@latchkey/contracts";
import { AppError } from "../errors/app-error.ts";

type Reason = "missing_state" | "unknown_state" | "return_to_not_allowed";

const failures: Record<Reason, { code: ErrorCode; message: string }> = {
  missing_state: {
    code: "INVALID_STATE",
    message: "This page expects a sign-in response from a provider, and this request does not carry one.",
  },
  unknown_state: {
    code: "INVALID_STATE",
    message: "This sign-in link is invalid, or it was already used. Go back to the app and connect again.",
  },
  return_to_not_allowed: {
    code: "RETURN_TO_NOT_ALLOWED",
    message:
      "The app no longer accepts returns to the address this sign-in started from. Go back to the app and connect again.",
  },
};

/**
 * The answer when a callback has no usable state, so there is no app to send the user back to: the
 * JSON error envelope for a client that asks for JSON (thrown, so onError writes it with the request
 * id), else a small page naming the same code. Static text only: nothing from the request is reflected.
 */
export function callbackErrorPage(c: Context, reason: Reason): Response {
  const { code, message } = failures[reason];
  if (prefersJson(c.req.header("accept"))) throw new AppError(code, message);
  c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Content-Type-Options", "nosniff");
  return c.html(
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Connection failed</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>
<body><h1>Connection failed</h1><p>${message}</p><p>Error code: <code>${code}</code></p></body>
</html>`,
    400,
  );
}

/**
 * Whether the Accept header ranks JSON (application/json or any +json type) above HTML. A browser
 * (text/html first, or only *\/*) gets the page; an API client asking for JSON gets JSON.
 */
export function prefersJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let json = 0;
  let html = 0;
  for (const part of accept.split(",")) {
    const [type = "", ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    const qParameter = parameters.find((parameter) => parameter.startsWith("q="));
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type)) json = Math.max(json, q);
    if (type === "text/html" || type === "application/xhtml+xml") html = Math.max(html, q);
  }
  return json > 0 && json >= html;
}
