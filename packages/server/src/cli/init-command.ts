import { plans, type Plan } from "@latchkey/contracts";
import { loadConfig } from "../config/config.ts";
import { systemClock } from "../kernel/clock.ts";
import { createWorkspace, type NewWorkspace } from "../workspaces/workspaces.ts";
import { parseOptions } from "./command-line.ts";
import type { Env } from "./environment.ts";
import { commandLogger } from "./loggers.ts";
import { openInstance } from "./open-instance.ts";
import { print, readmePointer } from "./print.ts";
import { UsageError } from "./usage-error.ts";
import { createdWorkspaceLines } from "./workspace-lines.ts";
import { withSetupLink } from "./first-run.ts";

export const defaultWorkspace: NewWorkspace = { name: "My workspace", plan: "builder", adminEmail: "admin@localhost" };

/** `latchkey init [--name N] [--plan P] [--admin-email E] [--json]` */
export async function runInit(args: string[], env: Env): Promise<number> {
  const values = parseOptions(args, {
    name: { type: "string" },
    plan: { type: "string" },
    "admin-email": { type: "string" },
    json: { type: "boolean" },
  });
  const input = workspaceInput(values.name, values.plan, values["admin-email"]);
  const config = loadConfig(env);
  const opened = await openInstance(config, commandLogger(config, env), { operatorKey: "read" });
  try {
    const created = await withSetupLink(opened, await createWorkspace(opened.instance.deps.db, systemClock, input));
    if (values.json) {
      print(
        JSON.stringify({
          workspace: created.workspace,
          admin: created.admin,
          admin_api_key: created.adminApiKey,
          console_setup_url: created.setupUrl,
        }),
      );
    } else {
      print(...createdWorkspaceLines(created, config.publicUrl), "", readmePointer);
    }
    return 0;
  } finally {
    await opened.close();
  }
}

export function workspaceInput(
  name: string | undefined,
  plan: string | undefined,
  adminEmail: string | undefined,
): NewWorkspace {
  const input = {
    name: (name ?? defaultWorkspace.name).trim(),
    plan: plan ?? defaultWorkspace.plan,
    adminEmail: (adminEmail ?? defaultWorkspace.adminEmail).trim(),
  };
  if (input.name.length === 0 || input.name.length > 200) throw new UsageError("--name must be 1 to 200 characters");
  if (!isPlan(input.plan)) throw new UsageError(`--plan must be one of: ${plans.join(", ")}`);
  if (input.adminEmail.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(input.adminEmail)) {
    throw new UsageError("--admin-email must be an email address such as admin@example.com");
  }
  return { ...input, plan: input.plan };
}

function isPlan(value: string): value is Plan {
  return (plans as readonly string[]).includes(value);
}
