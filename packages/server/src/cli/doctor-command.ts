import { sql } from "kysely";
import { ConfigError, loadConfig, type Config, type EncryptionKeySpec } from "../config/config.ts";
import { pendingMigrations } from "../db/migrate.ts";
import { embeddedDatabaseExists } from "../app/instance.ts";
import { openEmbedded, openPostgres, type Db, type OpenedDatabase } from "../db/open-database.ts";
import { embeddedKeysFile, readEmbeddedKeys } from "../vault/embedded-keys.ts";
import { columnName, encryptedColumns, type EncryptedColumn } from "../vault/encrypted-columns.ts";
import { excessPermissions } from "../vault/secret-file.ts";
import { Vault } from "../vault/vault.ts";
import { parseOptions } from "./command-line.ts";
import { dataDirHolder, lockDataDir } from "./data-dir-lock.ts";
import type { Env } from "./environment.ts";
import { DoctorReport } from "./doctor-report.ts";
import { operatorKeyFile, resolveOperatorKey } from "./operator-key.ts";
import { print } from "./print.ts";

/** `latchkey doctor`: checks a setup without changing it (it neither migrates nor creates files). */
export async function runDoctor(args: string[], env: Env): Promise<number> {
  parseOptions(args, {});
  print("Latchkey doctor");
  const report = new DoctorReport();
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) report.fail("configuration", problem);
    return report.finish();
  }
  report.pass(
    "configuration",
    config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded database in ${config.dataDir}`,
  );
  const keys = await checkEncryptionKeys(config, report);
  await checkOperatorKey(config, report);
  await withDatabase(config, report, async (db) => {
    const current = await checkMigrations(db, report);
    if (current && keys) await checkEncryptedColumns(db, new Vault(keys), report);
  });
  return report.finish();
}

async function checkEncryptionKeys(config: Config, report: DoctorReport): Promise<EncryptionKeySpec[] | null> {
  const label = "encryption keys";
  if (config.encryptionKeys) {
    report.pass(label, `${describeKeys(config.encryptionKeys)} from LATCHKEY_ENCRYPTION_KEYS`);
    return config.encryptionKeys;
  }
  const file = embeddedKeysFile(config.dataDir);
  let keys: EncryptionKeySpec[] | null;
  try {
    keys = await readEmbeddedKeys(config.dataDir);
  } catch (error) {
    report.fail(label, error instanceof Error ? error.message : String(error));
    return null;
  }
  if (!keys) {
    report.fail(label, `no LATCHKEY_ENCRYPTION_KEYS and no key file ${file} (the first \`latchkey start\` creates it)`);
    return null;
  }
  if (await checkPrivate(file, label, report)) report.pass(label, `${describeKeys(keys)} from ${file}`);
  return keys;
}

function describeKeys(keys: EncryptionKeySpec[]): string {
  return `${keys.length} (newest first: ${keys.map((k) => k.id).join(", ")})`;
}

async function checkOperatorKey(config: Config, report: DoctorReport): Promise<void> {
  const label = "operator key";
  let source: Awaited<ReturnType<typeof resolveOperatorKey>>["source"];
  try {
    source = (await resolveOperatorKey(config, "read")).source;
  } catch (error) {
    report.fail(label, error instanceof Error ? error.message : String(error));
    return;
  }
  if (source.kind === "env") report.pass(label, "set (LATCHKEY_OPERATOR_KEY)");
  if (source.kind === "file" && (await checkPrivate(source.file, label, report)))
    report.pass(label, `stored in ${source.file}`);
  if (source.kind === "none") {
    const hint = config.databaseUrl
      ? ""
      : `, or run \`latchkey start\` once to create ${operatorKeyFile(config.dataDir)}`;
    report.fail(label, `not set, so the operator API is closed: set LATCHKEY_OPERATOR_KEY (32+ characters)${hint}`);
  }
}

/** Fails the check when a secret file is readable or writable by anyone but its owner. */
async function checkPrivate(file: string, label: string, report: DoctorReport): Promise<boolean> {
  const extra = await excessPermissions(file);
  if (extra === 0) return true;
  report.fail(
    label,
    `${file} is accessible to other users (mode ${(0o600 | extra).toString(8)}): run chmod 600 ${file}`,
  );
  return false;
}

async function withDatabase(config: Config, report: DoctorReport, check: (db: Db) => Promise<void>): Promise<void> {
  const label = "database";
  const opened = config.databaseUrl
    ? openPostgres(config.databaseUrl, { maxConnections: 1 })
    : await openEmbeddedForCheck(config, report);
  if (!opened) return;
  try {
    const { rows } = await sql<{ version: string }>`select version() as version`.execute(opened.db);
    const version = rows[0]?.version.split(" ").slice(0, 2).join(" ") ?? "unknown version";
    report.pass(label, `reachable (${opened.kind === "embedded" ? "embedded " : ""}${version})`);
  } catch (error) {
    report.fail(label, `cannot connect: ${error instanceof Error ? error.message : String(error)}`);
    await opened.close();
    return;
  }
  try {
    await check(opened.db);
  } finally {
    await opened.close();
  }
}

/** The embedded database, opened only if it exists and no server has it open (two would corrupt it). */
async function openEmbeddedForCheck(config: Config, report: DoctorReport): Promise<OpenedDatabase | null> {
  const label = "database";
  if (!(await embeddedDatabaseExists(config.dataDir))) {
    report.fail(
      label,
      `no embedded database in ${config.dataDir} yet (\`latchkey start\` or \`latchkey init\` creates it)`,
    );
    return null;
  }
  const holder = await dataDirHolder(config.dataDir);
  if (holder !== null) {
    report.fail(label, `in use by process ${holder} (a running server?): stop it to check the embedded database`);
    return null;
  }
  const lock = await lockDataDir(config.dataDir);
  try {
    const opened = await openEmbedded({ dataDir: config.dataDir });
    return { ...opened, close: () => opened.close().finally(() => lock.release()) };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function checkMigrations(db: Db, report: DoctorReport): Promise<boolean> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) {
    report.pass("migrations", "up to date");
    return true;
  }
  report.fail(
    "migrations",
    `${pending.length} not applied (${pending.join(", ")}); the next \`latchkey serve\` applies them`,
  );
  return false;
}

interface KeyGroup {
  key_id: string;
  n: number;
  sample: string;
}

/** Every encrypted column: each key id in use is configured, and a sample value under each decrypts. */
async function checkEncryptedColumns(db: Db, vault: Vault, report: DoctorReport): Promise<void> {
  for (const column of encryptedColumns) {
    const label = columnName(column);
    const groups = await keyGroups(db, column);
    const total = groups.reduce((sum, g) => sum + g.n, 0);
    let healthy = true;
    for (const group of groups) {
      const problem = await sampleProblem(db, vault, column, group);
      if (problem) report.fail(label, problem);
      healthy &&= problem === null;
    }
    if (!healthy) continue;
    report.pass(label, total === 0 ? "no values yet" : `${total} value(s); a sample under each key decrypts`);
    const older = groups.filter((g) => g.key_id !== vault.currentKeyId);
    if (older.length > 0) {
      const counts = older.map((g) => `${g.key_id}: ${g.n}`).join(", ");
      report.warn(label, `values under older keys (${counts}): run \`latchkey keys rotate\``);
    }
  }
}

async function keyGroups(db: Db, column: EncryptedColumn): Promise<KeyGroup[]> {
  const value = sql.ref(column.column);
  const { rows } = await sql<KeyGroup>`
    select split_part(${value}, '.', 2) as key_id, count(*)::int as n, min(${sql.ref(column.primaryKey)}) as sample
    from ${sql.table(column.table)} where ${value} is not null group by 1 order by 1`.execute(db);
  return rows;
}

async function sampleProblem(db: Db, vault: Vault, column: EncryptedColumn, group: KeyGroup): Promise<string | null> {
  if (group.key_id === "") return `${group.n} value(s) that are not Latchkey ciphertexts (e.g. row ${group.sample})`;
  if (!vault.keyIds.includes(group.key_id)) {
    return `${group.n} value(s) under key "${group.key_id}", which is not configured (add it back to the key list)`;
  }
  const { rows } = await sql<{ value: string }>`
    select ${sql.ref(column.column)} as value from ${sql.table(column.table)}
    where ${sql.ref(column.primaryKey)} = ${group.sample}`.execute(db);
  const ciphertext = rows[0]?.value;
  if (ciphertext === undefined) return null; // deleted since: nothing to check
  try {
    vault.decrypt(ciphertext, { table: column.table, column: column.column, rowId: group.sample });
    return null;
  } catch (error) {
    return `row ${group.sample} does not decrypt with key "${group.key_id}": ${error instanceof Error ? error.message : String(error)}`;
  }
}
