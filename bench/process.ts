import { spawn } from "node:child_process";

export interface RunningProcess {
  name: string;
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a node process and waits until it is ready: until `readyUrl` answers 200, or, without one,
 * until it prints `listening <port>`.
 */
export async function startProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyUrl?: string,
): Promise<RunningProcess> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let port = 0;
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.BENCH_DEBUG) process.stdout.write(chunk);
    const match = /listening (\d+)/.exec(output);
    if (match) port = Number(match[1]);
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.BENCH_DEBUG) process.stderr.write(chunk);
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${output}`);
    if (readyUrl) {
      const ready = await fetch(readyUrl).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
    } else if (port) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (Date.now() >= deadline) {
    child.kill("SIGKILL");
    throw new Error(`${name} did not become ready:\n${output}`);
  }
  const url = readyUrl ? new URL(readyUrl).origin : `http://127.0.0.1:${port}`;
  return {
    name,
    pid: child.pid ?? 0,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
      }),
  };
}
