/**
 * The whole demo in one process: the demo provider, Latchkey (embedded), the tenant made through
 * Latchkey's API, and the calendar app configured from it.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startDemoApp } from "../app/server.ts";
import { type DemoTenant, prepareDatabaseTemplate, provisionDemoTenant, startEmbeddedLatchkey } from "./latchkey.ts";
import { calendarScope, startDemoProvider } from "./provider.ts";

export interface DemoPorts {
  latchkey: number;
  provider: number;
  app: number;
}

export const defaultPorts: DemoPorts = { latchkey: 4410, provider: 4411, app: 4412 };

export interface RunningDemo {
  appUrl: string;
  latchkeyUrl: string;
  providerUrl: string;
  dataDir: string;
  tenant: DemoTenant;
  close(): Promise<void>;
}

/** Where the empty database the demo starts from is kept (git-ignored). */
export const defaultTemplateDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../.latchkey-demo");

export async function startDemo(options: {
  ports: DemoPorts;
  logLevel?: string;
  templateDir?: string;
}): Promise<RunningDemo> {
  const latchkeyUrl = `http://localhost:${options.ports.latchkey}`;
  const appUrl = `http://localhost:${options.ports.app}`;
  const client = {
    clientId: "latchkey-calendar-demo",
    clientSecret: randomBytes(24).toString("base64url"),
    redirectUri: `${latchkeyUrl}/oauth/callback`,
  };
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-demo-"));
  const closers: (() => Promise<void>)[] = [() => fs.rm(dataDir, { recursive: true, force: true })];
  const close = async () => {
    for (const closeOne of closers.splice(0).reverse()) {
      await closeOne().catch((error: unknown) => console.error("[demo] while stopping:", error));
    }
  };

  try {
    const closing = <T extends { close(): Promise<void> }>(started: T): T => {
      closers.push(() => started.close());
      return started;
    };
    const [provider, latchkey] = await Promise.all([
      startDemoProvider({ port: options.ports.provider, client }).then(
        closing,
        named("demo provider", options.ports.provider, "DEMO_PROVIDER_PORT"),
      ),
      prepareDatabaseTemplate(options.templateDir ?? defaultTemplateDir)
        .then((template) =>
          startEmbeddedLatchkey({
            port: options.ports.latchkey,
            dataDir,
            template,
            logLevel: options.logLevel ?? "warn",
          }),
        )
        .then(closing, named("Latchkey", options.ports.latchkey, "DEMO_LATCHKEY_PORT")),
    ]);

    const tenant = await provisionDemoTenant(latchkey, {
      appOrigin: appUrl,
      connector: {
        issuer: provider.issuer,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        scopes: ["openid", "profile", "email", calendarScope],
      },
    });
    if (tenant.callbackUrl !== client.redirectUri) {
      throw new Error(`Latchkey's callback is ${tenant.callbackUrl}, the provider expects ${client.redirectUri}`);
    }

    // The app is configured as a deployed app would be: through its environment.
    Object.assign(process.env, {
      LATCHKEY_URL: latchkey.url,
      LATCHKEY_APP_ID: tenant.appId,
      LATCHKEY_SERVICE_KEY: tenant.serviceKey,
      CALENDAR_CONNECTOR_ID: tenant.connectorId,
      CALENDAR_EVENTS_URL: provider.eventsUrl,
    });
    const app = await startDemoApp({ port: options.ports.app }).catch(
      named("demo app", options.ports.app, "DEMO_APP_PORT"),
    );
    closers.push(() => app.close());

    return { appUrl: app.url, latchkeyUrl: latchkey.url, providerUrl: provider.issuer, dataDir, tenant, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A port already taken gets a message that says which variable picks another. */
function named(what: string, port: number, variable: string) {
  return (error: unknown): never => {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE" || /already in use/.test(String(error))) {
      throw new Error(
        `Port ${port} (${what}) is already in use: stop what runs there, or set ${variable} to a free port`,
      );
    }
    throw error;
  };
}
