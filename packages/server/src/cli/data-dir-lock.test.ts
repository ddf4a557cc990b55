import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirBusyError, dataDirHolder, lockDataDir, lockFileName } from "./data-dir-lock.ts";

describe("data dir lock", () => {
  const dirs: string[] = [];
  async function tempDir(): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "latchkey-lock-"));
    dirs.push(dir);
    return dir;
  }
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
  });

  /** The pid of a process that has already exited. */
  function deadPid(): number {
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    return Number(child.stdout);
  }

  it("writes this process's pid (owner-only) and removes it on release", async () => {
    const dir = await tempDir();
    const lock = await lockDataDir(dir);
    const file = path.join(dir, lockFileName);
    expect((await fs.readFile(file, "utf8")).trim()).toBe(String(process.pid));
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await dataDirHolder(dir)).toBe(process.pid);
    await lock.release();
    await expect(fs.stat(file)).rejects.toThrow();
    expect(await dataDirHolder(dir)).toBeNull();
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it("refuses a data dir another live process holds, naming it, and leaves its lock alone", async () => {
    const dir = await tempDir();
    const other = process.ppid; // alive for as long as this test runs
    await fs.writeFile(path.join(dir, lockFileName), `${other}\n`);
    await expect(lockDataDir(dir)).rejects.toThrow(DataDirBusyError);
    await expect(lockDataDir(dir)).rejects.toThrow(`in use by process ${other}`);
    expect((await fs.readFile(path.join(dir, lockFileName), "utf8")).trim()).toBe(String(other));
  });

  it("takes over a lock left by a process that died, or a garbled one", async () => {
    for (const leftover of [`${deadPid()}\n`, "", "not a pid"]) {
      const dir = await tempDir();
      await fs.writeFile(path.join(dir, lockFileName), leftover);
      const lock = await lockDataDir(dir);
      expect((await fs.readFile(path.join(dir, lockFileName), "utf8")).trim()).toBe(String(process.pid));
      await lock.release();
    }
  });

  it("does not remove a lock that another process took after ours was released", async () => {
    const dir = await tempDir();
    const lock = await lockDataDir(dir);
    await fs.writeFile(path.join(dir, lockFileName), `${process.ppid}\n`);
    await lock.release();
    expect((await fs.readFile(path.join(dir, lockFileName), "utf8")).trim()).toBe(String(process.ppid));
  });
});
