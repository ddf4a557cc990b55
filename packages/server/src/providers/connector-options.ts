import {
  AuthorizeParams,
  isValidConnectionValue,
  templateUrlProblems,
  clientAuthMethods,
  FieldName,
  FieldPath,
  ScopeToken,
  type ClientAuthMethod,
  type ProviderDescription,
} from "@latchkey/catalog";
import { z } from "zod";
import { providerUrlProblem, providerUrlSchema, type ProviderUrlPolicy } from "./provider-urls.ts";

/**
 * A connector's non-secret provider options, as stored in `connectors.options` and returned by
 * the API. Which of them a connector may set depends on its provider (see connectorOptionsSchema);
 * left-out options take the provider description's defaults when the provider is resolved.
 */
export interface ConnectorOptions {
  authorization_url?: string | undefined;
  token_url?: string | undefined;
  revocation_url?: string | undefined;
  userinfo_url?: string | undefined;
  issuer?: string | undefined;
  scope_separator?: string | undefined;
  token_endpoint_auth_method?: ClientAuthMethod | undefined;
  pkce?: boolean | undefined;
  authorize_params?: Record<string, string> | undefined;
  account_fields?: { id?: string | undefined; email?: string | undefined; name?: string | undefined } | undefined;
  connection_config_fields?: string[] | undefined;
  /** One of the provider's scope presets, requested when the connector names no scopes. */
  scope_preset?: string | undefined;
  /** The Base44 name clients see as `integration_type` (e.g. `googlecalendar`). */
  integration_type?: string | undefined;
  /** Values the connector fixes (an Okta domain), checked against the catalog's patterns. */
  connection_values?: Record<string, string> | undefined;
  /** The catalog's URLs, overridden for an enterprise or self-hosted install or a local emulator. */
  endpoints?: EndpointOverrides | undefined;
}

export const endpointNames = [
  "authorization_url",
  "token_url",
  "revocation_url",
  "userinfo_url",
  "api_base_url",
] as const;
export type EndpointOverrides = Partial<Record<(typeof endpointNames)[number], string>>;

export const connectorStatuses = ["enabled", "disabled"] as const;

/** RFC 6749 VSCHAR: printable ASCII, which every client_id and client_secret is. */
const vschar = /^[\x20-\x7E]+$/;

export const ClientIdSchema = z.string().trim().min(1).max(512).regex(vschar, "client_id is printable ASCII");
export const ClientSecretSchema = z.string().min(1).max(4096).regex(vschar, "client_secret is printable ASCII");
export const ConnectorNameSchema = z.string().trim().min(1).max(200);
export const ConnectorStatusSchema = z.enum(connectorStatuses);
export const ScopesSchema = z
  .array(ScopeToken)
  .max(100)
  .transform((scopes) => [...new Set(scopes)]);

const AuthMethodOption = z.enum(clientAuthMethods);
const AccountFieldsOption = z.strictObject({
  id: FieldPath.optional(),
  email: FieldPath.optional(),
  name: FieldPath.optional(),
});

function genericOAuth2Fields(policy: ProviderUrlPolicy) {
  const url = providerUrlSchema(policy);
  return {
    authorization_url: url,
    token_url: url,
    revocation_url: url.optional(),
    userinfo_url: url.optional(),
    issuer: providerUrlSchema(policy, "issuer").optional(),
    scope_separator: z.string().min(1).max(4).optional(),
    token_endpoint_auth_method: AuthMethodOption.optional(),
    pkce: z.boolean().optional(),
    authorize_params: AuthorizeParams.optional(),
    account_fields: AccountFieldsOption.optional(),
    connection_config_fields: z.array(FieldName).max(20).optional(),
  };
}

/** Generic providers take their URLs top-level; `endpoints` only adds the API base URL. */
function genericExtras(description: ProviderDescription, policy: ProviderUrlPolicy) {
  return { ...commonFields(description), endpoints: endpointsField(description, policy, ["api_base_url"]) };
}

function genericOidcFields(policy: ProviderUrlPolicy) {
  return {
    issuer: providerUrlSchema(policy, "issuer"),
    token_endpoint_auth_method: AuthMethodOption.optional(),
    pkce: z.boolean().optional(),
    authorize_params: AuthorizeParams.optional(),
  };
}

const IntegrationTypeName = z
  .string()
  .regex(/^[a-z0-9_]{1,63}$/, "an integration type is lowercase letters, digits and _ (a Base44 name)");

/**
 * An endpoint override: a literal URL (https, or http to a loopback host: a local emulator) or a
 * template over the provider's declared values, which can never leave the host it names.
 */
function endpointUrlSchema(description: ProviderDescription, policy: ProviderUrlPolicy) {
  return z
    .string()
    .max(2048)
    .superRefine((value, ctx) => {
      const problems =
        value.includes("{") || value.includes("}")
          ? templateUrlProblems(value, description.connection_values)
          : [providerUrlProblem(value, policy, "endpoint")].filter((problem) => problem !== null);
      for (const problem of problems) ctx.addIssue({ code: "custom", message: `URL ${problem}` });
    });
}

/** The option every connector may set: the Base44 name clients see. */
function commonFields(description: ProviderDescription) {
  const types = description.base44_integration_types.map((type) => type.name);
  return {
    integration_type: (description.generic
      ? IntegrationTypeName
      : IntegrationTypeName.refine((name) => name === description.id || types.includes(name), {
          message: `integration_type must be ${[description.id, ...types].join(", ")}`,
        })
    ).optional(),
  };
}

function endpointsField(description: ProviderDescription, policy: ProviderUrlPolicy, names: readonly string[]) {
  const url = endpointUrlSchema(description, policy);
  return z
    .strictObject(
      Object.fromEntries(names.map((name) => [name, url.optional()])) as Record<string, z.ZodOptional<typeof url>>,
    )
    .optional() as z.ZodType<EndpointOverrides | undefined>;
}

/** Values the connector supplies: declared by the provider as `supplied_by: "connector"`, matching their patterns. */
function connectionValuesField(description: ProviderDescription) {
  const declared = new Map(
    description.connection_values
      .filter((value) => value.supplied_by === "connector")
      .map((value) => [value.name, value]),
  );
  return z
    .record(z.string().max(64), z.string().max(255))
    .superRefine((values, ctx) => {
      for (const [name, value] of Object.entries(values)) {
        const declaration = declared.get(name);
        if (!declaration) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: `${description.id} has no connector-supplied value "${name}"`,
          });
        } else if (!isValidConnectionValue(declaration, value)) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: `must match ${declaration.format === "choice" ? `one of ${declaration.choices.join(", ")}` : "the value's pattern"}, e.g. ${declaration.example}`,
          });
        }
      }
    })
    .optional();
}

/** A named provider's endpoints come from the catalog; a connector may override them and fix its values. */
function namedProviderFields(description: ProviderDescription, policy: ProviderUrlPolicy) {
  const presets = Object.keys(description.scope_presets);
  return {
    authorize_params: AuthorizeParams.optional(),
    ...commonFields(description),
    scope_preset: z
      .string()
      .refine((name) => presets.includes(name), {
        message:
          presets.length > 0
            ? `scope_preset must be one of: ${presets.join(", ")}`
            : `${description.id} has no scope presets`,
      })
      .optional(),
    connection_values: connectionValuesField(description),
    endpoints: endpointsField(description, policy, description.kind === "oauth2" ? endpointNames : ["api_base_url"]),
  };
}

/** The options a connector of this provider may have. Unknown options are refused. */
export function connectorOptionsSchema(
  description: ProviderDescription,
  policy: ProviderUrlPolicy,
): z.ZodType<ConnectorOptions> {
  return z.strictObject(optionFields(description, policy)) as unknown as z.ZodType<ConnectorOptions>;
}

function optionFields(description: ProviderDescription, policy: ProviderUrlPolicy) {
  if (!description.generic) return namedProviderFields(description, policy);
  if (description.kind === "oauth2") return { ...genericOAuth2Fields(policy), ...genericExtras(description, policy) };
  return { ...genericOidcFields(policy), ...genericExtras(description, policy) };
}

const createFields = {
  client_id: ClientIdSchema,
  client_secret: ClientSecretSchema.optional(),
  scopes: ScopesSchema.optional(),
  name: ConnectorNameSchema.optional(),
  status: ConnectorStatusSchema.optional(),
};

export type CreateConnectorBody = {
  provider: string;
  client_id: string;
  client_secret?: string | undefined;
  scopes?: string[] | undefined;
  name?: string | undefined;
  status?: (typeof connectorStatuses)[number] | undefined;
} & ConnectorOptions;

/** `POST …/connectors` for one provider: the common fields plus that provider's options, top-level. */
export function createConnectorBodySchema(
  description: ProviderDescription,
  policy: ProviderUrlPolicy,
): z.ZodType<CreateConnectorBody> {
  const common = { ...createFields, provider: z.literal(description.id) };
  const schema = z.strictObject({ ...common, ...optionFields(description, policy) }).superRefine((body, ctx) => {
    const fields = body as { scopes?: string[] | undefined; scope_preset?: string | undefined };
    if (fields.scopes !== undefined && fields.scopes.length > 0 && fields.scope_preset !== undefined) {
      ctx.addIssue({ code: "custom", path: ["scope_preset"], message: "send either scopes or scope_preset, not both" });
    }
  });
  return withClientSecretRule(schema as unknown as z.ZodType<CreateConnectorBody>, description);
}

interface SecretFacts {
  client_secret?: string | undefined;
  token_endpoint_auth_method?: ClientAuthMethod | undefined;
}

function withClientSecretRule<T extends SecretFacts>(
  schema: z.ZodType<T>,
  description: ProviderDescription,
): z.ZodType<T> {
  return schema.superRefine((body, ctx) => {
    const problem = clientSecretProblem(effectiveAuthMethod(description, body), body.client_secret !== undefined);
    if (problem) ctx.addIssue({ code: "custom", path: ["client_secret"], message: problem });
  });
}

export function effectiveAuthMethod(description: ProviderDescription, options: ConnectorOptions): ClientAuthMethod {
  return options.token_endpoint_auth_method ?? description.token_endpoint_auth_method;
}

/** A confidential client needs its secret; a public one ("none") must not keep one around unused. */
export function clientSecretProblem(method: ClientAuthMethod, hasSecret: boolean): string | null {
  if (method !== "none" && !hasSecret)
    return `client_secret is required when token_endpoint_auth_method is "${method}"`;
  if (method === "none" && hasSecret) return 'a client with token_endpoint_auth_method "none" has no client_secret';
  return null;
}

/** Splits a parsed create body into the connector's own fields and its provider options. */
export function splitCreateBody(body: CreateConnectorBody): {
  fields: Omit<CreateConnectorBody, keyof ConnectorOptions>;
  options: ConnectorOptions;
} {
  const { provider, client_id, client_secret, scopes, name, status, ...options } = body;
  return { fields: { provider, client_id, client_secret, scopes, name, status }, options };
}

/** PATCH semantics for options: given keys replace, `null` removes an option (back to the provider default). */
export function mergeOptions(
  current: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

/** Drops undefined entries so the stored JSON holds exactly the options that were given. */
export function compactOptions(options: ConnectorOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
