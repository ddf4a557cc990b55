import { loadProviderFiles } from "@latchkey/catalog";
import { describe, expect, it } from "vitest";
import { duplicatedPackages, namedProvidersSource } from "../scripts/bundle.mjs";

// The build (scripts/bundle.mjs) compiles the catalog's named providers into the server's bundle instead
// of reading and validating providers/*.json at every start. packaging.test.ts checks the installed
// server's catalog route against the sources; these check the pieces the build is made of.

describe("the server bundle", () => {
  it("compiles in exactly the named providers that loadProviderFiles reads and validates", async () => {
    const source = await namedProvidersSource();
    const compiled = (await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`)) as {
      namedProviders: unknown;
    };
    const validated = loadProviderFiles();
    expect(validated.length).toBeGreaterThan(40);
    expect(compiled.namedProviders).toStrictEqual(validated);
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
