import { z } from "zod";
import { type AccessDeps, serviceKeyAuth } from "../access/auth.ts";
import { AppError } from "../errors/app-error.ts";
import { defineRoute } from "../http/define-route.ts";
import type { RateLimits } from "../http/rate-limit.ts";
import { parseOrThrow } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { Vault } from "../vault/vault.ts";
import type { LatchkeyTokenDeps } from "./latchkey-user-tokens.ts";
import { identitySecretOf } from "./identity-settings.ts";
import {
  defaultUserTokenLifetimeSeconds,
  maxUserTokenLifetimeSeconds,
  mintLatchkeyUserToken,
  minUserTokenLifetimeSeconds,
} from "./latchkey-user-tokens.ts";
import { UserIdSchema } from "./user-id.ts";
import type { Step } from "../http/route-pipeline.ts";
import { requestLog } from "../http/request-context.ts";

export const MintUserTokenBody = z.strictObject({
  expires_in: z
    .int()
    .min(minUserTokenLifetimeSeconds)
    .max(maxUserTokenLifetimeSeconds)
    .optional()
    .describe(`Lifetime in seconds (default ${defaultUserTokenLifetimeSeconds})`),
});

export const MintedUserTokenSchema = z.object({
  token: z.string().describe("The user token: send it as `Authorization: Bearer <token>`"),
  token_type: z.literal("Bearer"),
  expires_at: z.string().describe("ISO 8601"),
  expires_in: z.int().describe("Seconds"),
});
export type MintedUserTokenResponse = z.output<typeof MintedUserTokenSchema>;

/** User tokens Latchkey mints for apps whose identity type is `latchkey`. */
export function registerIdentityRoutes(
  ctx: RouteContext<AccessDeps & LatchkeyTokenDeps & { vault: Vault; rateLimits: RateLimits }>,
): void {
  const { deps } = ctx;
  const { perIp, userTokens } = deps.rateLimits;
  // Before the body is read: a request with a bad body still spends the key's allowance, and a bad
  // userId is refused before the body is looked at.
  const spendAndCheckUserId: Step = (c, next) => {
    const { app: serviceApp, serviceKeyId } = c.get("serviceApp");
    userTokens.take(serviceKeyId ?? serviceApp.id);
    parseOrThrow(UserIdSchema, c.req.param("userId"), "userId");
    return next();
  };

  defineRoute(ctx, {
    method: "post",
    path: "/api/apps/{appId}/users/{userId}/token",
    summary: "Mint a short-lived user token for an app user (apps with identity type latchkey)",
    tag: "Identity",
    auth: "service",
    use: [perIp, serviceKeyAuth(deps), spendAndCheckUserId],
    body: MintUserTokenBody,
    responses: { 201: { description: "Created", schema: MintedUserTokenSchema } },
    errors: ["NOT_FOUND", "CONFLICT", "RATE_LIMITED"],
    handler: async (c, { body }) => {
      const serviceApp = c.get("serviceApp").app;
      if (serviceApp.identity_type !== "latchkey") {
        throw new AppError(
          "CONFLICT",
          `This app verifies user tokens with identity type "${serviceApp.identity_type}"; Latchkey mints user tokens only for apps with identity type "latchkey"`,
        );
      }
      const minted = await mintLatchkeyUserToken(
        deps,
        serviceApp,
        identitySecretOf(deps, serviceApp),
        c.req.param("userId") ?? "",
        body.expires_in ?? defaultUserTokenLifetimeSeconds,
      );
      requestLog(c).info({ app_id: serviceApp.id, expires_in: minted.expiresIn }, "user token minted");
      const response: MintedUserTokenResponse = {
        token: minted.token,
        token_type: "Bearer",
        expires_at: minted.expiresAt.toISOString(),
        expires_in: minted.expiresIn,
      };
      return c.json(response, 201);
    },
  });
}
