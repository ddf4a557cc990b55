import { fileURLToPath } from "node:url";
import { defaultServerConditions } from "vite";
import { configDefaults, defineConfig } from "vitest/config";

// The workspace packages export their TypeScript sources under this condition and their build otherwise:
// tests run on the sources, with no build needed first.
const conditions = ["latchkey-source", ...defaultServerConditions];

const postgresUrl = process.env.TEST_DATABASE_URL;
if (!postgresUrl) {
  console.log(
    "\n[latchkey] PostgreSQL suite SKIPPED: TEST_DATABASE_URL is not set. Database tests run on embedded PGlite only.\n",
  );
}

const serverSuite = ["packages/server/**/*.test.ts"];
// Not database-bound, or not for every run: the packaging test packs and installs the built
// packages (once, in the embedded project); the fault suite runs in its own project (short
// version) and with `npm run chaos` (all of it).
const notTwice = ["packages/server/test/packaging.test.ts", "packages/server/chaos/**"];

export default defineConfig({
  // As tsconfig.json's `paths`: in the repository, `@latchkey/sdk` is its source, built or not.
  resolve: {
    conditions,
    alias: [
      { find: /^@latchkey\/sdk$/, replacement: fileURLToPath(new URL("packages/sdk/src/index.ts", import.meta.url)) },
    ],
  },
  ssr: { resolve: { conditions } },
  test: {
    reporters: ["default"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true as const,
        test: {
          name: "embedded",
          include: [
            "packages/*/src/**/*.test.ts",
            "packages/*/test/**/*.test.ts",
            "packages/console/e2e/**/*.test.ts",
            "examples/*/app/**/*.test.ts",
            "examples/*/demo/**/*.test.ts",
            "examples/*/e2e/**/*.test.ts",
            "bench/**/*.test.ts",
          ],
          env: { LATCHKEY_TEST_DB: "embedded" },
          globalSetup: ["packages/server/test/support/global-setup.ts"],
        },
      },
      {
        // The short fault suite (packages/server/chaos/*.quick.test.ts): real processes on a
        // PostgreSQL cluster it starts itself (initdb + pg_ctl), one case per fault family. The
        // full suite stays in `npm run chaos`.
        extends: true as const,
        test: {
          name: "chaos-quick",
          include: ["packages/server/chaos/**/*.quick.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      ...(postgresUrl
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include: serverSuite,
                exclude: [...configDefaults.exclude, ...notTwice],
                env: { LATCHKEY_TEST_DB: "postgres" },
                globalSetup: ["packages/server/test/support/global-setup.ts"],
              },
            },
          ]
        : []),
    ],
  },
});
