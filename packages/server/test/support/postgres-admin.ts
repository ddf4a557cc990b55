/** TEST_DATABASE_URL names a server (and a database we may connect to for admin work). */
export function adminUrl(database?: string): string {
  const raw = process.env.TEST_DATABASE_URL;
  if (!raw) throw new Error("TEST_DATABASE_URL is not set");
  const url = new URL(raw);
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

export function templateDatabaseName(): string {
  const base = new URL(adminUrl()).pathname.replace(/^\//, "") || "latchkey";
  return `${base}_tpl_${process.pid}`.replace(/[^a-zA-Z0-9_]/g, "_").toLowerCase();
}
