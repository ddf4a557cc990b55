export const plans = ["free", "starter", "builder", "pro", "enterprise"] as const;
export type Plan = (typeof plans)[number];

/** App-user connectors (one connection per app user) need this plan or higher. */
export const appUserConnectorsMinimumPlan: Plan = "builder";

export function planAtLeast(plan: Plan, minimum: Plan): boolean {
  return plans.indexOf(plan) >= plans.indexOf(minimum);
}

export const memberRoles = ["admin", "member"] as const;
export type MemberRole = (typeof memberRoles)[number];
