/**
 * Latchkey for the demo: the server embedded in this process on its embedded database (PGlite)
 * in a data dir of its own, as `latchkey serve` runs it; then the demo's workspace, connector and
 * app made the way an operator and an admin would, through the public HTTP API.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { listen } from "../../../packages/server/src/cli/http-server.ts";
import { serverLogger } from "../../../packages/server/src/cli/loggers.ts";
import { openInstance } from "../../../packages/server/src/cli/open-instance.ts";
import { loadConfig } from "../../../packages/server/src/config/config.ts";
import { migrateToLatest } from "../../../packages/server/src/db/migrate.ts";
import { openEmbedded } from "../../../packages/server/src/db/open-database.ts";

export interface EmbeddedLatchkey {
  /** http://localhost:<port> */
  url: string;
  operatorKey: string;
  close(): Promise<void>;
}

export async function startEmbeddedLatchkey(options: {
  port: number;
  dataDir: string;
  /** An empty, migrated database to start from (see prepareDatabaseTemplate); absent: a new one. */
  template?: string;
  logLevel: string;
}): Promise<EmbeddedLatchkey> {
  if (options.template) {
    await fs.cp(options.template, path.join(options.dataDir, "pgdata"), { recursive: true });
  }
  const url = `http://localhost:${options.port}`;
  const operatorKey = `lk_demo_operator_${randomBytes(24).toString("base64url")}`;
  const config = loadConfig({
    PORT: String(options.port),
    HOST: "127.0.0.1",
    LATCHKEY_PUBLIC_URL: url,
    LATCHKEY_DATA_DIR: options.dataDir,
    LATCHKEY_OPERATOR_KEY: operatorKey,
    LOG_LEVEL: options.logLevel,
  });
  const opened = await openInstance(config, serverLogger(config), { operatorKey: "read" });
  try {
    const listening = await listen(opened.instance, opened.config);
    return {
      url,
      operatorKey,
      async close() {
        try {
          await listening.close(2_000);
        } finally {
          await opened.close();
        }
      },
    };
  } catch (error) {
    await opened.close();
    throw error;
  }
}

/**
 * Creating an embedded database (initdb) is most of the demo's start-up time, and every run wants
 * an empty one. The first run makes an empty, migrated database in `dir` (once, atomically); later
 * runs copy it. Returns the template's pgdata folder.
 */
export async function prepareDatabaseTemplate(dir: string): Promise<string> {
  const template = path.join(dir, "pgdata");
  if (
    await fs.stat(path.join(template, "PG_VERSION")).then(
      () => true,
      () => false,
    )
  ) {
    return template;
  }
  await fs.mkdir(dir, { recursive: true });
  const building = await fs.mkdtemp(path.join(dir, "building-"));
  try {
    const database = await openEmbedded({ dataDir: building });
    try {
      await migrateToLatest(database.db);
    } finally {
      await database.close();
    }
    // Another demo may have finished first: then its template stays and this one is dropped.
    await fs.rename(path.join(building, "pgdata"), template).catch(() => undefined);
  } finally {
    await fs.rm(building, { recursive: true, force: true });
  }
  return template;
}

export interface DemoTenant {
  workspaceId: string;
  adminEmail: string;
  /** One-time link to set the admin's console password. */
  setupUrl: string;
  appId: string;
  serviceKey: string;
  connectorId: string;
  callbackUrl: string;
}

export const demoAdminEmail = "admin@calendar-demo.test";

/** The workspace (operator key), then its connector, app and console setup link (admin API key). */
export async function provisionDemoTenant(
  latchkey: Pick<EmbeddedLatchkey, "url" | "operatorKey">,
  input: {
    appOrigin: string;
    connector: { issuer: string; clientId: string; clientSecret: string; scopes: string[] };
  },
): Promise<DemoTenant> {
  const api = async <T>(method: string, route: string, token: string, body: unknown, status: number): Promise<T> => {
    const response = await fetch(`${latchkey.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status !== status) throw new Error(`${method} ${route} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  };

  const created = await api<{ workspace: { id: string }; admin: { id: string }; admin_api_key: string }>(
    "POST",
    "/api/operator/workspaces",
    latchkey.operatorKey,
    { name: "Calendar demo", plan: "builder", admin_email: demoAdminEmail },
    201,
  );
  const workspaceId = created.workspace.id;
  const adminKey = created.admin_api_key;
  const workspaceRoute = `/api/workspaces/${workspaceId}`;

  const { connector } = await api<{ connector: { id: string; callback_url: string } }>(
    "POST",
    `${workspaceRoute}/connectors`,
    adminKey,
    {
      provider: "oidc",
      name: "Demo Calendar",
      issuer: input.connector.issuer,
      client_id: input.connector.clientId,
      client_secret: input.connector.clientSecret,
      scopes: input.connector.scopes,
    },
    201,
  );
  const { app, service_key } = await api<{ app: { id: string }; service_key: string }>(
    "POST",
    `${workspaceRoute}/apps`,
    adminKey,
    { name: "Calendar demo app", allowed_return_origins: [input.appOrigin], identity: { type: "latchkey" } },
    201,
  );
  const link = await api<{ setup_url: string }>(
    "POST",
    `${workspaceRoute}/members/${created.admin.id}/setup-link`,
    adminKey,
    undefined,
    201,
  );
  return {
    workspaceId,
    adminEmail: demoAdminEmail,
    setupUrl: link.setup_url,
    appId: app.id,
    serviceKey: service_key,
    connectorId: connector.id,
    callbackUrl: connector.callback_url,
  };
}
