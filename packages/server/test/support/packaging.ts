import { type ChildProcess, execFile, spawn } from "node:child_process";
import os from "node:os";

/**
 * What the packaging suites (server and SDK) share: running npm and node in throwaway projects with
 * a clean environment, packing a workspace package, and starting a `latchkey serve` from a given
 * bin to call.
 */

export interface Run {
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        maxBuffer: 16 * 1024 * 1024,
        timeout: options.timeoutMs ?? 400_000,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(`${command} ${args.join(" ")} failed in ${options.cwd}: ${error.message}\n${stdout}\n${stderr}`),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** Nothing of the runner's environment (npm_config_*, LATCHKEY_*, NODE_OPTIONS, its PATH to tsx) leaks in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { PATH, HOME } = process.env;
  return { ...(PATH && { PATH }), ...(HOME && { HOME }), TMPDIR: os.tmpdir(), ...extra };
}

export interface Packed {
  filename: string;
  files: { path: string }[];
}

/** `npm pack` without lifecycle scripts (the build ran before), into `destination`. */
export async function npmPack(packageDir: string, destination: string, npmCache: string): Promise<Packed> {
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", destination], {
    cwd: packageDir,
    env: cleanEnv({ npm_config_cache: npmCache }),
  });
  const [manifest] = JSON.parse(stdout) as [Packed];
  return manifest;
}

export interface LatchkeyProcess {
  /** Resolves to the server's URL once it listens. */
  ready: Promise<string>;
  /** Stops it (SIGTERM) and resolves to its exit code. */
  stop(): Promise<number | null>;
}

/** Starts `<bin> serve` on a free port of 127.0.0.1 with its own data directory and operator key. */
export function startLatchkey(options: {
  bin: string;
  cwd: string;
  dataDir: string;
  operatorKey: string;
  /** More environment for the server (LATCHKEY_PUBLIC_URL, …). */
  env?: Record<string, string>;
}): LatchkeyProcess {
  const child: ChildProcess = spawn(process.execPath, [options.bin, "serve"], {
    cwd: options.cwd,
    env: cleanEnv({
      PORT: "0",
      HOST: "127.0.0.1",
      LATCHKEY_DATA_DIR: options.dataDir,
      LATCHKEY_OPERATOR_KEY: options.operatorKey,
      LOG_LEVEL: "warn",
      ...options.env,
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`latchkey serve exited with ${code} before listening:\n${output}`)));
  });
  // Awaited later; a start failure must not be an unhandled rejection meanwhile.
  ready.catch(() => undefined);
  return {
    ready,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
