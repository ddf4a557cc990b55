// Builds one workspace package (run from its directory): src/ to dist/ as ES modules with declarations,
// by the TypeScript compiler alone with the package's tsconfig.build.json. Type errors fail the build.
// Used by @latchkey/contracts, @latchkey/catalog and @latchkey/server (the SDK has its own, dual, build).
// A package with a scripts/bundle.mjs (the server) is then bundled by that script's bundleServer().
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

const packageDir = process.cwd();
const configFile = join(packageDir, "tsconfig.build.json");
const outDir = join(packageDir, "dist");

/**
 * tsc rewrites `./x.ts` to `./x.js` in emitted JavaScript (rewriteRelativeImportExtensions) but keeps
 * `.ts` in declarations, which a consumer's TypeScript may reject; declarations get `.js` too.
 */
function rewriteDeclarationSpecifiers(text) {
  return text.replace(/(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
}

function report(diagnostics) {
  const host = {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => packageDir,
    getNewLine: () => "\n",
  };
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
}

rmSync(outDir, { recursive: true, force: true });
const parsed = ts.getParsedCommandLineOfConfigFile(configFile, undefined, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (diagnostic) => report([diagnostic]),
});
if (!parsed) process.exit(1);
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
const emitted = program.emit(undefined, (fileName, text, writeBOM) => {
  ts.sys.writeFile(fileName, fileName.endsWith(".d.ts") ? rewriteDeclarationSpecifiers(text) : text, writeBOM);
});
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
if (diagnostics.length > 0) {
  report(diagnostics);
  rmSync(outDir, { recursive: true, force: true });
  process.exit(1);
}
const bundleScript = join(packageDir, "scripts", "bundle.mjs");
if (existsSync(bundleScript)) {
  const { bundleServer } = await import(pathToFileURL(bundleScript).href);
  try {
    await bundleServer();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    rmSync(outDir, { recursive: true, force: true });
    process.exit(1);
  }
}
// Written last: bin/latchkey.js compares its time with the sources' to tell a current build from a stale one.
writeFileSync(join(outDir, ".build-stamp"), `${new Date().toISOString()}\n`);
