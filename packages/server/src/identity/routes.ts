import { z } from "zod";
import { AppError } from "../errors/app-error.ts";
import { rateLimitedDoc } from "../http/rate-limit.ts";
import { parseOrThrow, readJson } from "../http/read-json.ts";
import type { RouteContext } from "../http/route-context.ts";
import type { AccessDeps } from "../access/auth.ts";
import type { RateLimits } from "../http/rate-limit.ts";
import type { Vault } from "../vault/vault.ts";
import type { LatchkeyTokenDeps } from "./latchkey-user-tokens.ts";
import { serviceKeyAuth } from "../access/auth.ts";
import { bodyRouteErrors, errorDocs } from "../workspaces/wire-schemas.ts";
import { identitySecretOf } from "./identity-settings.ts";
import {
  defaultUserTokenLifetimeSeconds,
  maxUserTokenLifetimeSeconds,
  mintLatchkeyUserToken,
  minUserTokenLifetimeSeconds,
} from "./latchkey-user-tokens.ts";
import { UserIdSchema } from "./user-id.ts";

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
export function registerIdentityRoutes({
  app,
  deps,
  docs,
}: RouteContext<AccessDeps & LatchkeyTokenDeps & { vault: Vault; rateLimits: RateLimits }>): void {
  const { perIp, userTokens } = deps.rateLimits;
  app.post("/api/apps/:appId/users/:userId/token", perIp, serviceKeyAuth(deps), async (c) => {
    const { app: serviceApp, serviceKeyId } = c.get("serviceApp");
    userTokens.take(serviceKeyId ?? serviceApp.id);
    const userId = parseOrThrow(UserIdSchema, c.req.param("userId"), "userId");
    const body = await readJson(c, MintUserTokenBody);
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
      userId,
      body.expires_in ?? defaultUserTokenLifetimeSeconds,
    );
    c.get("log").info({ app_id: serviceApp.id, expires_in: minted.expiresIn }, "user token minted");
    const response: MintedUserTokenResponse = {
      token: minted.token,
      token_type: "Bearer",
      expires_at: minted.expiresAt.toISOString(),
      expires_in: minted.expiresIn,
    };
    return c.json(response, 201);
  });
  docs.add({
    method: "post",
    path: "/api/apps/{appId}/users/{userId}/token",
    summary: "Mint a short-lived user token for an app user (apps with identity type latchkey)",
    tag: "Identity",
    auth: "service",
    body: MintUserTokenBody,
    responses: {
      201: { description: "Created", schema: MintedUserTokenSchema },
      ...errorDocs(...bodyRouteErrors, 404, 409),
      ...rateLimitedDoc,
    },
  });
}
