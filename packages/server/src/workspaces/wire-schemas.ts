import { memberRoles, plans, type AdminApiKeyInfo, type Member, type Workspace } from "@latchkey/contracts";
import { z } from "zod";

/** Request fields shared by several tenancy routes. */
export const NameSchema = z.string().trim().min(1).max(200);
export const PlanSchema = z.enum(plans);
export const RoleSchema = z.enum(memberRoles);
export const EmailSchema = z.string().trim().toLowerCase().max(320).pipe(z.email());

/** Response shapes, for the API docs. Typed against the contracts so the two cannot drift. */
export const WorkspaceSchema: z.ZodType<Workspace> = z.object({
  id: z.string(),
  name: z.string(),
  plan: PlanSchema,
  created_at: z.string(),
  updated_at: z.string(),
});

export const MemberSchema: z.ZodType<Member> = z.object({
  id: z.string(),
  workspace_id: z.string(),
  email: z.string(),
  role: RoleSchema,
  created_at: z.string(),
});

export const keyInfoFields = {
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe("The key's first characters, to tell keys apart"),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
};

export const AdminApiKeyInfoSchema: z.ZodType<AdminApiKeyInfo> = z.object({
  ...keyInfoFields,
  member_id: z.string(),
});
