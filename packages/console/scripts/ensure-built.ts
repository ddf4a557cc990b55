/**
 * Builds the console into dist/ when it is missing or older than its sources, so `npm start` and
 * `npm test` serve the current console without a separate build step, and cost a few file stats
 * when nothing changed. Run: `node --import tsx packages/console/scripts/ensure-built.ts`.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const consoleDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const distDir = path.join(consoleDir, "dist");
const builtMarker = path.join(distDir, "index.html");
const sources = ["src", "index.html", "vite.config.ts", "package.json", "../contracts/src"];

function newestMtime(entry: string): number {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const child of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, child)));
  return newest;
}

/** Why dist/ must be (re)built, or null when it is current. */
export function staleReason(): string | null {
  const built = fs.statSync(builtMarker, { throwIfNoEntry: false });
  if (!built) return "dist/ is missing";
  const newest = Math.max(...sources.map((source) => newestMtime(path.join(consoleDir, source))));
  return newest > built.mtimeMs ? "sources changed since the last build" : null;
}

/** Builds when stale; returns whether it built. Throws when the build fails. */
export function ensureConsoleBuilt(log: (line: string) => void = console.log): boolean {
  const reason = staleReason();
  if (!reason) return false;
  log(`[latchkey] building the console (${reason})…`);
  const vite = path.join(consoleDir, "node_modules", ".bin", "vite");
  const bin = fs.existsSync(vite) ? vite : path.join(consoleDir, "..", "..", "node_modules", ".bin", "vite");
  // NODE_ENV decides which React Vite bundles; vitest sets it to "test", which would ship React's development build.
  const env = { ...process.env, NODE_ENV: "production" };
  const result = spawnSync(bin, ["build", "--logLevel", "warn"], { cwd: consoleDir, stdio: "inherit", env });
  if (result.status !== 0) throw new Error(`The console build failed (exit ${result.status ?? result.signal})`);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureConsoleBuilt();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
