import { loadProviderFiles } from "@latchkey/catalog";
import { describe, expect, it } from "vitest";
import { duplicatedPackages, prevaluatedModules, prevaluatedSource } from "../scripts/bundle.mjs";

// The build (scripts/bundle.mjs) compiles the catalog's provider modules into the server's bundle as
// their values instead of reading and validating providers/*.json at every start. packaging.test.ts
// checks the installed server's catalog route against the sources; these check what the build does.

const catalogModule = (name: string) => new URL(`../../catalog/src/${name}.ts`, import.meta.url).href;
const evaluate = async (source: string): Promise<Record<string, unknown>> =>
  import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);

describe("the server bundle", () => {
  it("compiles in exactly the named providers that loadProviderFiles reads and validates", async () => {
    const compiled = await evaluate(await prevaluatedSource(catalogModule("named-providers")));
    const validated = loadProviderFiles();
    expect(validated.length).toBeGreaterThan(40);
    expect(Object.keys(compiled)).toEqual(["namedProviders"]);
    expect(compiled.namedProviders).toStrictEqual(validated);
  });

  it.each(prevaluatedModules)("compiles in the %s module as the same exports with the same values", async (name) => {
    const original = (await import(catalogModule(name))) as Record<string, unknown>;
    const compiled = await evaluate(await prevaluatedSource(catalogModule(name)));
    expect(Object.keys(original).length).toBeGreaterThan(0);
    expect({ ...compiled }).toStrictEqual({ ...original });
  });

  it("refuses a module whose exports are not plain data", async () => {
    const notData = `data:text/javascript,${encodeURIComponent("export const when = new Date(0); export const n = 1;")}`;
    await expect(prevaluatedSource(notData)).rejects.toThrow(/export when is not plain data/);
  });

  it("names a package that would be bundled from two folders, and only that one", () => {
    const input = { bytes: 1, imports: [] };
    const duplicated = duplicatedPackages({
      inputs: {
        "../../node_modules/zod/v4/core/core.js": input,
        "../../node_modules/zod/v4/classic/schemas.js": input,
        "../catalog/node_modules/zod/v4/core/core.js": input,
        "../../node_modules/@scope/one/index.js": input,
        "../../node_modules/@scope/one/node_modules/kysely/index.js": input,
        "../../node_modules/kysely/index.js": input,
        "dist/cli/main.js": input,
      },
    });
    expect(duplicated).toEqual([
      ["zod", new Set(["../../node_modules/zod", "../catalog/node_modules/zod"])],
      ["kysely", new Set(["../../node_modules/@scope/one/node_modules/kysely", "../../node_modules/kysely"])],
    ]);
  });
});
