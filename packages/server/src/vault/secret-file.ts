import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

/** Owner read/write only: secret files in the data dir are never readable by other users. */
export const secretFileMode = 0o600;

/**
 * Reads a secret file, creating it with `generate()` when it does not exist. An existing file is
 * never overwritten. Creation is atomic: the text is written to a private temporary file that is
 * then hard-linked into place, so a concurrent reader sees either no file or the whole text, and
 * of several racing creators exactly one wins and the others read its text.
 */
export async function readOrCreateSecretFile(
  file: string,
  generate: () => string,
): Promise<{ text: string; created: boolean }> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readSecretFile(file);
  if (existing !== null) return { text: existing, created: false };
  const text = generate();
  const created = await createExclusively(file, `${text}\n`);
  if (created) return { text, created: true };
  const winner = await readSecretFile(file);
  if (winner === null) throw new Error(`${file} disappeared while it was being created`);
  return { text: winner, created: false };
}

/** The file's text without surrounding whitespace, or null when it does not exist. */
export async function readSecretFile(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Replaces a secret file's text atomically (write a private temporary file, then rename over). */
export async function replaceSecretFile(file: string, text: string): Promise<void> {
  const temporary = await writeTemporary(file, `${text}\n`);
  try {
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** Permission bits a secret file has beyond owner read/write (0 when it is private). */
export async function excessPermissions(file: string): Promise<number> {
  const stat = await fs.stat(file);
  return stat.mode & 0o077;
}

async function createExclusively(file: string, text: string): Promise<boolean> {
  const temporary = await writeTemporary(file, text);
  try {
    await fs.link(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await fs.rm(temporary, { force: true });
  }
}

async function writeTemporary(file: string, text: string): Promise<string> {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await fs.writeFile(temporary, text, { mode: secretFileMode, flag: "wx" });
  // The umask may have removed bits from the mode, never added them; chmod makes it exact.
  await fs.chmod(temporary, secretFileMode);
  return temporary;
}
