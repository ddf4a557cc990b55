import type { App, IdentityConfig, ServiceKeyInfo } from "@latchkey/contracts";
import { z } from "zod";
import { keyInfoFields } from "../workspaces/wire-schemas.ts";

/** Response shapes of the app routes, for the API docs. Typed against the contracts so the two cannot drift. */

export const ServiceKeyInfoSchema: z.ZodType<ServiceKeyInfo> = z.object({ ...keyInfoFields, app_id: z.string() });

const IdentityConfigSchema: z.ZodType<IdentityConfig> = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("jwks"),
    issuer: z.string(),
    audience: z.string().exactOptional(),
    jwks_url: z.string().exactOptional(),
  }),
  z.object({ type: z.literal("hs256"), issuer: z.string().exactOptional(), audience: z.string().exactOptional() }),
  z.object({ type: z.literal("latchkey") }),
]);

export const AppSchema: z.ZodType<App> = z.object({
  id: z.string(),
  workspace_id: z.string(),
  name: z.string(),
  allowed_return_origins: z.array(z.string()),
  identity: IdentityConfigSchema,
  created_at: z.string(),
  updated_at: z.string(),
});
