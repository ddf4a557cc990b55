import { memberRoles, plans, type AdminApiKeyInfo, type Member, type Workspace } from "@latchkey/contracts";
import { z } from "zod";
import type { RouteDoc } from "../http/api-docs.ts";

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

const errorDescriptions = {
  400: "Invalid request (INVALID_REQUEST)",
  401: "Missing, invalid or revoked key (UNAUTHENTICATED)",
  403: "The caller's role may not do this (FORBIDDEN)",
  404: "Not found, or not in this workspace (NOT_FOUND)",
  409: "Conflicts with the current state (CONFLICT)",
  413: "Body larger than the configured limit (PAYLOAD_TOO_LARGE)",
  415: "Body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
} as const;

type ErrorStatus = keyof typeof errorDescriptions;

/** Doc entries for the error statuses a route can answer with. */
export function errorDocs(...statuses: ErrorStatus[]): RouteDoc["responses"] {
  return Object.fromEntries(statuses.map((status) => [status, { description: errorDescriptions[status] }]));
}

/** The statuses every authenticated route with a JSON body can answer with. */
export const bodyRouteErrors: ErrorStatus[] = [400, 401, 413, 415];
