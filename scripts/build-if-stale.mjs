// `npm start` runs this first: it builds contracts, catalog and server (in that order) when a build is
// missing or older than its sources, and does nothing otherwise (a few hundred stat calls).
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const packagesDir = fileURLToPath(new URL("../packages/", import.meta.url));
const buildScript = fileURLToPath(new URL("build-package.mjs", import.meta.url));

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && !entry.name.endsWith(".test.ts")) {
      newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
    }
  }
  return newest;
}

let rebuilt = false;
for (const name of ["contracts", "catalog", "server"]) {
  const dir = join(packagesDir, name);
  const built = mtime(join(dir, "dist", ".build-stamp"));
  // Once one package is rebuilt, those after it (its dependents) are rebuilt against it too.
  // The server's scripts/bundle.mjs makes part of its build: an edit to it is a stale build too.
  const newest = Math.max(newestSource(join(dir, "src")), mtime(join(dir, "scripts", "bundle.mjs")) ?? 0);
  if (!rebuilt && built !== undefined && newest <= built) continue;
  console.log(`Building @latchkey/${name}…`);
  execFileSync(process.execPath, [buildScript], { cwd: dir, stdio: "inherit" });
  rebuilt = true;
}
