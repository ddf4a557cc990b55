import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminUrl } from "../../test/support/postgres-admin.ts";
import { testDbKind } from "../../test/support/test-database.ts";
import type { EncryptionKeySpec } from "../config/config.ts";
import { openEmbedded, openPostgres, type OpenedDatabase } from "../db/open-database.ts";
import { hashSecretKey } from "../access/secret-keys.ts";
import { embeddedKeysFile, readEmbeddedKeys } from "../vault/embedded-keys.ts";
import { Vault } from "../vault/vault.ts";

const bin = fileURLToPath(new URL("../../bin/latchkey.js", import.meta.url));
const operatorKey = "op_cli_test_0123456789abcdefghijklmnopqrstuvwxyz";
const slow = { timeout: 120_000 };

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A clean environment: nothing of the test runner's LATCHKEY_*, DATABASE_URL or INIT_CWD leaks in. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: os.tmpdir(), LOG_LEVEL: "warn", ...extra };
}

function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] });
}

function runCli(args: string[], env: Record<string, string>): Promise<Finished> {
  const child = spawnCli(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

interface RunningServer {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends the signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `serve`/`start` on a free port and waits for its banner. */
async function startServer(command: "serve" | "start", env: Record<string, string>): Promise<RunningServer> {
  const child = spawnCli([command], { PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /(?:listening on|running at) (http:\/\/\S+)/.exec(output);
      if (match?.[1] && (command === "serve" || output.includes("Stop with Ctrl+C"))) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`${command} exited with ${code} before listening:\n${output}`)));
  });
  return {
    url,
    child,
    output: () => output,
    stop: (signal = "SIGTERM") => {
      child.kill(signal);
      return exited;
    },
  };
}

function lineAfter(text: string, label: string): string {
  const match = new RegExp(`${label}\\s+(\\S+)`).exec(text);
  if (!match?.[1]) throw new Error(`no "${label}" in:\n${text}`);
  return match[1];
}

async function seedAppSecret(db: OpenedDatabase["db"], keys: EncryptionKeySpec[], appId: string, workspaceId: string) {
  const identitySecret = new Vault(keys).encrypt(`secret of ${appId}`, {
    table: "apps",
    column: "identity_secret",
    rowId: appId,
  });
  await db
    .insertInto("apps")
    .values({
      id: appId,
      workspace_id: workspaceId,
      name: "CLI test app",
      allowed_return_origins: JSON.stringify(["https://app.example"]),
      identity_type: "hs256",
      identity_config: JSON.stringify({}),
      identity_secret: identitySecret,
      updated_at: new Date(),
    })
    .execute();
}

async function identitySecret(db: OpenedDatabase["db"], appId: string): Promise<string> {
  const row = await db.selectFrom("apps").select("identity_secret").where("id", "=", appId).executeTakeFirstOrThrow();
  if (row.identity_secret === null) throw new Error("no identity secret");
  return row.identity_secret;
}

async function expectAdminKeyStored(db: OpenedDatabase["db"], workspaceId: string, adminApiKey: string) {
  const row = await db
    .selectFrom("admin_api_keys as k")
    .innerJoin("members as m", "m.id", "k.member_id")
    .innerJoin("workspaces as w", "w.id", "k.workspace_id")
    .select(["w.id", "w.name", "w.plan", "m.email", "m.role", "k.revoked_at"])
    .where("k.key_hash", "=", hashSecretKey(adminApiKey))
    .executeTakeFirst();
  expect(row).toMatchObject({ id: workspaceId, role: "admin", revoked_at: null });
  return row;
}

// Database-independent: run once, in the embedded project.
describe.runIf(testDbKind() === "embedded")("latchkey CLI without a database", slow, () => {
  it("prints the usage and exits 2 on an unknown command", async () => {
    const result = await runCli(["frobnicate"], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Unknown command "frobnicate"');
    expect(result.stderr).toContain("Usage: latchkey <command>");
  });

  it("prints the usage on stdout and exits 0 for help", async () => {
    const result = await runCli(["help"], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("keys rotate [--batch-size N]");
  });

  it("lists every configuration problem and exits 1 without touching the data dir", async () => {
    const dataDir = path.join(os.tmpdir(), `latchkey-cli-never-${randomBytes(4).toString("hex")}`);
    const result = await runCli(["serve"], {
      LATCHKEY_DATA_DIR: dataDir,
      PORT: "not-a-port",
      DATABASE_URL: "mysql://db.example/latchkey",
      LATCHKEY_OPERATOR_KEY: "short",
      LOG_LEVEL: "loud",
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Invalid configuration:");
    for (const variable of ["PORT", "DATABASE_URL", "LATCHKEY_OPERATOR_KEY", "LOG_LEVEL"]) {
      expect(result.stderr).toMatch(new RegExp(`^  - ${variable}: `, "m"));
    }
    await expect(fs.stat(dataDir)).rejects.toThrow();
  });

  it("doctor lists every bad encryption key as a failed check", async () => {
    const badKeys = await runCli(["doctor"], {
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
      LATCHKEY_ENCRYPTION_KEYS: "k1:tooshort,no-colon",
    });
    expect(badKeys.code).toBe(1);
    expect(badKeys.stdout).toContain("✗ configuration: LATCHKEY_ENCRYPTION_KEYS entry 1");
    expect(badKeys.stdout).toContain("✗ configuration: LATCHKEY_ENCRYPTION_KEYS entry 2");
  });

  it("rejects a bad option with exit 2 and the usage, before opening anything", async () => {
    const dataDir = path.join(os.tmpdir(), `latchkey-cli-never-${randomBytes(4).toString("hex")}`);
    const result = await runCli(["init", "--plan", "gold"], { LATCHKEY_DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--plan must be one of: free, starter, builder, pro, enterprise");
    expect(result.stderr).toContain("Usage: latchkey <command>");
    await expect(fs.stat(dataDir)).rejects.toThrow();
  });
});

describe.runIf(testDbKind() === "embedded")("latchkey CLI, embedded database (one data dir, in order)", slow, () => {
  let parent: string;
  let dataDir: string;
  let env: Record<string, string>;
  let firstWorkspaceId: string;
  let firstAdminKey: string;

  beforeAll(async () => {
    parent = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-cli-"));
    dataDir = path.join(parent, "data");
    env = { LATCHKEY_DATA_DIR: dataDir };
  });
  afterAll(async () => {
    await fs.rm(parent, { recursive: true, force: true });
  });

  /** The test process opens the embedded database only while no CLI process has it. */
  async function withDatabase<T>(work: (db: OpenedDatabase["db"]) => Promise<T>): Promise<T> {
    const opened = await openEmbedded({ dataDir });
    try {
      return await work(opened.db);
    } finally {
      await opened.close();
    }
  }

  it("start on a fresh data dir (no terminal) creates a workspace and prints a working admin key", async () => {
    const server = await startServer("start", env);
    try {
      const out = server.output();
      firstWorkspaceId = lineAfter(out, "Workspace id:");
      firstAdminKey = /(lk_admin_\S+)/.exec(out)?.[1] ?? "";
      expect(out).toContain(`Latchkey is running at ${server.url}`);
      expect(out).toContain(
        `curl -H "Authorization: Bearer ${firstAdminKey}" ${server.url}/api/workspaces/${firstWorkspaceId}`,
      );
      expect(out).toContain("README.md");

      const workspace = await fetch(`${server.url}/api/workspaces/${firstWorkspaceId}`, {
        headers: { authorization: `Bearer ${firstAdminKey}` },
      });
      expect(workspace.status).toBe(200);
      expect(await workspace.json()).toMatchObject({
        workspace: { id: firstWorkspaceId, name: "My workspace", plan: "builder" },
      });

      const operatorFile = path.join(dataDir, "operator-key");
      const storedOperatorKey = (await fs.readFile(operatorFile, "utf8")).trim();
      expect(out).toContain(`Operator key:   stored in ${operatorFile}`);
      expect(out).toContain(storedOperatorKey); // shown on creation only
      expect((await fs.stat(operatorFile)).mode & 0o777).toBe(0o600);
      expect((await fs.stat(embeddedKeysFile(dataDir))).mode & 0o777).toBe(0o600);
      expect(await fetch(`${server.url}/healthz`).then((r) => r.status)).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    await expect(fs.stat(path.join(dataDir, "latchkey.pid"))).rejects.toThrow();
  });

  it("serve answers /healthz, keeps other commands off the database while it runs, and stops on SIGTERM", async () => {
    const server = await startServer("serve", env);
    try {
      expect(server.output()).toContain(`Latchkey listening on ${server.url}`);
      expect(await fetch(`${server.url}/healthz`).then((r) => r.status)).toBe(200);
      expect(await fetch(`${server.url}/readyz`).then((r) => r.status)).toBe(200);
      // serve uses the operator key `start` stored in the data dir.
      const storedOperatorKey = (await fs.readFile(path.join(dataDir, "operator-key"), "utf8")).trim();
      const created = await fetch(`${server.url}/api/operator/workspaces`, {
        method: "POST",
        headers: { authorization: `Bearer ${storedOperatorKey}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "Via operator", plan: "free", admin_email: "ops@example.com" }),
      });
      expect(created.status).toBe(201);

      const init = await runCli(["init"], env);
      expect(init.code).toBe(1);
      expect(init.stderr).toContain(`is in use by process ${server.child.pid}`);
      const doctor = await runCli(["doctor"], env);
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toContain(`✗ database: in use by process ${server.child.pid}`);
    } finally {
      const started = Date.now();
      expect(await server.stop("SIGTERM")).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    expect(server.output()).toContain('"msg":"stopped"');
    await expect(fs.stat(path.join(dataDir, "latchkey.pid"))).rejects.toThrow();
  });

  it("init --json creates a workspace with an admin whose key is stored (hashed) and works", async () => {
    const result = await runCli(
      ["init", "--json", "--name", "Second", "--plan", "pro", "--admin-email", "ada@example.com"],
      env,
    );
    expect(result.code, result.stderr).toBe(0);
    const created = JSON.parse(result.stdout) as {
      workspace: { id: string };
      admin: { email: string };
      admin_api_key: string;
    };
    expect(created.admin.email).toBe("ada@example.com");
    await withDatabase(async (db) => {
      const row = await expectAdminKeyStored(db, created.workspace.id, created.admin_api_key);
      expect(row).toMatchObject({ name: "Second", plan: "pro", email: "ada@example.com" });
      // Something encrypted for the key commands below.
      await seedAppSecret(db, (await readEmbeddedKeys(dataDir)) ?? [], "app_cli", created.workspace.id);
    });
  });

  it("doctor passes on a good setup", async () => {
    const result = await runCli(["doctor"], env);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toContain("✓ database: reachable");
    expect(result.stdout).toContain("✓ migrations: up to date");
    expect(result.stdout).toContain("✓ apps.identity_secret: 1 value(s); a sample under each key decrypts");
    expect(result.stdout).toContain(`✓ operator key: stored in ${path.join(dataDir, "operator-key")}`);
    expect(result.stdout).not.toContain("✗");
  });

  it("keys add then keys rotate move every value to the new key, so the old key can go", async () => {
    const added = await runCli(["keys", "add"], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain("Added encryption key k2");

    const doctor = await runCli(["doctor"], env);
    expect(doctor.stdout).toContain("! apps.identity_secret: values under older keys (k1: 1)");

    const rotated = await runCli(["keys", "rotate", "--batch-size", "1"], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/apps\.identity_secret\s+scanned\s+1\s+rewrapped\s+1/);
    expect(rotated.stdout).toContain("every value scanned is under k2");

    const k2Only = ((await readEmbeddedKeys(dataDir)) ?? []).filter((k) => k.id === "k2");
    await withDatabase(async (db) => {
      const ciphertext = await identitySecret(db, "app_cli");
      const place = { table: "apps", column: "identity_secret", rowId: "app_cli" };
      expect(new Vault(k2Only).decrypt(ciphertext, place)).toBe("secret of app_cli");
    });
  });

  it("doctor fails, naming the key, when a key still in use is missing, and on a key file others can read", async () => {
    const file = embeddedKeysFile(dataDir);
    const original = await fs.readFile(file, "utf8");
    await fs.writeFile(file, `k9:${randomBytes(32).toString("base64")}\n`);
    await fs.chmod(file, 0o644);
    try {
      const result = await runCli(["doctor"], env);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`✗ encryption keys: ${file} is accessible to other users (mode 644)`);
      expect(result.stdout).toContain('✗ apps.identity_secret: 1 value(s) under key "k2", which is not configured');
      expect(result.stdout).toContain("2 problem(s) found.");
    } finally {
      await fs.writeFile(file, original);
      await fs.chmod(file, 0o600);
    }
  });
});

describe.runIf(testDbKind() === "postgres")("latchkey CLI, PostgreSQL", slow, () => {
  const k1: EncryptionKeySpec = { id: "k1", key: randomBytes(32) };
  const k2: EncryptionKeySpec = { id: "k2", key: randomBytes(32) };
  const keyList = (...keys: EncryptionKeySpec[]) => keys.map((k) => `${k.id}:${k.key.toString("base64")}`).join(",");
  const databaseName = `latchkey_cli_${randomBytes(5).toString("hex")}`;
  let env: Record<string, string>;
  let database: OpenedDatabase;

  beforeAll(async () => {
    const admin = openPostgres(adminUrl(), { maxConnections: 1 });
    await sql.raw(`create database "${databaseName}"`).execute(admin.db);
    await admin.close();
    env = {
      DATABASE_URL: adminUrl(databaseName),
      LATCHKEY_ENCRYPTION_KEYS: keyList(k1),
      LATCHKEY_OPERATOR_KEY: operatorKey,
    };
  });
  afterAll(async () => {
    await database?.close();
    const admin = openPostgres(adminUrl(), { maxConnections: 1 });
    await sql.raw(`drop database if exists "${databaseName}" with (force)`).execute(admin.db);
    await admin.close();
  });

  it("init migrates an empty database and creates a workspace whose admin key is stored", async () => {
    const result = await runCli(["init", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const created = JSON.parse(result.stdout) as { workspace: { id: string }; admin_api_key: string };
    database = openPostgres(adminUrl(databaseName), { maxConnections: 2 });
    const row = await expectAdminKeyStored(database.db, created.workspace.id, created.admin_api_key);
    expect(row).toMatchObject({ name: "My workspace", plan: "builder", email: "admin@localhost" });
    await seedAppSecret(database.db, [k1], "app_pg", created.workspace.id);
  });

  it("doctor passes on a good setup and fails without the operator key or with an unreachable database", async () => {
    const good = await runCli(["doctor"], env);
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toContain("✓ apps.identity_secret: 1 value(s)");

    const { LATCHKEY_OPERATOR_KEY: _omitted, ...withoutOperator } = env;
    const noOperator = await runCli(["doctor"], withoutOperator);
    expect(noOperator.code).toBe(1);
    expect(noOperator.stdout).toContain("✗ operator key: not set");

    const unreachable = await runCli(["doctor"], { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toContain("✗ database: cannot connect");
  });

  it("keys rotate moves values to the newest key, after which the old key can go", async () => {
    const rotated = await runCli(["keys", "rotate", "--batch-size", "2"], {
      ...env,
      LATCHKEY_ENCRYPTION_KEYS: keyList(k2, k1),
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/apps\.identity_secret\s+scanned\s+1\s+rewrapped\s+1/);

    const newOnly = await runCli(["doctor"], { ...env, LATCHKEY_ENCRYPTION_KEYS: keyList(k2) });
    expect(newOnly.code, newOnly.stdout).toBe(0);

    const oldOnly = await runCli(["doctor"], { ...env, LATCHKEY_ENCRYPTION_KEYS: keyList(k1) });
    expect(oldOnly.code).toBe(1);
    expect(oldOnly.stdout).toContain('✗ apps.identity_secret: 1 value(s) under key "k2", which is not configured');
  });

  it("serve answers /healthz and stops on SIGTERM", async () => {
    const server = await startServer("serve", { ...env, LATCHKEY_ENCRYPTION_KEYS: keyList(k2) });
    try {
      expect(await fetch(`${server.url}/healthz`).then((r) => r.status)).toBe(200);
      expect(await fetch(`${server.url}/readyz`).then((r) => r.status)).toBe(200);
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0);
    }
  });
});
