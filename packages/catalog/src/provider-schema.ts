import { z } from "zod";

export const providerKinds = ["oauth2", "oidc"] as const;
export type ProviderKind = (typeof providerKinds)[number];

export const clientAuthMethods = ["client_secret_basic", "client_secret_post", "none"] as const;
export type ClientAuthMethod = (typeof clientAuthMethods)[number];

/**
 * Authorization-request parameters the connect flow sets itself. Neither a description nor a
 * connector may fix them through `authorize_params`: that would let configuration redirect the
 * code elsewhere, drop PKCE or widen the scopes.
 */
export const reservedAuthorizeParams = [
  "response_type",
  "response_mode",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
  "request",
  "request_uri",
] as const;

const maxUrlLength = 2048;

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
export const ScopeToken = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "a scope is printable ASCII without spaces, quotes or backslashes");

/** A path into a JSON object, such as `sub` or `data.user.email`. */
export const FieldPath = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "a field path is names joined by dots, such as data.user.id");

/** A top-level field name of a token response, such as `instance_url`. */
export const FieldName = z.string().regex(/^[A-Za-z0-9_$-]{1,100}$/, "a field name is letters, digits, _, $ or -");

export const AuthorizeParams = z
  .record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, "a parameter name is a letter then letters, digits, _, . or -"),
    z.string().max(1024),
  )
  .superRefine((params, ctx) => {
    const names = Object.keys(params);
    if (names.length > 20) ctx.addIssue({ code: "custom", message: "at most 20 authorize_params" });
    for (const name of names) {
      if ((reservedAuthorizeParams as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `"${name}" is set by Latchkey and cannot be configured`,
        });
      }
    }
  });

export const AccountFields = z.strictObject({
  id: FieldPath.default("sub"),
  email: FieldPath.default("email"),
  name: FieldPath.default("name"),
});

/** Catalog endpoints are public services: https only, no credentials, no fragment (RFC 6749 §3.1). */
const CatalogUrl = z
  .string()
  .max(maxUrlLength)
  .refine((value) => {
    const url = parseUrl(value);
    return url !== null && url.protocol === "https:" && url.username === "" && url.password === "" && url.hash === "";
  }, "must be an absolute https URL without credentials or fragment");

/** `URL.parse` needs Node 20.18; engines allow 20.11. */
function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

const commonFields = {
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "an id is lowercase letters, digits, _ or -"),
  display_name: z.string().trim().min(1).max(100),
  /** Generic providers take their endpoints (or issuer) from each connector's options. */
  generic: z.boolean().default(false),
  scope_separator: z.string().min(1).max(4).default(" "),
  token_endpoint_auth_method: z.enum(clientAuthMethods).default("client_secret_basic"),
  pkce: z.boolean().default(true),
  authorize_params: AuthorizeParams.default({}),
  default_scopes: z.array(ScopeToken).max(100).default([]),
  /** Where the provider account's id, email and name are in the userinfo response. */
  account_fields: AccountFields.prefault({}),
  /** Token-response fields kept as the connection's `connection_config` (e.g. instance_url). */
  connection_config_fields: z.array(FieldName).max(20).default([]),
  /** The authorization server sends `iss` in authorization responses (RFC 9207). */
  iss_parameter_supported: z.boolean().default(false),
};

const OAuth2Description = z.strictObject({
  kind: z.literal("oauth2"),
  ...commonFields,
  authorization_url: CatalogUrl.optional(),
  token_url: CatalogUrl.optional(),
  revocation_url: CatalogUrl.optional(),
  userinfo_url: CatalogUrl.optional(),
});

const OidcDescription = z.strictObject({
  kind: z.literal("oidc"),
  ...commonFields,
  issuer: CatalogUrl.optional(),
});

export const ProviderDescriptionSchema = z
  .discriminatedUnion("kind", [OAuth2Description, OidcDescription])
  .superRefine((description, ctx) => {
    const where = description.generic ? "generic" : "named";
    const required: string[] = description.kind === "oauth2" ? ["authorization_url", "token_url"] : ["issuer"];
    const located =
      description.kind === "oauth2" ? ["authorization_url", "token_url", "revocation_url", "userinfo_url"] : ["issuer"];
    const fields = description as Record<string, unknown>;
    for (const field of description.generic ? located : required) {
      const present = fields[field] !== undefined;
      if (description.generic && present) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `a ${where} provider takes ${field} from each connector`,
        });
      } else if (!description.generic && !present) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `a ${where} ${description.kind} provider needs ${field}`,
        });
      }
    }
  });

export type ProviderDescription = z.output<typeof ProviderDescriptionSchema>;
/** What a description file may contain (fields with defaults may be left out). */
export type ProviderDescriptionInput = z.input<typeof ProviderDescriptionSchema>;

export type ProviderValidation =
  | { success: true; description: ProviderDescription }
  | { success: false; problems: string[] };

/** Validates a provider description and fills in defaults; lists every problem found. */
export function validateProviderDescription(value: unknown): ProviderValidation {
  const result = ProviderDescriptionSchema.safeParse(value);
  if (result.success) return { success: true, description: result.data };
  return {
    success: false,
    problems: result.error.issues.map(
      (issue) => `${issue.path.map(String).join(".") || "description"}: ${issue.message}`,
    ),
  };
}

/** Like validateProviderDescription, for descriptions shipped with Latchkey: a bad one is a build error. */
export function defineProvider(value: ProviderDescriptionInput): ProviderDescription {
  const result = validateProviderDescription(value);
  if (!result.success) {
    throw new Error(`Invalid provider description "${String(value.id)}":\n  ${result.problems.join("\n  ")}`);
  }
  return result.description;
}
