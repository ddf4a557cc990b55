/**
 * The demo provider's pages. Every one carries a banner saying what it is: a provider running on
 * this machine for the demo, where no real account exists and nothing typed leaves the machine.
 */
export interface ScopeLine {
  scope: string;
  text: string;
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Demo Calendar</title>
<style>
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  body { margin: 0; background: #f2efe8; color: #1f2328; }
  .demo-banner { background: #ffd43b; color: #3b2f00; text-align: center; padding: 10px 16px; font-weight: 600;
    border-bottom: 2px solid #e0b400; }
  .demo-banner small { display: block; font-weight: 400; }
  main { max-width: 420px; margin: 48px auto; background: #fff; border-radius: 12px; padding: 28px 32px 32px;
    box-shadow: 0 2px 10px rgba(0, 0, 0, .08); }
  .brand { display: flex; align-items: center; gap: 10px; font-weight: 700; font-size: 18px; color: #b4451f; }
  .brand .logo { width: 32px; height: 32px; border-radius: 8px; background: #e8590c; color: #fff; display: grid;
    place-items: center; font-size: 18px; }
  h1 { font-size: 22px; margin: 20px 0 8px; }
  p { line-height: 1.5; margin: 8px 0; }
  label { display: block; font-weight: 600; margin: 18px 0 6px; }
  input[type=text] { width: 100%; box-sizing: border-box; font-size: 16px; padding: 10px 12px; border: 1px solid #bbb;
    border-radius: 8px; }
  .hint { color: #59636e; font-size: 14px; }
  .problem { color: #b42318; font-size: 14px; }
  ul.scopes { padding-left: 0; list-style: none; margin: 16px 0; }
  ul.scopes li { padding: 10px 12px; border: 1px solid #e5e1d8; border-radius: 8px; margin-bottom: 8px; }
  ul.scopes code { color: #59636e; font-size: 12px; display: block; margin-top: 2px; }
  .actions { display: flex; gap: 12px; margin-top: 22px; }
  button { font-size: 16px; padding: 10px 18px; border-radius: 8px; border: 1px solid transparent; cursor: pointer; }
  button.primary { background: #e8590c; color: #fff; }
  button.secondary { background: #fff; color: #1f2328; border-color: #bbb; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 12px; }
  dt { font-weight: 600; }
  dd { margin: 0; word-break: break-word; }
</style>
</head>
<body>
<div class="demo-banner" role="note">Demo provider — not a real account
  <small>Runs on your machine for the Latchkey demo. No password; nothing you type leaves this computer.</small></div>
<main>
<div class="brand"><span class="logo" aria-hidden="true">▦</span> Demo Calendar</div>
${body}
</main>
</body>
</html>`;
}

export function loginPage(input: { uid: string; clientName: string; problem?: string; value?: string }): string {
  const problem = input.problem ? `<p class="problem" role="alert">${escapeHtml(input.problem)}</p>` : "";
  return layout(
    "Sign in",
    `<h1>Sign in to Demo Calendar</h1>
<p><strong>${escapeHtml(input.clientName)}</strong> wants to use your Demo Calendar account.</p>
<form method="post" action="/interaction/${escapeHtml(input.uid)}/login" autocomplete="off">
  <label for="login">Demo account name</label>
  <input id="login" name="login" type="text" required maxlength="40" value="${escapeHtml(input.value ?? "alex")}">
  <p class="hint">Any name works: each name is its own demo account with its own events.</p>
  ${problem}
  <div class="actions">
    <button class="primary" type="submit">Sign in</button>
    <button class="secondary" type="submit" formaction="/interaction/${escapeHtml(input.uid)}/abort" formnovalidate>Cancel</button>
  </div>
</form>`,
  );
}

export function consentPage(input: { uid: string; clientName: string; account: string; scopes: ScopeLine[] }): string {
  const scopes = input.scopes
    .map((line) => `<li>${escapeHtml(line.text)}<code>${escapeHtml(line.scope)}</code></li>`)
    .join("");
  return layout(
    "Allow access",
    `<h1>Allow access to your calendar?</h1>
<p>Signed in as <strong>${escapeHtml(input.account)}</strong>.</p>
<p><strong>${escapeHtml(input.clientName)}</strong> asks to:</p>
<ul class="scopes">${scopes}</ul>
<div class="actions">
  <form method="post" action="/interaction/${escapeHtml(input.uid)}/confirm"><button class="primary" type="submit">Allow</button></form>
  <form method="post" action="/interaction/${escapeHtml(input.uid)}/abort"><button class="secondary" type="submit">Deny</button></form>
</div>`,
  );
}

export function errorPage(out: Record<string, unknown>): string {
  const rows = Object.entries(out)
    .map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(String(value))}</dd>`)
    .join("");
  return layout("Something went wrong", `<h1>Something went wrong</h1><dl>${rows}</dl>`);
}

export function homePage(issuer: string): string {
  return layout(
    "About",
    `<h1>A demo OAuth provider</h1>
<p>Demo Calendar is an OpenID Connect provider (oidc-provider) that the Latchkey demo runs locally, with a small
calendar API. Apps reach it through Latchkey.</p>
<dl><dt>Discovery</dt><dd>${escapeHtml(issuer)}/.well-known/openid-configuration</dd>
<dt>Events API</dt><dd>GET ${escapeHtml(issuer)}/calendar/events (Bearer access token)</dd></dl>`,
  );
}
