import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import { sql } from "kysely";
import { inject } from "vitest";
import { openEmbedded, openPostgres, type OpenedDatabase } from "../../src/db/open-database.ts";
import { adminUrl } from "./postgres-admin.ts";

export type TestDbKind = "embedded" | "postgres";

export function testDbKind(): TestDbKind {
  return process.env.LATCHKEY_TEST_DB === "postgres" ? "postgres" : "embedded";
}

/**
 * A fresh, migrated database for one test file: PGlite loaded from the template dump, or a
 * PostgreSQL database cloned from the template database (dropped again on close).
 */
export async function createTestDatabase(): Promise<OpenedDatabase> {
  if (testDbKind() === "embedded") {
    const dump = await fs.readFile(inject("pgliteTemplate"));
    return openEmbedded({ loadDataDir: new Blob([dump]) });
  }
  const template = inject("postgresTemplate");
  const name = `${template}_${randomBytes(6).toString("hex")}`;
  const admin = openPostgres(adminUrl(), { maxConnections: 1 });
  try {
    await createFromTemplate(admin, name, template);
  } finally {
    await admin.close();
  }
  const opened = openPostgres(adminUrl(name), { maxConnections: 10, listen: { url: adminUrl(name) } });
  return {
    ...opened,
    close: async () => {
      await opened.close();
      const cleanup = openPostgres(adminUrl(), { maxConnections: 1 });
      await sql.raw(`drop database if exists "${name}" with (force)`).execute(cleanup.db);
      await cleanup.close();
    },
  };
}

async function createFromTemplate(admin: OpenedDatabase, name: string, template: string): Promise<void> {
  // Two clones of one template at the same instant can collide ("being accessed by other users").
  for (let attempt = 1; ; attempt++) {
    try {
      await sql.raw(`create database "${name}" template "${template}"`).execute(admin.db);
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
