import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// As vitest.config.ts: the workspace packages resolve to their TypeScript sources.
const conditions = ["latchkey-source", ...defaultServerConditions];

/**
 * The fault suite (`npm run chaos`): real Latchkey processes on a PostgreSQL cluster of its own,
 * real and scripted providers. Files run one after another: they start processes and clusters,
 * and the machine is shared.
 */
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: "chaos",
    include: ["packages/server/chaos/**/*.test.ts"],
    // The short version `npm test` runs repeats cases of these files; the full run has them all.
    exclude: ["packages/server/chaos/**/*.quick.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // provider-faults.test.ts runs its fault cases at once (each waits for a token to expire).
    maxConcurrency: 20,
  },
});
