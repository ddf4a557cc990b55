import type { CreatedWorkspace } from "../workspaces/workspaces.ts";

/** How to log in to a workspace just created: its id, the admin API key (shown once) and a first call. */
export function createdWorkspaceLines(created: CreatedWorkspace & { setupUrl?: string }, serverUrl: string): string[] {
  const { workspace, admin, adminApiKey } = created;
  const consoleLines = created.setupUrl
    ? [
        "",
        `  Console:        ${serverUrl}/console/`,
        "  Set the admin's console password with this one-time link (valid 72 h):",
        "",
        `      ${created.setupUrl}`,
      ]
    : [];
  return [
    `Workspace created: "${workspace.name}" (plan ${workspace.plan})`,
    `  Workspace id:   ${workspace.id}`,
    `  Admin:          ${admin.email}`,
    "  Admin API key (shown once; only its hash is stored, so save it now):",
    "",
    `      ${adminApiKey}`,
    "",
    "  Try it:",
    `      curl -H "Authorization: Bearer ${adminApiKey}" ${serverUrl}/api/workspaces/${workspace.id}`,
    ...consoleLines,
  ];
}
