import { z } from "zod";
import { templateUrlProblems, templateUses, valuePattern, type TemplateUse } from "./url-template.ts";

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

/** A documentation link: https, no credentials (a fragment may point into the page). */
const DocsUrl = z
  .string()
  .max(maxUrlLength)
  .refine((value) => {
    const url = parseUrl(value);
    return url !== null && url.protocol === "https:" && url.username === "" && url.password === "";
  }, "must be an absolute https URL without credentials");

/** `URL.parse` needs Node 20.18; engines allow 20.11. */
function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** A catalog URL that may hold `{name}` templates (see url-template.ts for where they may sit). */
export const TemplateUrl = z
  .string()
  .max(maxUrlLength)
  .superRefine((value, ctx) => {
    const templated = value.includes("{") || value.includes("}");
    let probe = value;
    if (templated) {
      let uses: TemplateUse[];
      try {
        uses = templateUses(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return;
      }
      for (const use of uses) {
        probe = probe.replace(`{${use.name}}`, use.slot === "base_url" ? "https://base.example" : "x");
      }
    }
    const url = parseUrl(probe);
    if (url === null || url.protocol !== "https:" || url.username !== "" || url.password !== "" || url.hash !== "") {
      ctx.addIssue({ code: "custom", message: "must be an absolute https URL without credentials or fragment" });
    }
  });

export const categories = [
  "accounting",
  "analytics",
  "calendar",
  "cloud",
  "communication",
  "crm",
  "customer-support",
  "design",
  "developer-tools",
  "documents",
  "e-commerce",
  "e-signature",
  "email",
  "file-storage",
  "forms",
  "gaming",
  "health-fitness",
  "hr",
  "identity",
  "marketing",
  "music",
  "payments",
  "productivity",
  "project-management",
  "scheduling",
  "social",
  "video",
] as const;
export type Category = (typeof categories)[number];

/** Header names as RFC 9110 tokens. */
export const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, "a header name is an RFC 9110 token");
const HeaderValue = z
  .string()
  .max(1024)
  .regex(/^[\x20-\x7E]*$/, "a header value is printable ASCII");

/** Headers no description may set or let a caller set: credentials and routing belong to Latchkey. */
export const forbiddenHeaders = [
  "authorization",
  "cookie",
  "host",
  "proxy-authorization",
  "content-length",
  "transfer-encoding",
  "connection",
  "set-cookie",
] as const;

function withoutForbiddenHeaders(
  names: readonly string[],
  ctx: z.RefinementCtx,
  pathOf: (index: number) => PropertyKey[],
) {
  names.forEach((name, index) => {
    if ((forbiddenHeaders as readonly string[]).includes(name.toLowerCase())) {
      ctx.addIssue({ code: "custom", path: pathOf(index), message: `"${name}" is set by Latchkey only` });
    }
  });
}

const HeaderMap = z
  .record(HeaderName, HeaderValue)
  .superRefine((headers, ctx) =>
    withoutForbiddenHeaders(Object.keys(headers), ctx, (index) => [Object.keys(headers)[index] ?? ""]),
  );

const MediaType = z
  .string()
  .regex(/^[a-z0-9!#$&^_.+-]+\/(?:\*|[a-z0-9!#$&^_.+-]+)$/, "a media type such as application/pdf or image/*");

/** Parameters Latchkey sets itself in token requests. */
export const reservedTokenParams = [
  "grant_type",
  "code",
  "redirect_uri",
  "client_id",
  "client_secret",
  "refresh_token",
  "code_verifier",
  "client_assertion",
  "client_assertion_type",
] as const;

const ParamMap = (reserved: readonly string[], max: number) =>
  z
    .record(
      z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, "a parameter name is a letter then letters, digits, _, . or -"),
      z.string().max(1024),
    )
    .superRefine((params, ctx) => {
      const names = Object.keys(params);
      if (names.length > max) ctx.addIssue({ code: "custom", message: `at most ${max} parameters` });
      for (const name of names) {
        if (reserved.includes(name)) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: `"${name}" is set by Latchkey and cannot be configured`,
          });
        }
      }
    });

/** The name of a template value, an API host or a lookup: snake_case. */
export const ValueName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, "a name is lowercase letters, digits and _");

const AnchoredPattern = z
  .string()
  .min(3)
  .max(500)
  .refine(
    (source) => source.startsWith("^") && source.endsWith("$") && !source.endsWith("\\$"),
    "a pattern is anchored: ^…$",
  )
  .refine((source) => {
    try {
      new RegExp(source, "u");
      return true;
    } catch {
      return false;
    }
  }, "a pattern is a valid regular expression");

/** Where a value the provider gives is read: the callback query, the token answer or a named lookup. */
export const ValueSource = z.strictObject({
  from: z.enum(["callback", "token_response", "lookup"]),
  /** Dot path in the token answer or lookup answer (`0.id` for the first element); a parameter name for the callback. */
  path: FieldPath,
  /** The lookup's name, when `from` is `lookup`. */
  lookup: ValueName.optional(),
});
export type ValueSource = z.output<typeof ValueSource>;

const valueCommon = {
  name: ValueName,
  label: z.string().trim().min(1).max(100),
  /** An example value, shown to whoever supplies it; it must match the value's own pattern. */
  example: z.string().min(1).max(200),
  /** `connector`: the admin sets it once; `user`: each app user gives it at initiate; `provider`: read at connect time. */
  supplied_by: z.enum(["connector", "user", "provider"]),
  /** Where a provider-supplied value is read; required exactly when supplied_by is "provider". */
  source: ValueSource.optional(),
  /** Used when nobody supplies the value (Microsoft's tenant `common`). */
  default: z.string().min(1).max(200).optional(),
};

/**
 * A per-connection value used as `{name}` in the description's URLs and kept in the connection's
 * connection_config. `label`: one DNS label or path segment matching `pattern`; `choice`: one of a
 * closed list (may span host labels, e.g. `com.au`); `base_url`: an https origin plus optional path,
 * only at the start of a URL, never from an app user.
 */
export const ConnectionValue = z.discriminatedUnion("format", [
  z.strictObject({ ...valueCommon, format: z.literal("label"), pattern: AnchoredPattern }),
  z.strictObject({
    ...valueCommon,
    format: z.literal("choice"),
    choices: z
      .array(
        z.string().regex(/^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/, "a choice is lowercase letters, digits, . and -"),
      )
      .min(1)
      .max(50),
  }),
  z.strictObject({ ...valueCommon, format: z.literal("base_url"), pattern: AnchoredPattern.optional() }),
]);
export type ConnectionValue = z.output<typeof ConnectionValue>;

/** A value kept in connection_config that no URL uses (a Slack team id, an Atlassian site URL). */
export const KeptValue = z.strictObject({ name: FieldName, ...ValueSource.shape });

/** A request made once after the token exchange to learn values the token answer lacks. */
export const Lookup = z.strictObject({
  name: ValueName,
  method: z.enum(["GET", "POST"]).default("GET"),
  url: TemplateUrl,
  /** How the fresh access token is sent: `Authorization: <scheme> <token>`. */
  auth_scheme: z.enum(["Bearer", "OAuth", "Zoho-oauthtoken"]).default("Bearer"),
  headers: HeaderMap.default({}),
});

/** A host the API proxy may call with a connection's token. */
export const ApiHost = z.strictObject({
  name: ValueName,
  base_url: TemplateUrl,
  /** Caller headers forwarded to the provider (case-insensitive); every other caller header is dropped. */
  allowed_request_headers: z.array(HeaderName).max(50).default([]),
  /** Fixed headers sent on every call unless the caller sets an allowed header of that name (Notion-Version). */
  default_request_headers: HeaderMap.default({}),
  /** Header carrying the connector's client id on every call, where the API demands it (Twitch `Client-Id`). */
  client_id_header: HeaderName.optional(),
  /** Upstream response headers handed back to the caller (rate-limit counters). */
  exposed_response_headers: z.array(HeaderName).max(50).default([]),
  /** How the connection's access token is sent: `Authorization: <scheme> <token>`. */
  auth_scheme: z.enum(["Bearer", "OAuth", "Zoho-oauthtoken"]).default("Bearer"),
  /** Media types answered as `data_base64` besides every type that is neither JSON nor text. */
  binary_media_types: z.array(MediaType).max(50).default([]),
});

export const TokenRequest = z.strictObject({
  /** Body encoding of token and refresh requests. */
  encoding: z.enum(["form", "json"]).default("form"),
  accept: z.string().max(200).default("application/json"),
  extra_params: ParamMap(reservedTokenParams, 20).default({}),
  extra_headers: HeaderMap.default({}),
});

/** `expires_in`: seconds from now; `expires_at`: Unix seconds; `expires_at_iso`: an RFC 3339 date; `none`: no lifetime given. */
export const ExpiryKind = z.enum(["expires_in", "expires_at", "expires_at_iso", "none"]);

export const TokenResponse = z.strictObject({
  /** `json`; `form` for `a=1&b=2` bodies; `auto` reads either (by Content-Type). */
  format: z.enum(["json", "form", "auto"]).default("json"),
  access_token_path: FieldPath.default("access_token"),
  refresh_token_path: FieldPath.default("refresh_token"),
  token_type_path: FieldPath.default("token_type"),
  scope_path: FieldPath.default("scope"),
  /** How granted scopes are joined in the answer when it differs from the request's separator. */
  scope_separator: z.string().min(1).max(4).optional(),
  expires: z
    .strictObject({ kind: ExpiryKind, path: FieldPath.optional() })
    .default({ kind: "expires_in", path: "expires_in" }),
  /** A boolean field that is false on failure whatever the HTTP status (Slack `ok`). */
  ok_path: FieldPath.optional(),
  error_path: FieldPath.default("error"),
  error_description_path: FieldPath.default("error_description"),
  /** The provider answers token errors with HTTP 200, so a 200 with an error field is an error. */
  errors_with_status_200: z.boolean().default(false),
});

export const ErrorMatcher = z.strictObject({
  /** HTTP status the answer must have, when the dialect needs it. */
  status: z.number().int().min(200).max(599).optional(),
  /** Dot path of the error field in the answer. */
  path: FieldPath,
  /** Any of these values at that path means the grant is dead. */
  values: z.array(z.string().min(1).max(200)).min(1).max(20),
});

export const Refresh = z.strictObject({
  supported: z.boolean().default(true),
  /** Where refresh requests go when not to token_url. */
  url: TemplateUrl.optional(),
  /** A refresh answer may carry a new refresh token that replaces the old one (store it first). */
  rotates: z.boolean().default(false),
  /** Answers meaning the refresh token is dead → `needs_reauth`. Anything else is a transient failure. */
  dead_grant_errors: z
    .array(ErrorMatcher)
    .max(20)
    .default([{ path: "error", values: ["invalid_grant"] }]),
});

export const Revocation = z.strictObject({
  method: z.enum(["POST", "DELETE", "GET"]).default("POST"),
  encoding: z.enum(["form", "json", "none"]).default("form"),
  /** Which token is revoked. */
  token: z.enum(["access_token", "refresh_token"]).default("refresh_token"),
  /** Parameter carrying the token in the body or query. */
  token_param: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/)
    .default("token"),
  /** `client`: the token endpoint's client authentication; `bearer`: the access token as a Bearer token; `none`. */
  auth: z.enum(["client", "client_secret_basic", "bearer", "none"]).default("client"),
  extra_params: ParamMap(["token", "client_id", "client_secret"], 10).default({}),
});

export const AccountSource = z.strictObject({
  /** `userinfo` (userinfo_url), `token_response`, `id_token` (its claims, unverified beyond the TLS token answer), or a lookup. */
  from: z.enum(["userinfo", "token_response", "id_token", "lookup"]).default("userinfo"),
  lookup: ValueName.optional(),
  userinfo_method: z.enum(["GET", "POST"]).default("GET"),
  userinfo_headers: HeaderMap.default({}),
});

/** Logic data cannot express, by name; each hook is implemented once in the server. */
export const hookNames = ["shopify-callback-hmac", "smartsheet-token-hash"] as const;
export type HookName = (typeof hookNames)[number];

/** What each hook does and why no field can say it, as docs/providers.md lists them. */
export const hookPurposes: Readonly<Record<HookName, string>> = {
  "shopify-callback-hmac":
    "Shopify signs its redirect with `hmac`, an HMAC-SHA256 of the other query parameters under the client secret; the callback is refused unless it verifies (a computation over the request, not a value to read).",
  "smartsheet-token-hash":
    "Smartsheet's token requests carry `client_id` and `hash`, the hex SHA-256 of `<secret>|<code>` (or `|<refresh_token>` on refresh), instead of the client secret (a value computed per request).",
};

export const Base44IntegrationType = z.strictObject({
  name: z.string().regex(/^[a-z0-9_]{1,63}$/, "a Base44 integration type is lowercase letters, digits and _"),
  scope_preset: ValueName.optional(),
});

const commonFields = {
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "an id is lowercase letters, digits, _ or -"),
  display_name: z.string().trim().min(1).max(100),
  /** Generic providers take their endpoints (or issuer) from each connector's options. */
  generic: z.boolean().default(false),
  categories: z.array(z.enum(categories)).max(5).default([]),
  /** The provider's own OAuth documentation. */
  docs_url: DocsUrl.optional(),
  scope_separator: z.string().min(1).max(4).default(" "),
  /** Authorization-request parameter the scopes go in (Slack user tokens: `user_scope`). */
  scope_param: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/)
    .default("scope"),
  token_endpoint_auth_method: z.enum(clientAuthMethods).default("client_secret_basic"),
  /** Send PKCE S256. */
  pkce: z.boolean().default(true),
  /** The provider refuses authorization requests without PKCE; a connector cannot turn it off. */
  pkce_required: z.boolean().default(false),
  authorize_params: AuthorizeParams.default({}),
  default_scopes: z.array(ScopeToken).max(100).default([]),
  /** Named scope sets a connector may pick (`scope_preset`) instead of listing scopes. */
  scope_presets: z.record(ValueName, z.array(ScopeToken).min(1).max(100)).default({}),
  token_request: TokenRequest.prefault({}),
  token_response: TokenResponse.prefault({}),
  /** Where the provider account's id, email and name are found (see account_source). */
  account_fields: AccountFields.prefault({}),
  account_source: AccountSource.prefault({}),
  /** Token-response fields kept as the connection's `connection_config` (e.g. instance_url). */
  connection_config_fields: z.array(FieldName).max(20).default([]),
  /** Per-connection values usable as `{name}` in URLs; each is kept in connection_config. */
  connection_values: z.array(ConnectionValue).max(10).default([]),
  /** Further values kept in connection_config. */
  connection_config: z.array(KeptValue).max(20).default([]),
  lookups: z.array(Lookup).max(5).default([]),
  api_hosts: z.array(ApiHost).max(20).default([]),
  refresh: Refresh.prefault({}),
  revocation: Revocation.optional(),
  hooks: z.array(z.enum(hookNames)).max(5).default([]),
  /** Base44 integration-type names this provider answers to, each with the scope preset it stands for. */
  base44_integration_types: z.array(Base44IntegrationType).max(30).default([]),
  /** The authorization server sends `iss` in authorization responses (RFC 9207). */
  iss_parameter_supported: z.boolean().default(false),
};

const OAuth2Description = z.strictObject({
  kind: z.literal("oauth2"),
  ...commonFields,
  authorization_url: TemplateUrl.optional(),
  token_url: TemplateUrl.optional(),
  revocation_url: TemplateUrl.optional(),
  userinfo_url: TemplateUrl.optional(),
});

const OidcDescription = z.strictObject({
  kind: z.literal("oidc"),
  ...commonFields,
  issuer: TemplateUrl.optional(),
});

type AnyDescription = z.output<typeof OAuth2Description> | z.output<typeof OidcDescription>;

/** Every URL of a description with its path in the description, for template checks. */
export function describedUrls(
  description: AnyDescription,
): Array<{ path: PropertyKey[]; url: string; before: boolean }> {
  const urls: Array<{ path: PropertyKey[]; url: string; before: boolean }> = [];
  const fields = description as Record<string, unknown>;
  for (const field of ["authorization_url", "token_url", "revocation_url", "userinfo_url", "issuer"]) {
    const url = fields[field];
    // Values the provider supplies are unknown until the token answer: the connect URLs cannot use them.
    if (typeof url === "string")
      urls.push({
        path: [field],
        url,
        before: field === "authorization_url" || field === "token_url" || field === "issuer",
      });
  }
  for (const [index, host] of description.api_hosts.entries()) {
    urls.push({ path: ["api_hosts", index, "base_url"], url: host.base_url, before: false });
  }
  for (const [index, lookup] of description.lookups.entries()) {
    urls.push({ path: ["lookups", index, "url"], url: lookup.url, before: false });
  }
  if (description.refresh.url !== undefined)
    urls.push({ path: ["refresh", "url"], url: description.refresh.url, before: false });
  return urls;
}

function checkCrossReferences(description: AnyDescription, ctx: z.RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const values = description.connection_values;
  const lookupNames = description.lookups.map((lookup) => lookup.name);
  const duplicate = (names: string[]) => names.find((name, index) => names.indexOf(name) !== index);

  const valueDuplicate = duplicate([
    ...values.map((value) => value.name),
    ...description.connection_config.map((kept) => kept.name),
  ]);
  if (valueDuplicate) issue(["connection_values"], `"${valueDuplicate}" is kept twice in connection_config`);
  const hostDuplicate = duplicate(description.api_hosts.map((host) => host.name));
  if (hostDuplicate) issue(["api_hosts"], `two API hosts are named "${hostDuplicate}"`);
  const lookupDuplicate = duplicate(lookupNames);
  if (lookupDuplicate) issue(["lookups"], `two lookups are named "${lookupDuplicate}"`);

  const checkSource = (source: ValueSource | undefined, path: PropertyKey[]) => {
    if (source?.from === "lookup" && (source.lookup === undefined || !lookupNames.includes(source.lookup))) {
      issue(path, "names a lookup this description does not declare");
    }
    if (source !== undefined && source.from !== "lookup" && source.lookup !== undefined) {
      issue(path, "only a lookup source names a lookup");
    }
  };
  values.forEach((value, index) => {
    const path = ["connection_values", index];
    if ((value.supplied_by === "provider") !== (value.source !== undefined)) {
      issue([...path, "source"], "a value has a source exactly when the provider supplies it");
    }
    checkSource(value.source, [...path, "source"]);
    if (value.format === "base_url" && value.supplied_by === "user") {
      issue([...path, "supplied_by"], "a base URL names a host: an app user can never supply it");
    }
    const pattern = valuePattern(value);
    for (const sample of [value.example, ...(value.default === undefined ? [] : [value.default])]) {
      if (!new RegExp(pattern, "u").test(sample)) issue(path, `"${sample}" does not match the value's own pattern`);
    }
  });
  for (const [index, kept] of description.connection_config.entries()) checkSource(kept, ["connection_config", index]);

  for (const { path, url, before } of describedUrls(description)) {
    // Syntax problems are TemplateUrl's to report; here only what needs the declared values.
    const uses = safeTemplateUses(url);
    if (uses.length === 0) continue;
    for (const problem of templateUrlProblems(url, values)) issue(path, problem);
    if (!before) continue;
    for (const use of uses) {
      if (values.find((value) => value.name === use.name)?.supplied_by === "provider") {
        issue(path, `{${use.name}} is known only after the token answer; this URL is used before it`);
      }
    }
  }

  const presets = Object.keys(description.scope_presets);
  description.base44_integration_types.forEach((type, index) => {
    if (type.scope_preset !== undefined && !presets.includes(type.scope_preset)) {
      issue(["base44_integration_types", index, "scope_preset"], `no scope preset "${type.scope_preset}"`);
    }
  });
  if (description.account_source.from === "lookup") {
    const name = description.account_source.lookup;
    if (name === undefined || !lookupNames.includes(name))
      issue(["account_source", "lookup"], "names no declared lookup");
  }
  if (description.pkce_required && !description.pkce)
    issue(["pkce_required"], "a provider that requires PKCE needs pkce: true");
  if (description.scope_param !== "scope" && Object.hasOwn(description.authorize_params, description.scope_param)) {
    issue(
      ["authorize_params", description.scope_param],
      `"${description.scope_param}" carries the scopes and cannot be configured`,
    );
  }
  const expires = description.token_response.expires;
  if (expires.kind !== "none" && expires.path === undefined)
    issue(["token_response", "expires", "path"], "says where the expiry is");
}

function safeTemplateUses(url: string): TemplateUse[] {
  try {
    return templateUses(url);
  } catch {
    return [];
  }
}

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
    checkCrossReferences(description, ctx);
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
