import { loadConfig } from "../config/config.ts";
import { addEmbeddedKey, newKeySpec, nextKeyId } from "../vault/embedded-keys.ts";
import { rotateKeys, type ColumnRotation } from "../vault/rotate-keys.ts";
import { integerOption, parseOptions } from "./command-line.ts";
import type { Env } from "./environment.ts";
import { commandLogger } from "./loggers.ts";
import { openInstance } from "./open-instance.ts";
import { print, printError } from "./print.ts";
import { UsageError } from "./usage-error.ts";

/** `latchkey keys rotate [--batch-size N]` and `latchkey keys add`. */
export async function runKeys(args: string[], env: Env): Promise<number> {
  const [action, ...rest] = args;
  if (action === "rotate") return rotate(rest, env);
  if (action === "add") return add(rest, env);
  throw new UsageError(action ? `Unknown keys command "${action}"` : "Missing keys command: rotate or add");
}

async function rotate(args: string[], env: Env): Promise<number> {
  const values = parseOptions(args, { "batch-size": { type: "string" } });
  const batchSize = integerOption("batch-size", values["batch-size"], 500, 1, 10_000);
  const config = loadConfig(env);
  const logger = commandLogger(config, env);
  const opened = await openInstance(config, logger, { operatorKey: "read" });
  const { vault } = opened.instance.deps;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    print(`Re-encrypting every stored secret under key ${vault.currentKeyId} (configured: ${vault.keyIds.join(", ")})`);
    const report = await rotateKeys({ db: opened.instance.deps.db, vault, logger, batchSize, signal: stop.signal });
    print(...report.map(reportLine));
    return summary(report, vault.currentKeyId);
  } catch (error) {
    if (!stop.signal.aborted) throw error;
    printError("Stopped. Nothing is half-done: run `latchkey keys rotate` again to finish.");
    return 130;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await opened.close();
  }
}

function reportLine(column: ColumnRotation): string {
  const failed = column.failed > 0 ? `  FAILED ${column.failed}` : "";
  return `  ${column.column.padEnd(28)} scanned ${String(column.scanned).padStart(6)}  rewrapped ${String(column.rewrapped).padStart(6)}${failed}`;
}

function summary(report: ColumnRotation[], keyId: string): number {
  const rewrapped = report.reduce((sum, c) => sum + c.rewrapped, 0);
  const failed = report.reduce((sum, c) => sum + c.failed, 0);
  if (failed > 0) {
    printError(
      `${failed} value(s) could not be re-encrypted (their key is not configured, or they fail authentication);`,
      "they keep their old key. The log lines above name the rows.",
    );
    return 1;
  }
  print(
    `Done: ${rewrapped} value(s) re-encrypted; every value scanned is under ${keyId}.`,
    "Older keys can be removed once every server runs with the new key list.",
  );
  return 0;
}

async function add(args: string[], env: Env): Promise<number> {
  parseOptions(args, {});
  const config = loadConfig(env);
  if (config.encryptionKeys) {
    const ids = config.encryptionKeys.map((k) => k.id);
    printError(
      "Keys come from LATCHKEY_ENCRYPTION_KEYS, so this command does not change them. Put a new key first:",
      `  LATCHKEY_ENCRYPTION_KEYS=<new key>,${ids.map((id) => `${id}:…`).join(",")}`,
      "restart every server with it, then run `latchkey keys rotate`. A fresh key to use:",
    );
    print(newKeySpec(nextKeyId(ids)));
    return 0;
  }
  const id = await addEmbeddedKey(config.dataDir);
  print(
    `Added encryption key ${id} to ${config.dataDir}; new values are encrypted with it from the next start.`,
    "Restart the server (or stop it), then run `latchkey keys rotate` to move existing values to it.",
  );
  return 0;
}
