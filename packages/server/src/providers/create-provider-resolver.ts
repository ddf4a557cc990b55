import { fillProviderUrl, findProvider, TemplateError, type ProviderDescription } from "@latchkey/catalog";
import type { ConnectorRow } from "../db/schema.ts";
import { AppError } from "../errors/app-error.ts";
import type { Clock } from "../kernel/clock.ts";
import { createOutboundFetch } from "../http/outbound-fetch.ts";
import type { Logger } from "../log/logger.ts";
import { connectorOptionsSchema, type ConnectorOptions } from "./connector-options.ts";
import { createOidcDiscovery, type OidcDiscovery } from "./oidc-discovery.ts";
import type { ApiHostSpec, ProviderResolver, ResolvedProvider } from "./provider.ts";

export interface ProviderResolverOptions {
  /** The catalog lookup (tests pass their own descriptions). */
  findProvider?: (id: string) => ProviderDescription | undefined;
  discovery?: OidcDiscovery;
}

export interface ResolverDeps {
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
  // Bounded here (10 s, 1 MiB): deps.fetch's own outer bound is as loose as the API proxy's limits.
  const discoveryFetch = createOutboundFetch({ fetch: deps.fetch, denyPrivateNetwork: false });
  const discovery =
    options.discovery ?? createOidcDiscovery({ fetch: discoveryFetch, clock: deps.clock, logger: deps.logger });

  return {
    async resolve(connector) {
      const description = lookup(connector.provider);
      if (!description) {
        throw new AppError(
          "PROVIDER_ERROR",
          `Connector ${connector.id} uses provider "${connector.provider}", which this server does not know`,
        );
      }
      const connectorOptions = storedOptions(connector, description);
      const settings = providerSettings(connector, description, connectorOptions);
      if (description.kind === "oauth2")
        return { ...settings, ...oauth2Endpoints(connector, description, connectorOptions) };
      const issuer = description.generic ? connectorOptions.issuer : description.issuer;
      if (issuer === undefined) throw new AppError("PROVIDER_ERROR", `Connector ${connector.id} has no issuer`);
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
        pkce: settings.pkce && supportsS256,
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

/** The description's behaviour, with the connector's own choices on top. */
function providerSettings(
  connector: ConnectorRow,
  description: ProviderDescription,
  options: ConnectorOptions,
): ProviderSettings {
  return {
    id: description.id,
    scopeSeparator: options.scope_separator ?? description.scope_separator,
    clientAuthMethod: options.token_endpoint_auth_method ?? description.token_endpoint_auth_method,
    pkce: options.pkce ?? description.pkce,
    extraAuthorizeParams: { ...description.authorize_params, ...options.authorize_params },
    scopes: connector.scopes.length > 0 ? connector.scopes : description.default_scopes,
    account: {
      id: options.account_fields?.id ?? description.account_fields.id,
      email: options.account_fields?.email ?? description.account_fields.email,
      name: options.account_fields?.name ?? description.account_fields.name,
    },
    connectionConfigFields: options.connection_config_fields ?? description.connection_config_fields,
    apiHosts: apiHosts(description, options),
  };
}

/**
 * What a generic provider's API host (named by the connector's admin) lets through: content
 * negotiation and conditional requests in, rate-limit counters and cache validators out.
 */
export const genericApiHost = {
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
  binaryMediaTypes: [],
} as const;

/**
 * The catalog's API hosts, templates filled where the values are already known (defaults; the
 * rest per connection, by the proxy), the connector's `endpoints.api_base_url` replacing the first
 * host's base URL. A generic provider has a host only when its connector names one.
 */
function apiHosts(description: ProviderDescription, options: ConnectorOptions): ApiHostSpec[] {
  const override = options.endpoints?.api_base_url;
  const defaults = Object.fromEntries(
    description.connection_values.flatMap((value) =>
      value.default === undefined ? [] : [[value.name, value.default]],
    ),
  );
  const hosts: ApiHostSpec[] = description.api_hosts.map((host) => ({
    name: host.name,
    baseUrl: filledWhereKnown(description, host.base_url, defaults),
    allowedRequestHeaders: [...host.allowed_request_headers],
    exposedResponseHeaders: [...host.exposed_response_headers],
    binaryMediaTypes: [...host.binary_media_types],
  }));
  if (override === undefined) return hosts;
  const [first, ...rest] = hosts;
  if (first) return [{ ...first, baseUrl: override }, ...rest];
  return [
    {
      name: genericApiHost.name,
      baseUrl: override,
      allowedRequestHeaders: [...genericApiHost.allowedRequestHeaders],
      exposedResponseHeaders: [...genericApiHost.exposedResponseHeaders],
      binaryMediaTypes: [],
    },
  ];
}

function filledWhereKnown(description: ProviderDescription, url: string, values: Record<string, string>): string {
  if (!url.includes("{")) return url;
  try {
    return fillProviderUrl(description, url, values);
  } catch (error) {
    if (error instanceof TemplateError) return url;
    throw error;
  }
}

function oauth2Endpoints(
  connector: ConnectorRow,
  description: Extract<ProviderDescription, { kind: "oauth2" }>,
  options: ConnectorOptions,
) {
  const authorizationEndpoint = options.authorization_url ?? description.authorization_url;
  const tokenEndpoint = options.token_url ?? description.token_url;
  if (authorizationEndpoint === undefined || tokenEndpoint === undefined) {
    throw new AppError("PROVIDER_ERROR", `Connector ${connector.id} has no authorization or token endpoint`);
  }
  return {
    issuer: options.issuer ?? null,
    authorizationEndpoint,
    tokenEndpoint,
    revocationEndpoint: options.revocation_url ?? description.revocation_url ?? null,
    userinfoEndpoint: options.userinfo_url ?? description.userinfo_url ?? null,
    authorizationResponseIssParameterSupported: description.iss_parameter_supported,
  };
}
