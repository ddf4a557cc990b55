import path from "node:path";

export type Env = Record<string, string | undefined>;

/**
 * The environment as the CLI reads it. npm runs scripts in the package's folder but says where
 * the user ran it (INIT_CWD); a relative data dir is taken from there, so `npm start` at the
 * repository root and `npx latchkey doctor` in the same place use the same `./.latchkey`.
 */
export function cliEnv(env: Env): Env {
  const base = env.INIT_CWD;
  if (!base) return env;
  const dataDir = env.LATCHKEY_DATA_DIR || "./.latchkey";
  return { ...env, LATCHKEY_DATA_DIR: path.resolve(base, dataDir) };
}
