import type { Context } from "hono";

const messages = {
  missing_state: "This page expects a sign-in response from a provider, and this request does not carry one.",
  unknown_state: "This sign-in link is invalid, or it was already used. Go back to the app and connect again.",
  return_to_not_allowed:
    "The app no longer accepts returns to the address this sign-in started from. Go back to the app and connect again.",
} as const;

/**
 * The answer when a callback has no usable state, so there is no app to send the user back to.
 * Static text only: nothing from the request is reflected.
 */
export function callbackErrorPage(c: Context, reason: keyof typeof messages): Response {
  c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Content-Type-Options", "nosniff");
  return c.html(
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Connection failed</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>
<body><h1>Connection failed</h1><p>${messages[reason]}</p></body>
</html>`,
    400,
  );
}
