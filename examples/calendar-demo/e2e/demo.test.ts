/**
 * The calendar demo as a person uses it: `npm run demo`'s program started as a child process
 * (on free ports), then Chromium (Debian's, driven by playwright-core) signs a demo user in,
 * connects the calendar at the demo provider, sees the events, disconnects; the admin checks the
 * console's Connections page before and after. Screenshots of every page go to e2e/artifacts/.
 * Without /usr/bin/chromium the suite prints SKIPPED and skips (.ci/run installs it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const chromiumPath = "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium) {
  console.log(
    `\n[latchkey] Calendar demo browser tests SKIPPED: ${chromiumPath} is not installed (.ci/run installs it; or apt-get install chromium).\n`,
  );
}

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const artifacts = path.join(here, "artifacts");
const password = "correct horse battery staple";
const startTimeoutMs = 180_000;

interface Demo {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  appUrl: string;
  setupUrl: string;
  ports: number[];
}

describe.skipIf(!haveChromium)("the calendar demo in a browser", () => {
  let demo: Demo;
  let startedAt: number;
  let readyAfterMs: number;
  let browser: Browser;
  let user: BrowserContext;
  let app: Page;
  let adminContext: BrowserContext;
  let admin: Page;

  const shot = async (target: Page, name: string) => {
    await target.screenshot({ path: path.join(artifacts, `demo-${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    await fs.mkdir(artifacts, { recursive: true });
    startedAt = performance.now();
    demo = await startDemoProcess();
    readyAfterMs = performance.now() - startedAt;
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
    user = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    app = await user.newPage();
    adminContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    admin = await adminContext.newPage();
  }, startTimeoutMs + 60_000);

  afterAll(async () => {
    await browser?.close();
    if (demo && demo.child.exitCode === null) demo.child.kill("SIGKILL");
  });

  it("prints one URL to open and the console's one-time setup link", () => {
    const output = demo.output();
    expect(output.match(/^\s+Open (http:\/\/\S+)$/gm)).toHaveLength(1);
    expect(demo.setupUrl).toMatch(/\/console\/setup#token=/);
    expect(output).toMatch(/ready \(started in \d+\.\d s\)/);
  });

  it("lets a demo user sign in, connect the calendar at the demo provider, and see the events", async () => {
    await app.goto(demo.appUrl);
    await app.getByRole("heading", { name: "Sign in" }).waitFor();
    await shot(app, "01-app-sign-in");

    await app.getByLabel("Your name").fill("Ada Lovelace");
    await app.getByRole("button", { name: "Sign in" }).click();
    await app.getByRole("button", { name: "Connect calendar" }).waitFor();
    expect(await app.getByText("Signed in as Ada Lovelace").count()).toBe(1);
    await shot(app, "02-app-not-connected");

    await app.getByRole("button", { name: "Connect calendar" }).click();
    await app.getByRole("heading", { name: "Sign in to Demo Calendar" }).waitFor();
    expect(await app.getByRole("note").textContent()).toContain("Demo provider — not a real account");
    await shot(app, "03-provider-sign-in");

    await app.getByLabel("Demo account name").fill("ada");
    await app.getByRole("button", { name: "Sign in" }).click();
    await app.getByRole("heading", { name: "Allow access to your calendar?" }).waitFor();
    expect(await app.getByText("See the events in your calendar").count()).toBe(1);
    await shot(app, "04-provider-consent");

    await app.getByRole("button", { name: "Allow" }).click();
    await app.locator("#events[data-loaded=true]").waitFor();
    const toEvents = performance.now() - startedAt;
    expect(new URL(app.url()).origin).toBe(demo.appUrl);
    expect(new URL(app.url()).search).toBe(""); // the page tidied latchkey_status away
    await app.getByText("Calendar connected.").waitFor();
    const titles = await app.locator(".event strong").allTextContents();
    expect(titles).toEqual([
      "Stand-up with Ada's team",
      "Design review: connections page",
      "1:1 — Ada and Sam",
      "Latchkey demo day",
    ]);
    expect(await app.getByText("Connected as ada@demo-calendar.test").count()).toBe(1);
    await shot(app, "05-app-events");
    console.log(
      `[latchkey] calendar demo: ready ${(readyAfterMs / 1000).toFixed(1)} s after \`npm run demo\` started; ` +
        `events on screen after ${(toEvents / 1000).toFixed(1)} s (sign-in, connect, provider login and consent driven by the test)`,
    );
  });

  it("shows the admin that connection on the console's Connections page", async () => {
    await admin.goto(demo.setupUrl);
    await admin.getByLabel("New password").fill(password);
    await admin.getByLabel("Repeat it").fill(password);
    await shot(admin, "06-console-setup");
    await admin.getByRole("button", { name: "Set password and sign in" }).click();
    await admin.getByRole("heading", { name: "Calendar demo" }).waitFor();
    await admin.getByRole("link", { name: "Connections", exact: true }).click();
    const row = admin.getByRole("row").filter({ hasText: "ada-lovelace" });
    await row.waitFor();
    expect(await row.textContent()).toContain("ada@demo-calendar.test");
    expect(await row.textContent()).toContain("Demo Calendar");
    await shot(admin, "07-console-connection");
  });

  it("disconnects: the app shows Connect again, the backend finds no connection, the console lists none", async () => {
    await app.getByRole("button", { name: "Disconnect" }).click();
    await app.getByRole("button", { name: "Connect calendar" }).waitFor();
    await app.getByText(/Calendar disconnected/).waitFor();
    await shot(app, "08-app-disconnected");

    const events = await app.evaluate(async () => {
      const session = JSON.parse(localStorage.getItem("calendar-demo.session") ?? "{}");
      const response = await fetch("/api/events", { headers: { authorization: `Bearer ${session.token}` } });
      return { status: response.status, body: await response.json() };
    });
    expect(events).toMatchObject({ status: 404, body: { error: { code: "CONNECTION_NOT_FOUND" } } });

    await admin.reload();
    await admin.getByText(/No connections yet/).waitFor();
    expect(await admin.getByRole("row").filter({ hasText: "ada-lovelace" }).count()).toBe(0);
    await shot(admin, "09-console-no-connection");
  });

  it("brings a user back with an error when they cancel at the provider", async () => {
    // Another person, in a browser that has no session at the demo provider yet.
    const other = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await other.newPage();
    await page.goto(demo.appUrl);
    await page.getByLabel("Your name").fill("Grace Hopper");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Connect calendar" }).click();
    await page.getByRole("heading", { name: "Sign in to Demo Calendar" }).waitFor();
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByText(/Connecting did not finish \(access_denied\)/).waitFor();
    await page.getByRole("button", { name: "Connect calendar" }).waitFor();
    await shot(page, "10-app-consent-cancelled");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Your name").fill("!!!");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page
      .getByRole("alert")
      .filter({ hasText: /name: 1–40 characters/ })
      .waitFor();
    await shot(page, "11-app-sign-in-refused");
    await other.close();
  });

  it("stops everything on Ctrl+C", async () => {
    demo.child.kill("SIGINT");
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain("Demo stopped");
    for (const port of demo.ports) {
      await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    }
  });
});

/** Runs the demo's program on three free ports and waits for its banner. */
async function startDemoProcess(): Promise<Demo> {
  const ports = [await freePort(), await freePort(), await freePort()] as const;
  const child = spawn(
    process.execPath,
    ["--conditions=latchkey-source", "--import", "tsx", "examples/calendar-demo/demo/main.ts"],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        NODE_ENV: "development",
        LOG_LEVEL: "warn",
        DEMO_LATCHKEY_PORT: String(ports[0]),
        DEMO_PROVIDER_PORT: String(ports[1]),
        DEMO_APP_PORT: String(ports[2]),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + startTimeoutMs;
  while (!output.includes("Stop with Ctrl+C.")) {
    if (child.exitCode !== null) throw new Error(`The demo exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`The demo was not ready after ${startTimeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const appUrl = /^\s+Open (http:\/\/\S+)$/m.exec(output)?.[1];
  const setupUrl = /(http:\/\/\S+\/console\/setup#token=\S+)/.exec(output)?.[1];
  if (!appUrl || !setupUrl) throw new Error(`The demo's banner lacks a URL:\n${output}`);
  return { child, output: () => output, exited, appUrl, setupUrl, ports: [...ports] };
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
