import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, sql } from "kysely";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { openPostgres } from "../../src/db/open-database.ts";
import { PGliteDialect } from "../../src/db/pglite-dialect.ts";
import { ensureConsoleBuilt } from "../../../console/scripts/ensure-built.ts";
import { adminUrl, templateDatabaseName } from "./postgres-admin.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Tar dump of a migrated PGlite database (embedded mode). */
    pgliteTemplate: string;
    /** Name of the migrated template database (postgres mode). */
    postgresTemplate: string;
  }
}

/**
 * Builds the console if needed, then migrates one template per run: a PGlite dump that each test file loads in ~0.4 s (a fresh
 * PGlite takes ~4 s), or a PostgreSQL database each test file clones with CREATE DATABASE … TEMPLATE.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Every route answers as deployed, the console's files included (they answer 503 NOT_READY while
  // dist/ is missing): build it when missing or stale, a few seconds, else a few file stats.
  ensureConsoleBuilt();
  if (project.config.env?.LATCHKEY_TEST_DB === "postgres") return setupPostgres(project);
  return setupPglite(project);
}

async function setupPglite(project: TestProject) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-test-"));
  const pglite = await PGlite.create();
  const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) });
  await migrateToLatest(db);
  const dump = await pglite.dumpDataDir("none");
  await db.destroy();
  const file = path.join(dir, "template.tar");
  await fs.writeFile(file, Buffer.from(await dump.arrayBuffer()));
  project.provide("pgliteTemplate", file);
  project.provide("postgresTemplate", "");
  return async () => {
    await fs.rm(dir, { recursive: true, force: true });
  };
}

async function setupPostgres(project: TestProject) {
  const template = templateDatabaseName();
  const admin = openPostgres(adminUrl(), { maxConnections: 1 });
  await sql.raw(`drop database if exists "${template}" with (force)`).execute(admin.db);
  await sql.raw(`create database "${template}"`).execute(admin.db);
  const templateDb = openPostgres(adminUrl(template), { maxConnections: 2 });
  await migrateToLatest(templateDb.db);
  await templateDb.close();
  project.provide("postgresTemplate", template);
  project.provide("pgliteTemplate", "");
  return async () => {
    const stale = await sql<{
      datname: string;
    }>`select datname from pg_database where datname like ${`${template}%`}`.execute(admin.db);
    for (const row of stale.rows) {
      await sql.raw(`drop database if exists "${row.datname}" with (force)`).execute(admin.db);
    }
    await admin.close();
  };
}
