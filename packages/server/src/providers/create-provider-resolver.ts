import {
  fillProviderUrl,
  findProvider,
  isValidConnectionValue,
  resolveConnectionValues,
  TemplateError,
  type ProviderDescription,
} from "@latchkey/catalog";
import type { ConnectorRow } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Logger } from "../log/logger.ts";
import { connectorOptionsSchema, type ConnectorOptions } from "./connector-options.ts";
import { createOidcDiscovery, type OidcDiscovery } from "./oidc-discovery.ts";
import type { ApiHost, ConnectionValueInput, KeptValueSource, ProviderResolver, ResolvedProvider } from "./provider.ts";

export interface ProviderResolverOptions {
  /** The catalog lookup (tests pass their own descriptions). */
  findProvider?: (id: string) => ProviderDescription | undefined;
  discovery?: OidcDiscovery;
}

export interface ResolverDeps {
  /** The outbound fetch for provider calls (discovery documents), built once by the app. */
  fetch: typeof fetch;
  clock: Clock;
  logger: Logger;
}

/**
 * Resolves a connector into everything the OAuth flow needs: its catalog description, overlaid
 * with the connector's options, and for OpenID providers the endpoints from discovery.
 */
export function createProviderResolver(deps: ResolverDeps, options: ProviderResolverOptions = {}): ProviderResolver {
  const lookup = options.findProvider ?? findProvider;
  const discovery =
    options.discovery ?? createOidcDiscovery({ fetch: deps.fetch, clock: deps.clock, logger: deps.logger });

  return {
    async resolve(connector, values) {
      const description = lookup(connector.provider);
      if (!description) {
        throw new AppError(
          "PROVIDER_ERROR",
          `Connector ${connector.id} uses provider "${connector.provider}", which this server does not know`,
        );
      }
      const connectorOptions = storedOptions(connector, description);
      const filled = templateValues(connector, description, connectorOptions, values ?? {});
      const settings = providerSettings(connector, description, connectorOptions, filled);
      if (description.kind === "oauth2")
        return { ...settings, ...oauth2Endpoints(connector, description, connectorOptions, filled.all) };
      const issuerTemplate = description.generic ? connectorOptions.issuer : description.issuer;
      if (issuerTemplate === undefined) throw new AppError("PROVIDER_ERROR", `Connector ${connector.id} has no issuer`);
      const issuer = description.generic ? issuerTemplate : fillRequired(description, issuerTemplate, filled.all);
      const discovered = await discovery.discover(issuer);
      const supportsS256 = discovered.codeChallengeMethods === null || discovered.codeChallengeMethods.includes("S256");
      return {
        ...settings,
        issuer: discovered.issuer,
        authorizationEndpoint: discovered.authorizationEndpoint,
        tokenEndpoint: discovered.tokenEndpoint,
        revocationEndpoint: discovered.revocationEndpoint,
        userinfoEndpoint: discovered.userinfoEndpoint,
        authorizationResponseIssParameterSupported: discovered.issParameterSupported,
        pkce: settings.pkceRequired || (settings.pkce && supportsS256),
        refresh: { ...settings.refresh, endpoint: settings.refresh.endpoint || discovered.tokenEndpoint },
        revocation:
          settings.revocation ??
          (discovered.revocationEndpoint === null ? null : defaultRevocation(discovered.revocationEndpoint)),
      };
    },
  };
}

/** Options were validated when saved; re-checked so a row written by hand or an older version cannot slip through. */
function storedOptions(connector: ConnectorRow, description: ProviderDescription): ConnectorOptions {
  const parsed = connectorOptionsSchema(description, { denyPrivateNetwork: false }).safeParse(connector.options);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "options"}: ${issue.message}`);
  throw new AppError("PROVIDER_ERROR", `Connector ${connector.id} has invalid options: ${problems.join("; ")}`);
}

type ProviderSettings = Omit<
  ResolvedProvider,
  | "issuer"
  | "authorizationEndpoint"
  | "tokenEndpoint"
  | "revocationEndpoint"
  | "userinfoEndpoint"
  | "authorizationResponseIssParameterSupported"
>;

interface FilledValues {
  /** What URLs are filled with: connector, user and provider values, defaults and the client id. */
  all: Record<string, string>;
  /** The connector's and the user's values (with defaults): kept in connection_config. */
  supplied: Record<string, string>;
}

/**
 * The values templates are filled with. The connector's come from its options, the app user's and
 * the provider's from `values` (initiate body, or the connection's connection_config), each only
 * from whoever the description says supplies it and matching its pattern: a missing or malformed
 * value is INVALID_REQUEST, never a URL elsewhere.
 */
function templateValues(
  connector: ConnectorRow,
  description: ProviderDescription,
  options: ConnectorOptions,
  input: ConnectionValueInput,
): FilledValues {
  const kept = input.connection ?? {};
  const byWhom = (who: "user" | "provider") =>
    Object.fromEntries(
      description.connection_values
        .filter((value) => value.supplied_by === who && Object.hasOwn(kept, value.name))
        .map((value) => [value.name, kept[value.name] ?? ""]),
    );
  const resolved = resolveConnectionValues(description, {
    connector: options.connection_values,
    user: { ...byWhom("user"), ...input.user },
  });
  if (!resolved.success) {
    throw new AppError("INVALID_REQUEST", `Invalid connection_values: ${resolved.problems.join("; ")}`, {
      issues: resolved.problems.map((problem) => {
        const [path, ...message] = problem.split(": ");
        return { path: path ?? "connection_values", message: message.join(": ") };
      }),
    });
  }
  const fromProvider: Record<string, string> = {};
  for (const [name, value] of Object.entries(byWhom("provider"))) {
    const declaration = description.connection_values.find((declared) => declared.name === name);
    if (declaration && isValidConnectionValue(declaration, value)) fromProvider[name] = value;
  }
  return {
    all: { ...resolved.values, ...fromProvider, client_id: connector.client_id },
    supplied: resolved.values,
  };
}

/** A URL the flow cannot do without: a value that cannot fill it is the caller's problem. */
function fillRequired(description: ProviderDescription, url: string, values: Record<string, string>): string {
  if (!url.includes("{")) return url;
  try {
    return fillProviderUrl(description, url, values);
  } catch (error) {
    if (error instanceof TemplateError)
      throw new AppError("INVALID_REQUEST", `Invalid connection_values: ${error.message}`);
    throw error;
  }
}

/** A URL used later (userinfo, revocation, API hosts): null while a value it needs is not known. */
function fillOptional(description: ProviderDescription, url: string | undefined, values: Record<string, string>) {
  if (url === undefined) return null;
  if (!url.includes("{")) return url;
  try {
    return fillProviderUrl(description, url, values);
  } catch (error) {
    if (error instanceof TemplateError) return null;
    throw error;
  }
}

function defaultRevocation(endpoint: string): ResolvedProvider["revocation"] {
  return {
    endpoint,
    method: "POST",
    encoding: "form",
    token: "refresh_token",
    tokenParam: "token",
    auth: "client",
    extraParams: {},
  };
}

/** Scopes: the connector's own, else its preset (or its integration type's), else the provider's defaults. */
function chooseScopes(connector: ConnectorRow, description: ProviderDescription, options: ConnectorOptions): string[] {
  if (connector.scopes.length > 0) return connector.scopes;
  const preset =
    options.scope_preset ??
    description.base44_integration_types.find((type) => type.name === options.integration_type)?.scope_preset;
  const scopes = preset === undefined ? undefined : description.scope_presets[preset];
  return scopes ? [...scopes] : description.default_scopes;
}

/** The description's behaviour, with the connector's own choices on top. */
function providerSettings(
  connector: ConnectorRow,
  description: ProviderDescription,
  options: ConnectorOptions,
  filled: FilledValues,
): ProviderSettings {
  const all = filled.all;
  const endpoints = options.endpoints ?? {};
  const oauth2 = description.kind === "oauth2" ? description : null;
  const tokenUrl = endpoints.token_url ?? options.token_url ?? oauth2?.token_url;
  const refreshUrl =
    description.refresh.url === undefined ? null : fillOptional(description, description.refresh.url, all);
  const revocationUrl = fillOptional(
    description,
    endpoints.revocation_url ?? options.revocation_url ?? oauth2?.revocation_url,
    all,
  );
  const revocation = description.revocation;
  const keptValues: KeptValueSource[] = [
    ...description.connection_values.flatMap((value) =>
      value.supplied_by === "provider" && value.source
        ? [{ name: value.name, ...value.source, check: (text: string) => isValidConnectionValue(value, text) }]
        : [],
    ),
    ...description.connection_config.map((kept) => ({ ...kept })),
    ...(options.connection_config_fields ?? description.connection_config_fields).map((field) => ({
      name: field,
      from: "token_response" as const,
      path: field,
      alsoCallback: true,
    })),
  ];
  return {
    id: description.id,
    integrationType: options.integration_type ?? description.id,
    scopeSeparator: options.scope_separator ?? description.scope_separator,
    scopeParam: description.scope_param,
    clientAuthMethod: options.token_endpoint_auth_method ?? description.token_endpoint_auth_method,
    pkce: description.pkce_required || (options.pkce ?? description.pkce),
    pkceRequired: description.pkce_required,
    extraAuthorizeParams: { ...description.authorize_params, ...options.authorize_params },
    scopes: chooseScopes(connector, description, options),
    tokenRequest: {
      encoding: description.token_request.encoding,
      accept: description.token_request.accept,
      extraParams: { ...description.token_request.extra_params },
      extraHeaders: { ...description.token_request.extra_headers },
    },
    tokenResponse: description.token_response,
    account: {
      id: options.account_fields?.id ?? description.account_fields.id,
      email: options.account_fields?.email ?? description.account_fields.email,
      name: options.account_fields?.name ?? description.account_fields.name,
    },
    accountSource: {
      from: description.account_source.from,
      lookup: description.account_source.lookup ?? null,
      userinfoMethod: description.account_source.userinfo_method,
      userinfoHeaders: { ...description.account_source.userinfo_headers },
    },
    connectionValues: filled.supplied,
    keptValues,
    lookups: description.lookups.flatMap((lookup) => {
      const url = fillOptional(description, lookup.url, all);
      return url === null
        ? []
        : [
            {
              name: lookup.name,
              method: lookup.method,
              url,
              authScheme: lookup.auth_scheme,
              headers: { ...lookup.headers },
            },
          ];
    }),
    refresh: {
      supported: description.refresh.supported,
      // "" until known: oidc fills it from discovery.
      endpoint: refreshUrl ?? (tokenUrl === undefined ? "" : (fillOptional(description, tokenUrl, all) ?? "")),
      rotates: description.refresh.rotates,
      deadGrantErrors: description.refresh.dead_grant_errors,
    },
    revocation:
      revocationUrl === null
        ? null
        : revocation === undefined
          ? defaultRevocation(revocationUrl)
          : {
              endpoint: revocationUrl,
              method: revocation.method,
              encoding: revocation.encoding,
              token: revocation.token,
              tokenParam: revocation.token_param,
              auth: revocation.auth,
              extraParams: { ...revocation.extra_params },
            },
    apiHosts: apiHosts(description, endpoints.api_base_url, all),
    hooks: [...description.hooks],
  };
}

/**
 * What a generic provider's API host (named by the connector's admin) lets through: content
 * negotiation and conditional requests in, rate-limit counters and cache validators out.
 */
const genericApiHost = {
  name: "api",
  allowedRequestHeaders: [
    "Accept",
    "Accept-Language",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "Prefer",
    "Range",
  ],
  exposedResponseHeaders: [
    "ETag",
    "Last-Modified",
    "Link",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
  ],
} as const;

/**
 * The provider's API hosts in the catalog's order, base URLs filled (null while a value is not
 * known); the connector's api_base_url replaces the first. A provider declaring none gets a generic
 * `api` host only when its connector names one.
 */
function apiHosts(
  description: ProviderDescription,
  override: string | undefined,
  values: Record<string, string>,
): ApiHost[] {
  const hosts: ApiHost[] = description.api_hosts.map((host, index) => {
    const fromConnector = index === 0 && override !== undefined;
    return {
      name: host.name,
      baseUrl: fillOptional(description, fromConnector ? override : host.base_url, values),
      fromConnector,
      allowedRequestHeaders: [...host.allowed_request_headers],
      exposedResponseHeaders: [...host.exposed_response_headers],
      binaryMediaTypes: [...host.binary_media_types],
      defaultRequestHeaders: { ...host.default_request_headers },
      authScheme: host.auth_scheme,
      clientIdHeader: host.client_id_header ?? null,
    };
  });
  if (hosts.length > 0 || override === undefined) return hosts;
  return [
    {
      name: genericApiHost.name,
      baseUrl: fillOptional(description, override, values),
      fromConnector: true,
      allowedRequestHeaders: [...genericApiHost.allowedRequestHeaders],
      exposedResponseHeaders: [...genericApiHost.exposedResponseHeaders],
      binaryMediaTypes: [],
      defaultRequestHeaders: {},
      authScheme: "Bearer",
      clientIdHeader: null,
    },
  ];
}

function oauth2Endpoints(
  connector: ConnectorRow,
  description: Extract<ProviderDescription, { kind: "oauth2" }>,
  options: ConnectorOptions,
  values: Record<string, string>,
) {
  const endpoints = options.endpoints ?? {};
  const authorizationEndpoint =
    endpoints.authorization_url ?? options.authorization_url ?? description.authorization_url;
  const tokenEndpoint = endpoints.token_url ?? options.token_url ?? description.token_url;
  if (authorizationEndpoint === undefined || tokenEndpoint === undefined) {
    throw new AppError("PROVIDER_ERROR", `Connector ${connector.id} has no authorization or token endpoint`);
  }
  return {
    issuer: options.issuer ?? null,
    authorizationEndpoint: fillRequired(description, authorizationEndpoint, values),
    tokenEndpoint: fillRequired(description, tokenEndpoint, values),
    revocationEndpoint: fillOptional(
      description,
      endpoints.revocation_url ?? options.revocation_url ?? description.revocation_url,
      values,
    ),
    userinfoEndpoint: fillOptional(
      description,
      endpoints.userinfo_url ?? options.userinfo_url ?? description.userinfo_url,
      values,
    ),
    authorizationResponseIssParameterSupported: description.iss_parameter_supported,
  };
}
