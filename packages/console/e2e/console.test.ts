/**
 * The console in a real browser (Debian Chromium driven by playwright-core) against a real
 * Latchkey server on the embedded database. Screenshots of every screen go to e2e/artifacts/.
 * Without /usr/bin/chromium the suite prints SKIPPED and skips (.ci/run installs it).
 */
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { serve } from "@hono/node-server";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueSetupLink } from "../../server/src/console/setup-links.ts";
import { buildTestApp, testOperatorKey, type TestApp } from "../../server/test/support/test-app.ts";
import { createTestDatabase } from "../../server/test/support/test-database.ts";
import { distDir, ensureConsoleBuilt } from "../scripts/ensure-built.ts";

const chromiumPath = "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium) {
  console.log(
    `\n[latchkey] Console browser tests SKIPPED: ${chromiumPath} is not installed (.ci/run installs it; or apt-get install chromium).\n`,
  );
}

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), "artifacts");
const password = "correct horse battery staple";

describe.skipIf(!haveChromium)("the console in a browser", () => {
  let server: ReturnType<typeof serve>;
  let evil: Server;
  let base: string;
  let evilBase: string;
  let app: TestApp;
  let closeDb: () => Promise<void>;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  let workspaceId: string;
  let adminEmail: string;

  const shot = async (target: Page, name: string) => {
    await target.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
  };
  const operator = (method: string, route: string, body?: unknown) =>
    app.call(method, route, { token: testOperatorKey, ...(body !== undefined && { body }) });

  beforeAll(async () => {
    ensureConsoleBuilt();
    await fs.mkdir(artifacts, { recursive: true });
    const port = await freePort();
    base = `http://localhost:${port}`;
    const database = await createTestDatabase();
    closeDb = database.close;
    app = buildTestApp({ database, env: { LATCHKEY_PUBLIC_URL: base } });
    server = serve({ fetch: app.app.fetch, port, hostname: "127.0.0.1" });
    evil = await startEvilSite();
    evilBase = `http://localhost:${(evil.address() as AddressInfo).port}`;

    const created = await operator("POST", "/api/operator/workspaces", {
      name: "Acme",
      plan: "builder",
      admin_email: "ops@acme.test",
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { workspace: { id: string }; admin: { id: string; email: string } };
    workspaceId = body.workspace.id;
    adminEmail = body.admin.email;

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    admin = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await admin.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    evil?.close();
    await closeDb?.();
  });

  it("reports the bundle size and how fast the first page is interactive", async () => {
    const assets = await fs.readdir(path.join(distDir, "assets"));
    let gzipped = 0;
    for (const file of assets.filter((name) => name.endsWith(".js"))) {
      gzipped += gzipSync(await fs.readFile(path.join(distDir, "assets", file))).length;
    }
    // Each load in a fresh context (no cache, no cookie): from navigation start to the sign-in
    // form rendered and enabled, i.e. HTML, the bundle, React and the session check all done.
    const timings: number[] = [];
    for (let run = 0; run < 3; run++) {
      const fresh = await browser.newContext();
      const first = await fresh.newPage();
      await first.goto(`${base}/console/`);
      await first.getByRole("button", { name: "Sign in" }).waitFor();
      timings.push(await first.evaluate(() => performance.now()));
      if (run === 0) await shot(first, "01-sign-in");
      await fresh.close();
    }
    console.log(
      `[latchkey] console JS bundle ${(gzipped / 1024).toFixed(1)} kB gzipped; sign-in page interactive after ${timings.map((ms) => `${ms.toFixed(0)} ms`).join(", ")} (cold, then warm browser)`,
    );
    expect(gzipped).toBeLessThan(250 * 1024);
  });

  it("serves the console with a strict CSP, and / redirects there", async () => {
    const root = await fetch(`${base}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/");
    const index = await fetch(`${base}/console/apps/deep-link`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await index.text()).toContain('<div id="root">');
  });

  it("lets the first admin set a password through the one-time setup link", async () => {
    const link = await issueSetupLink(app.deps, { workspaceId, email: adminEmail });
    await page.goto(link.setupUrl);
    await page.getByLabel("New password").fill(password);
    await page.getByLabel("Repeat it").fill(password);
    await shot(page, "02-setup");
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await page.getByRole("heading", { name: "Acme" }).waitFor();
    await shot(page, "03-overview");

    // The link is spent.
    const again = await browser.newContext();
    const second = await again.newPage();
    await second.goto(link.setupUrl);
    await second.getByLabel("New password").fill(password);
    await second.getByLabel("Repeat it").fill(password);
    await second.getByRole("button", { name: "Set password and sign in" }).click();
    await expect(second.getByRole("alert").textContent()).resolves.toMatch(/link/i);
    await shot(second, "04-setup-link-spent");
    await again.close();
  });

  it("shows an error for a wrong password", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Email").fill(adminEmail);
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toContain("Invalid email or password");
    await shot(page, "05-sign-in-wrong-password");
  });

  it("signs the admin in; they register a connector, create an app and a service key", async () => {
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Acme" }).waitFor();

    await page.getByRole("link", { name: "Connectors", exact: true }).click();
    await page.getByText("No connectors yet.").waitFor();
    await shot(page, "06-connectors-empty");
    await page.getByRole("link", { name: "Register a connector" }).click();
    await page.getByLabel("Search providers").fill("zzz-nothing");
    await page.getByRole("button", { name: /Generic OpenID Connect/ }).waitFor();
    await shot(page, "07-provider-picker");
    await page.getByRole("button", { name: /Generic OAuth 2.0/ }).click();
    await expect(page.getByLabel("Redirect (callback) URL to register at the provider").inputValue()).resolves.toBe(
      `${base}/oauth/callback`,
    );
    await page.getByLabel("Name").fill("Acme SSO");
    await page.getByLabel("Client id").fill("acme-client");
    await page.getByLabel("Client secret").fill("acme-secret-value");
    await page.getByLabel("Authorization URL").fill("https://auth.acme.test/authorize");
    await page.getByLabel("Token URL").fill("https://auth.acme.test/token");
    await page.getByLabel("Scopes").fill("openid email");
    await shot(page, "08-connector-form");
    await page.getByRole("button", { name: "Register connector" }).click();
    await page.getByRole("heading", { name: /Acme SSO/ }).waitFor();
    await page.getByText("Connector registered.").waitFor();
    await shot(page, "09-connector-detail");

    await page.getByRole("link", { name: "Apps", exact: true }).click();
    await page.getByText("No apps yet.").waitFor();
    await shot(page, "10-apps-empty");
    await page.getByRole("link", { name: "Create an app" }).click();
    await page.getByLabel("Name").fill("Web");
    await page.getByLabel("Allowed return origins").fill("https://app.acme.test");
    await page.getByRole("radio", { name: /latchkey/ }).check();
    await shot(page, "11-new-app");
    await page.getByRole("button", { name: "Create app" }).click();
    const firstKey = await page.getByRole("textbox", { name: /Service key/ }).inputValue();
    expect(firstKey).toMatch(/^lk_svc_/);
    await shot(page, "12-app-created-key-once");
    await page.getByRole("button", { name: "I have saved it" }).click();
    await page.getByRole("heading", { name: "Web" }).waitFor();

    await page.getByLabel("New key name").fill("production backend");
    await page.getByRole("button", { name: "Create service key" }).click();
    const secondKey = await page.getByRole("textbox", { name: "Service key", exact: true }).inputValue();
    expect(secondKey).toMatch(/^lk_svc_/);
    expect(secondKey).not.toBe(firstKey);
    await shot(page, "13-app-detail-new-key");
    await page.getByRole("button", { name: "I have saved it" }).click();
    await page.getByRole("cell", { name: "production backend", exact: true }).waitFor();

    await page.getByRole("textbox", { name: "User token", exact: true }).fill("not-a-jwt");
    await page.getByRole("button", { name: "Check token" }).click();
    await expect(page.getByTestId("token-test-result").textContent()).resolves.toContain("Refused");
    await shot(page, "14-app-token-refused");

    // The keys work: the API sees what the console made.
    const apps = await app.call("GET", `/api/apps/${await appIdFromUrl(page)}/app-user-auth/connections`, {
      token: secondKey,
    });
    expect(apps.status).not.toBe(500);
  });

  it("shows the remaining screens: connections, members, audit log, account, plan limits", async () => {
    await page.getByRole("link", { name: "Connections", exact: true }).click();
    await page.getByText(/No connections yet/).waitFor();
    await shot(page, "15-connections");
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await page.waitForLoadState("networkidle");
    await shot(page, "16-audit-log");
    await page.getByRole("link", { name: "Your account" }).click();
    await page.getByText("this browser").waitFor();
    await shot(page, "17-account");

    expect((await operator("PATCH", `/api/operator/workspaces/${workspaceId}`, { plan: "starter" })).status).toBe(200);
    await page.getByRole("link", { name: "Overview" }).click();
    await page.reload();
    await page.getByText(/Needs the builder plan or higher/).waitFor();
    await shot(page, "18-overview-starter-plan");
    expect((await operator("PATCH", `/api/operator/workspaces/${workspaceId}`, { plan: "builder" })).status).toBe(200);
  });

  it("keeps a member out of admin pages and admin routes, even with their session cookie", async () => {
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByLabel("Email").fill("dev@acme.test");
    await page.getByRole("button", { name: "Invite" }).click();
    const setupUrl = await page.getByLabel("One-time setup link").inputValue();
    expect(setupUrl).toContain("/console/setup#token=");
    await shot(page, "19-members-invite-link");

    const memberContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const member = await memberContext.newPage();
    await member.goto(setupUrl);
    await member.getByLabel("New password").fill(password);
    await member.getByLabel("Repeat it").fill(password);
    await member.getByRole("button", { name: "Set password and sign in" }).click();
    await member.getByRole("heading", { name: "Acme" }).waitFor();
    expect(await member.getByRole("link", { name: "Members" }).count()).toBe(0);
    await shot(member, "20-member-overview");

    await member.goto(`${base}/console/members`);
    await member.getByTestId("admins-only").waitFor();
    await shot(member, "21-member-admins-only");
    await member.goto(`${base}/console/apps`);
    await member.getByRole("link", { name: "Web" }).click();
    await member.getByText("Read-only: only workspace admins change apps.").waitFor();
    expect(await member.getByRole("button", { name: "Delete app…" }).count()).toBe(0);
    await shot(member, "22-member-app-read-only");

    // With the session cookie and even the right CSRF token, admin routes answer 403.
    const answers = await member.evaluate(async (ws) => {
      const session = await (await fetch("/api/console/session")).json();
      const headers = { "content-type": "application/json", "x-csrf-token": session.csrf_token };
      const createApp = await fetch(`/api/workspaces/${ws}/apps`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: "sneaky", allowed_return_origins: [], identity: { type: "latchkey" } }),
      });
      const invite = await fetch(`/api/workspaces/${ws}/invitations`, {
        method: "POST",
        headers,
        body: JSON.stringify({ email: "friend@acme.test", role: "admin" }),
      });
      const read = await fetch(`/api/workspaces/${ws}/apps`);
      return {
        createApp: [createApp.status, (await createApp.json()).error.code],
        invite: [invite.status, (await invite.json()).error.code],
        read: read.status,
      };
    }, workspaceId);
    expect(answers).toEqual({ createApp: [403, "FORBIDDEN"], invite: [403, "FORBIDDEN"], read: 200 });
    await memberContext.close();
  });

  it("refuses a cross-site POST that carries the session cookie but no CSRF token", async () => {
    const before = await appNames();
    const attacker = await admin.newPage();
    await attacker.goto(`${evilBase}/?target=${encodeURIComponent(`${base}/api/workspaces/${workspaceId}/apps`)}`);
    await attacker.waitForURL(`${base}/api/workspaces/${workspaceId}/apps`);
    const answer = JSON.parse((await attacker.textContent("body")) ?? "{}") as { error?: { code?: string } };
    expect(answer.error?.code).toBe("FORBIDDEN");
    await shot(attacker, "23-cross-site-post-refused");
    await attacker.close();
    expect(await appNames()).toEqual(before);
  });

  async function appNames(): Promise<string[]> {
    const response = await page.evaluate(async (ws) => (await fetch(`/api/workspaces/${ws}/apps`)).json(), workspaceId);
    return (response as { apps: { name: string }[] }).apps.map((a) => a.name).sort();
  }
});

async function appIdFromUrl(page: Page): Promise<string> {
  return decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1) ?? "");
}

/** A page on another origin of the same site (localhost, another port) that auto-submits a form. */
function startEvilSite(): Promise<Server> {
  return new Promise((resolve) => {
    const site = createServer((request, response) => {
      const target = new URL(request.url ?? "/", "http://localhost").searchParams.get("target") ?? "";
      const html = `<!doctype html><form id="f" method="POST" action="${target.replaceAll('"', "&quot;")}" enctype="text/plain">
<input name='{"name":"evil","allowed_return_origins":[],"identity":{"type":"latchkey"},"x":"' value='"}'>
</form><script>document.getElementById("f").submit()</script>`;
      response.writeHead(200, { "content-type": "text/html" });
      response.end(html);
    });
    site.listen(0, "127.0.0.1", () => resolve(site));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
