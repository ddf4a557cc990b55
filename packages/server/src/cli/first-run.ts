import readline from "node:readline/promises";
import { sql } from "kysely";
import { systemClock } from "../kernel/clock.ts";
import { createWorkspace, type CreatedWorkspace } from "../workspaces/workspaces.ts";
import { issueSetupLink } from "../console/setup-links.ts";
import { embeddedKeysFile } from "../vault/embedded-keys.ts";
import { defaultWorkspace } from "./init-command.ts";
import type { OpenedInstance } from "./open-instance.ts";
import { print, readmePointer } from "./print.ts";
import { createdWorkspaceLines } from "./workspace-lines.ts";

/**
 * Embedded mode, no workspace yet: create the first one, asking first when someone is at the
 * terminal, on its own otherwise (a container, a script). Returns it, null if none was made, or
 * "cancelled" when the person pressed Ctrl+C at the question.
 */
export async function offerFirstWorkspace(
  opened: OpenedInstance,
  stopped: Promise<unknown>,
): Promise<CreatedWorkspace | null | "cancelled"> {
  if (opened.config.databaseUrl) return null;
  const { db } = opened.instance.deps;
  const existing = await db.selectFrom("workspaces").select("id").limit(1).executeTakeFirst();
  if (existing) return null;
  if (process.stdin.isTTY) {
    const answer = await confirm("Create a workspace now? [Y/n] ", stopped);
    if (answer === null) return "cancelled";
    if (!answer) {
      print("No workspace created. Create one later with `npx latchkey init`.");
      return null;
    }
  }
  const created = await createWorkspace(db, systemClock, defaultWorkspace);
  return withSetupLink(opened, created);
}

/** The first admin signs in to the console with a password they set through this one-time link. */
export async function withSetupLink(
  opened: OpenedInstance,
  created: CreatedWorkspace,
): Promise<CreatedWorkspace & { setupUrl: string }> {
  const link = await issueSetupLink(
    { db: opened.instance.deps.db, clock: systemClock, config: opened.config },
    { workspaceId: created.workspace.id, memberId: created.admin.id },
  );
  return { ...created, setupUrl: link.setupUrl };
}

/** true for yes (the default), false for no, null for Ctrl+C or a stop signal. */
async function confirm(question: string, stopped: Promise<unknown>): Promise<boolean | null> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await new Promise<string | null>((resolve) => {
      prompt.once("SIGINT", () => resolve(null));
      prompt.question(question).then(resolve, () => resolve(null));
      void stopped.then(() => resolve(null));
    });
    if (answer === null) print(""); // end the question's line
    return answer === null ? null : /^(y|yes)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

/** What `latchkey start` prints once it listens: where it runs, where its secrets live, how to log in. */
export async function startBanner(
  opened: OpenedInstance,
  url: string,
  created: CreatedWorkspace | null,
): Promise<string[]> {
  const { config, operatorKey } = opened;
  const lines = ["", `Latchkey is running at ${url}`];
  if (config.databaseUrl) {
    lines.push("  Database:       PostgreSQL (DATABASE_URL)");
  } else {
    lines.push(`  Data dir:       ${config.dataDir} (embedded database)`);
    lines.push(
      `  Encryption:     ${config.encryptionKeys ? "LATCHKEY_ENCRYPTION_KEYS" : embeddedKeysFile(config.dataDir)}`,
    );
  }
  if (operatorKey.kind === "env") lines.push("  Operator key:   LATCHKEY_OPERATOR_KEY");
  if (operatorKey.kind === "file") lines.push(`  Operator key:   stored in ${operatorKey.file}`);
  if (operatorKey.kind === "none") lines.push("  Operator key:   not set (the operator API is closed)");
  lines.push("");
  if (created) {
    lines.push(...createdWorkspaceLines(created, url), "");
  } else if (!config.databaseUrl) {
    lines.push(...(await workspaceLines(opened)), "");
  }
  if (operatorKey.kind === "file" && operatorKey.created) {
    lines.push(
      "Operator key (created now and printed only this time; it is kept in the file above):",
      "",
      `      ${config.operatorKey ?? ""}`,
      "",
    );
  }
  lines.push(readmePointer, "Stop with Ctrl+C.", "");
  return lines;
}

const listedWorkspaces = 5;

async function workspaceLines(opened: OpenedInstance): Promise<string[]> {
  const { db } = opened.instance.deps;
  const { count } = await db
    .selectFrom("workspaces")
    .select(sql<number>`count(*)::int`.as("count"))
    .executeTakeFirstOrThrow();
  if (count === 0) return ["No workspace yet: `npx latchkey init` creates one and prints its admin API key."];
  const first = await db
    .selectFrom("workspaces")
    .select(["id", "name"])
    .orderBy("created_at")
    .limit(listedWorkspaces)
    .execute();
  const more = count > first.length ? [`  … and ${count - first.length} more`] : [];
  return [
    `Workspaces (${count}):`,
    ...first.map((w) => `  ${w.id}  ${w.name}`),
    ...more,
    "Log in with the admin API key printed when a workspace was created; create another with `npx latchkey init`.",
  ];
}
