#!/usr/bin/env node
// The `latchkey` command. An installed package runs its build, bundled (dist/bundle/, see
// scripts/bundle.mjs: a start loads a few modules instead of about a thousand), with nothing compiled at run time.
// In a repository checkout (src/ beside dist/) the build runs only while it is current, that is newer than
// every source file of the server, catalog and contracts packages; otherwise the TypeScript sources run
// through tsx (a dev dependency), so an edit takes effect without a rebuild.
import { readdirSync, statSync } from "node:fs";
import { register } from "node:module";

const dist = new URL("../dist/bundle/main.js", import.meta.url);
const source = new URL("../src/cli/main.ts", import.meta.url);

// A build from before the bundle (a stamp but no dist/bundle/) counts as stale, not as a crash.
if (!isCheckout() || (buildIsCurrent() && mtime(dist) !== undefined)) {
  await import(dist.href);
} else {
  await runSources();
}

function isCheckout() {
  return mtime(source) !== undefined;
}

/** Whether each package's dist/.build-stamp (written last by its build) is newer than all of its src/. */
function buildIsCurrent() {
  return ["../", "../../catalog/", "../../contracts/"].every((dir) => {
    const built = mtime(new URL(`${dir}dist/.build-stamp`, import.meta.url));
    return built !== undefined && newestIn(new URL(`${dir}src/`, import.meta.url)) <= built;
  });
}

function mtime(url) {
  try {
    return statSync(url).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestIn(dirUrl) {
  let newest = 0;
  for (const entry of readdirSync(dirUrl, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.endsWith(".test.ts")) continue;
    newest = Math.max(newest, statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs);
  }
  return newest;
}

async function runSources() {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    console.error("latchkey: no current build and no tsx to run the sources: run `npm run build` (or `npm ci`).");
    process.exit(1);
  }
  tsx.register();
  // The workspace packages export their TypeScript sources under this condition (see their package.json).
  register(
    "data:text/javascript,export function resolve(specifier, context, next) {" +
      " return next(specifier, { ...context, conditions: [...context.conditions, 'latchkey-source'] }); }",
  );
  await import(source.href);
}
