// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with its .d.ts files, from src/ with the
// TypeScript compiler alone: no bundler, nothing added to the package's dependencies.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const configFile = join(packageDir, "tsconfig.build.json");

/** Each output folder gets a package.json with its module type, so Node and TypeScript read `.js`/`.d.ts` right. */
const formats = [
  { outDir: "dist/esm", type: "module", options: { module: ts.ModuleKind.ES2022 } },
  {
    outDir: "dist/cjs",
    type: "commonjs",
    // `bundler` resolution needs ES module output; the sources only import siblings, so node10 resolves the same.
    // verbatimModuleSyntax forbids `import` in CommonJS output; every type-only import is marked `type` anyway.
    options: {
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      verbatimModuleSyntax: false,
    },
  },
];

/**
 * tsc rewrites `./client.ts` to `./client.js` in emitted JavaScript but keeps `.ts` in declarations;
 * TypeScript before 5.x and `node10` resolution reject such a path, so declarations get `.js` too.
 */
function rewriteDeclarationSpecifiers(text) {
  return text.replace(/(\bfrom\s+|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
}

rmSync(join(packageDir, "dist"), { recursive: true, force: true });
let failed = false;
for (const format of formats) {
  const outDir = join(packageDir, format.outDir);
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configFile,
    { ...format.options, outDir },
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => report([diagnostic]) },
  );
  if (!parsed) process.exit(1);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const emitted = program.emit(undefined, (fileName, text, writeBOM) => {
    const output = fileName.endsWith(".d.ts") ? rewriteDeclarationSpecifiers(text) : text;
    ts.sys.writeFile(fileName, output, writeBOM);
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    report(diagnostics);
    failed = true;
    continue;
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify({ type: format.type }, null, 2)}\n`);
}
if (failed) process.exit(1);

function report(diagnostics) {
  const host = {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => packageDir,
    getNewLine: () => "\n",
  };
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
}
