// The calendar demo's page: plain JavaScript, the only library is @latchkey/sdk.
import { createClient } from "@latchkey/sdk";

const storageKey = "calendar-demo.session";
const $ = (id) => document.getElementById(id);

const config = await (await fetch("/api/config")).json();
let session = loadSession();

// The frontend client: the signed-in user's token, never a service key.
const latchkey = createClient({
  serverUrl: config.latchkeyUrl,
  appId: config.appId,
  token: () => session?.token,
});

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = $("sign-in-problem");
  problem.hidden = true;
  const response = await fetch("/api/sign-in", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: $("name").value }),
  });
  const answer = await response.json();
  if (!response.ok) {
    problem.textContent = answer.error?.message ?? "Sign-in failed";
    problem.hidden = false;
    return;
  }
  session = { appId: config.appId, user: answer.user, token: answer.token, expiresAt: answer.expiresAt };
  localStorage.setItem(storageKey, JSON.stringify(session));
  await render();
});

$("sign-out").addEventListener("click", async () => {
  session = null;
  localStorage.removeItem(storageKey);
  showNotice(null);
  await render();
});

$("connect").addEventListener("click", async () => {
  $("connect").disabled = true;
  try {
    // Latchkey answers with the provider's consent URL; it sends the browser back here afterwards.
    window.location.href = await latchkey.connectors.connectAppUser(config.connectorId);
  } catch (error) {
    $("connect").disabled = false;
    showNotice(`Could not start connecting: ${error.message}`, "error");
  }
});

$("disconnect").addEventListener("click", async () => {
  $("disconnect").disabled = true;
  try {
    await latchkey.connectors.disconnectAppUser(config.connectorId);
    showNotice("Calendar disconnected. Latchkey deleted the tokens and revoked them at the provider.", "ok");
  } catch (error) {
    showNotice(`Could not disconnect: ${error.message}`, "error");
  } finally {
    $("disconnect").disabled = false;
  }
  await render();
});

readReturnFromLatchkey();
await render();

/** After the consent screen, Latchkey sends the browser back with latchkey_status in the query. */
function readReturnFromLatchkey() {
  const params = new URLSearchParams(window.location.search);
  const status = params.get("latchkey_status");
  if (!status) return;
  if (status === "connected") showNotice("Calendar connected.", "ok");
  else showNotice(`Connecting did not finish (${params.get("latchkey_error") ?? "error"}).`, "error");
  window.history.replaceState(null, "", window.location.pathname);
}

async function render() {
  const signedIn = session !== null;
  $("who").hidden = !signedIn;
  $("sign-in-card").hidden = signedIn;
  $("calendar-card").hidden = !signedIn;
  if (!signedIn) {
    $("name").focus();
    return;
  }
  $("who-name").textContent = session.user.name;
  $("loading").hidden = false;
  $("not-connected").hidden = true;
  $("connected").hidden = true;
  $("disconnect").hidden = true;

  let connections;
  try {
    connections = await latchkey.connectors.listAppUserConnections();
  } catch (error) {
    if (error.code !== "INVALID_USER_TOKEN") throw error;
    session = null;
    localStorage.removeItem(storageKey);
    showNotice("Your demo session ended: sign in again.", "error");
    return render();
  }
  const connection = connections.find((c) => c.connectorId === config.connectorId);
  $("loading").hidden = true;
  if (!connection) {
    $("connect").textContent = "Connect calendar";
    $("connect").disabled = false;
    $("not-connected").hidden = false;
    return;
  }
  $("disconnect").hidden = false;
  if (connection.status === "needs_reauth") {
    $("connect").textContent = "Reconnect calendar";
    $("connect").disabled = false;
    $("not-connected").hidden = false;
    showNotice("The calendar stopped accepting this connection: connect it again.", "error");
    return;
  }
  const account = connection.account?.email ?? connection.account?.name ?? connection.account?.id ?? "your account";
  $("connected-as").textContent = `Connected as ${account}`;
  $("connected").hidden = false;
  await loadEvents();
}

/** The app's own backend function reads the calendar; the page only sends the user's token. */
async function loadEvents() {
  const list = $("events");
  list.replaceChildren();
  const response = await fetch("/api/events", { headers: { authorization: `Bearer ${session.token}` } });
  const answer = await response.json();
  if (!response.ok) {
    showNotice(
      `The backend could not read the calendar: ${answer.error?.message ?? answer.error ?? response.status}`,
      "error",
    );
    return;
  }
  for (const event of answer.events) list.append(eventItem(event));
  list.dataset.loaded = "true";
}

function eventItem(event) {
  const start = new Date(event.start);
  const end = new Date(event.end);
  const item = document.createElement("li");
  item.className = "event";
  const when = document.createElement("div");
  when.className = "when";
  const day = document.createElement("span");
  day.className = "day";
  day.textContent = start.toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric" });
  const time = document.createElement("span");
  time.className = "time";
  const clock = { hour: "2-digit", minute: "2-digit" };
  time.textContent = `${start.toLocaleTimeString(undefined, clock)}–${end.toLocaleTimeString(undefined, clock)}`;
  when.append(day, time);
  const what = document.createElement("div");
  what.className = "what";
  const title = document.createElement("strong");
  title.textContent = event.title;
  const where = document.createElement("span");
  where.className = "muted";
  where.textContent = event.location;
  what.append(title, where);
  item.append(when, what);
  return item;
}

function showNotice(text, kind) {
  const notice = $("notice");
  notice.hidden = text === null;
  notice.textContent = text ?? "";
  notice.className = `notice ${kind ?? ""}`;
}

function loadSession() {
  try {
    const stored = JSON.parse(localStorage.getItem(storageKey) ?? "null");
    // Each `npm run demo` makes a new app: a session from an earlier run is over.
    if (stored?.appId === config.appId && Date.parse(stored.expiresAt) > Date.now() + 60_000) return stored;
  } catch {
    // an unreadable entry is a signed-out user
  }
  localStorage.removeItem(storageKey);
  return null;
}
