import { cliEnv, type Env } from "./environment.ts";
import { printError, print } from "./print.ts";
import { usage } from "./usage.ts";
import { UsageError } from "./usage-error.ts";

type Command = (args: string[], env: Env) => Promise<number>;

// Loaded on demand: `latchkey help` should not pay for the server's imports.
const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import("./server-command.ts")).runStart,
  serve: async () => (await import("./server-command.ts")).runServe,
  init: async () => (await import("./init-command.ts")).runInit,
  keys: async () => (await import("./keys-command.ts")).runKeys,
  doctor: async () => (await import("./doctor-command.ts")).runDoctor,
};

/** Runs one CLI command and returns its exit code: 0 done, 1 failed, 2 wrong usage. */
export async function main(argv: string[], env: Env): Promise<number> {
  const [name, ...args] = argv;
  if (name === "help" || name === "--help" || name === "-h") {
    print(usage);
    return 0;
  }
  const load = name === undefined ? undefined : commands[name];
  if (!load) {
    printError(name === undefined ? "Missing command." : `Unknown command "${name}".`, "", usage);
    return 2;
  }
  try {
    const command = await load();
    return await command(args, cliEnv(env));
  } catch (error) {
    return reportFailure(error, env);
  }
}

// Judged by name: importing the error classes would load the config schema even for `help`.
function reportFailure(error: unknown, env: Env): number {
  if (error instanceof UsageError) {
    printError(`latchkey: ${error.message}`, "", usage);
    return 2;
  }
  if (error instanceof Error && error.name === "ConfigError" && "problems" in error && Array.isArray(error.problems)) {
    printError("Invalid configuration:", ...error.problems.map((p) => `  - ${String(p)}`));
    return 1;
  }
  if (!(error instanceof Error)) {
    printError(`latchkey: ${String(error)}`);
    return 1;
  }
  printError(`latchkey: ${error.message}`);
  const expected = error.name === "DataDirBusyError";
  if (!expected && (env.LOG_LEVEL === "debug" || env.LOG_LEVEL === "trace")) printError(error.stack ?? "");
  return 1;
}

process.exitCode = await main(process.argv.slice(2), process.env);
// Exit even if a library left a handle open (an idle pool timer, a socket): the work is done.
setTimeout(() => process.exit(), 2_000).unref();
