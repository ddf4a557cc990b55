import {
  AuthorizeParams,
  clientAuthMethods,
  FieldName,
  FieldPath,
  ScopeToken,
  type ClientAuthMethod,
  type ProviderDescription,
} from "@latchkey/catalog";
import { z } from "zod";
import { providerUrlSchema, type ProviderUrlPolicy } from "./provider-urls.ts";

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
  /** Overrides of the catalog's URLs (self-hosted installs, local emulators); so far the API base URL. */
  endpoints?: { api_base_url?: string | undefined } | undefined;
}

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

/** `endpoints.api_base_url`: where the API proxy sends calls instead of the provider's first API host. */
function endpointsField(policy: ProviderUrlPolicy) {
  return z.strictObject({ api_base_url: providerUrlSchema(policy).optional() }).optional();
}

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
    endpoints: endpointsField(policy),
  };
}

function genericOidcFields(policy: ProviderUrlPolicy) {
  return {
    issuer: providerUrlSchema(policy, "issuer"),
    token_endpoint_auth_method: AuthMethodOption.optional(),
    pkce: z.boolean().optional(),
    authorize_params: AuthorizeParams.optional(),
    endpoints: endpointsField(policy),
  };
}

/** A named provider's endpoints come from the catalog; a connector adds authorization parameters and may move its API. */
function namedProviderFields(policy: ProviderUrlPolicy) {
  return {
    authorize_params: AuthorizeParams.optional(),
    endpoints: endpointsField(policy),
  };
}

/** The options a connector of this provider may have. Unknown options are refused. */
export function connectorOptionsSchema(
  description: ProviderDescription,
  policy: ProviderUrlPolicy,
): z.ZodType<ConnectorOptions> {
  if (!description.generic) return z.strictObject(namedProviderFields(policy));
  if (description.kind === "oauth2") return z.strictObject(genericOAuth2Fields(policy));
  return z.strictObject(genericOidcFields(policy));
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
  if (!description.generic)
    return withClientSecretRule(z.strictObject({ ...common, ...namedProviderFields(policy) }), description);
  if (description.kind === "oauth2") {
    return withClientSecretRule(z.strictObject({ ...common, ...genericOAuth2Fields(policy) }), description);
  }
  return withClientSecretRule(z.strictObject({ ...common, ...genericOidcFields(policy) }), description);
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
