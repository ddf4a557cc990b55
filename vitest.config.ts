import { defineConfig } from "vitest/config";

const postgresUrl = process.env.TEST_DATABASE_URL;
if (!postgresUrl) {
  console.log(
    "\n[latchkey] PostgreSQL suite SKIPPED: TEST_DATABASE_URL is not set. Database tests run on embedded PGlite only.\n",
  );
}

const serverSuite = ["packages/server/**/*.test.ts"];

export default defineConfig({
  test: {
    reporters: ["default"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true as const,
        test: {
          name: "embedded",
          include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts", "packages/console/e2e/**/*.test.ts"],
          env: { LATCHKEY_TEST_DB: "embedded" },
          globalSetup: ["packages/server/test/support/global-setup.ts"],
        },
      },
      {
        // The short fault suite: provider faults and one PostgreSQL stop/start, on real Latchkey
        // processes and a PostgreSQL cluster of its own. `npm run chaos` runs every fault case.
        extends: true as const,
        test: {
          name: "chaos",
          include: ["packages/server/chaos/provider-faults.test.ts", "packages/server/chaos/postgres-restart.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          maxConcurrency: 20,
        },
      },
      ...(postgresUrl
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include: serverSuite,
                env: { LATCHKEY_TEST_DB: "postgres" },
                globalSetup: ["packages/server/test/support/global-setup.ts"],
              },
            },
          ]
        : []),
    ],
  },
});
