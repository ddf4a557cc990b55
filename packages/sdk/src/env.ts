export type EnvSource = Readonly<Record<string, string | undefined>>;

interface RuntimeGlobals {
  process?: { env?: Record<string, string | undefined> };
  Deno?: { env?: { get(name: string): string | undefined } };
}

/**
 * Reads a variable where the runtime has an environment (Node, Bun, Deno, Next.js edge);
 * undefined in browsers and workers without one. Never throws.
 */
export function readEnv(name: string, source?: EnvSource): string | undefined {
  if (source) return nonEmpty(source[name]);
  const runtime = globalThis as RuntimeGlobals;
  try {
    const fromProcess = nonEmpty(runtime.process?.env?.[name]);
    if (fromProcess !== undefined) return fromProcess;
    return nonEmpty(runtime.Deno?.env?.get(name));
  } catch {
    // Deno without --allow-env throws; a sandbox may forbid the access.
    return undefined;
  }
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}
