import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";

export const lockFileName = "latchkey.pid";

/** Another live process has the embedded database open. */
export class DataDirBusyError extends Error {
  override name = "DataDirBusyError";
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${pid}. Stop that process first ` +
        "(the embedded database allows one process at a time; use DATABASE_URL to run several).",
    );
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}

/**
 * The embedded database (PGlite) must never be opened by two processes at once: that corrupts
 * it. A pid file taken with O_EXCL says who has it; a file left by a dead process is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const file = path.join(dataDir, lockFileName);
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createPidFile(file)) return holdLock(file);
    const holder = await readPid(file);
    if (holder !== null && holder !== process.pid && isAlive(holder)) throw new DataDirBusyError(dataDir, holder);
    await removeStaleLock(file, holder);
  }
  throw new Error(`Could not take the lock ${file}`);
}

/** The pid holding the data dir, if a live process does. */
export async function dataDirHolder(dataDir: string): Promise<number | null> {
  const holder = await readPid(path.join(dataDir, lockFileName));
  return holder !== null && isAlive(holder) ? holder : null;
}

/** Written aside and hard-linked into place, so nobody ever reads a half-written pid file. */
async function createPidFile(file: string): Promise<boolean> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(temporary, `${process.pid}\n`, { mode: 0o600 });
  try {
    await fsp.link(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await fsp.rm(temporary, { force: true });
  }
}

function holdLock(file: string): DataDirLock {
  const releaseSync = () => {
    try {
      if (fs.readFileSync(file, "utf8").trim() === String(process.pid)) fs.unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once("exit", releaseSync);
  return {
    release: async () => {
      process.off("exit", releaseSync);
      releaseSync();
    },
  };
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number((await fsp.readFile(file, "utf8")).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Removes the lock file only if it still names the dead holder (another taker may have won). */
async function removeStaleLock(file: string, holder: number | null): Promise<void> {
  if ((await readPid(file)) === holder) await fsp.rm(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
