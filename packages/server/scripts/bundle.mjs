// Bundles what `latchkey` runs (dist/cli/main.js, just compiled by tsc, and everything it imports:
// contracts, catalog and the registry dependencies) into a few ES modules in dist/bundle/, which
// bin/latchkey.js imports. Why: a start spent most of its CPU resolving, reading and compiling about
// a thousand module files (kysely alone is 280); one big module compiles in a fraction of that.
// Run by scripts/build-package.mjs after tsc; `node scripts/bundle.mjs` from packages/server reruns it.
//
// - The CLI's commands stay separate chunks (code splitting), so `latchkey help` still loads nothing
//   of the server, and undici stays a chunk of its own, loaded on the first outbound call.
// - The catalog's providers are compiled in: its named-providers module (which reads and validates
//   providers/*.json) and generic-providers module (validated by zod on import) are evaluated here
//   and replaced by their values, so a start neither reads 50 files nor runs the provider schema,
//   and a bad provider file fails the build.
// - One copy of each package: the build fails if a package would be bundled from two folders, as
//   two zods (or two kyselys) would make `instanceof` and module-level registries disagree.
// - Left out and loaded from node_modules as before: PGlite (its WebAssembly and data files sit
//   beside its modules, and it loads only in embedded mode) and pg-native (pg's optional binding).
//   pino's transports (worker threads started from their own files) would not work from the bundle;
//   Latchkey writes its log lines to stdout itself and uses none.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { build } from "esbuild";

const serverDir = fileURLToPath(new URL("..", import.meta.url));
/**
 * Two levels under the package, like every compiled module (dist/<folder>/x.js): paths the server
 * resolves from its own module's URL (the console's build, `../../../console/dist`) stay the same.
 */
export const bundleDir = join(serverDir, "dist", "bundle");
/** The catalog modules whose exports are data, computed (and validated) when they are imported. */
export const prevaluatedModules = ["named-providers", "generic-providers"];
const prevaluatedModule = /[\\/]catalog[\\/]dist[\\/]([a-z-]+)\.js$/;

/**
 * The source of a module that exports the same names with the same values as the module at
 * `moduleUrl` once evaluated. Each value must survive JSON (plain data, as a provider description
 * is): anything else is an error, not a silently different value.
 */
export async function prevaluatedSource(moduleUrl) {
  const exports = await import(moduleUrl);
  const lines = [];
  for (const [name, value] of Object.entries(exports)) {
    const json = JSON.stringify(value);
    if (json === undefined || !isDeepStrictEqual(JSON.parse(json), value)) {
      throw new Error(`${moduleUrl}: export ${name} is not plain data and cannot be compiled in`);
    }
    lines.push(`export const ${name} = ${json};`);
  }
  return `${lines.join("\n")}\n`;
}

/** Package name → the folders it was bundled from, for every package bundled from more than one. */
export function duplicatedPackages(metafile) {
  const folders = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
    if (!match?.[1] || !match[2]) continue;
    const seen = folders.get(match[2]) ?? new Set();
    seen.add(match[1]);
    folders.set(match[2], seen);
  }
  return [...folders].filter(([, seen]) => seen.size > 1);
}

export async function bundleServer() {
  rmSync(bundleDir, { recursive: true, force: true });
  const prevaluated = new Set();
  const result = await build({
    absWorkingDir: serverDir,
    entryPoints: { main: "dist/cli/main.js" },
    outdir: bundleDir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Not minified: stack traces keep their names; minifying gained under 5% of the start's CPU.
    sourcemap: "linked",
    sourcesContent: false,
    metafile: true,
    logLevel: "warning",
    external: ["@electric-sql/pglite", "pg-native"],
    // CommonJS dependencies (pg, prom-client, pino) `require` Node's built-ins, which an ES module has no `require` for.
    banner: {
      js: 'import { createRequire as __latchkeyCreateRequire } from "node:module"; const require = __latchkeyCreateRequire(import.meta.url);',
    },
    plugins: [
      {
        name: "latchkey-prevaluated-catalog-data",
        setup(build) {
          build.onLoad({ filter: prevaluatedModule }, async (args) => {
            const name = prevaluatedModule.exec(args.path)?.[1] ?? "";
            if (!prevaluatedModules.includes(name)) return undefined;
            prevaluated.add(name);
            return { contents: await prevaluatedSource(pathToFileURL(args.path).href), loader: "js" };
          });
        },
      },
    ],
  });
  const problems = [];
  for (const name of prevaluatedModules) {
    if (!prevaluated.has(name)) problems.push(`the catalog's ${name} module was not bundled (renamed?)`);
  }
  for (const [name, seen] of duplicatedPackages(result.metafile)) {
    problems.push(`${name} would be bundled twice, from ${[...seen].join(" and ")}`);
  }
  if (problems.length > 0) {
    rmSync(bundleDir, { recursive: true, force: true });
    throw new Error(`Server bundle:\n  ${problems.join("\n  ")}`);
  }
  return result.metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleServer();
