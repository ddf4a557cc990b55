import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

/**
 * The console is served by the Latchkey server at /console/ (same origin as the API). In
 * development (`npm run dev --workspace @latchkey/console`) Vite proxies the API to a server on
 * LATCHKEY_DEV_API (default http://localhost:4400).
 */
const api = process.env.LATCHKEY_DEV_API ?? "http://localhost:4400";

export default defineConfig({
  base: "/console/",
  root: import.meta.dirname,
  plugins: [react()],
  // @latchkey/contracts from its TypeScript sources (its package exports them under this condition), not its build.
  resolve: { conditions: ["latchkey-source", ...defaultClientConditions] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No inline script: the server's CSP allows only same-origin scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: { proxy: { "/api": api, "/oauth": api } },
});
