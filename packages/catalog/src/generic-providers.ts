import { defineProvider } from "./provider-schema.ts";

// The server's build replaces this module with its exports' values, computed at build time
// (packages/server/scripts/bundle.mjs): every export here is plain data.

/** Any OAuth 2.0 authorization server; each connector gives its endpoint URLs as options. */
export const genericOAuth2 = defineProvider({
  id: "oauth2",
  display_name: "OAuth 2.0",
  kind: "oauth2",
  generic: true,
});

/**
 * Any OpenID Connect provider; each connector gives its issuer and the endpoints come from
 * discovery. Client authentication is client_secret_basic unless the connector says otherwise,
 * as OpenID Connect defines.
 */
export const genericOidc = defineProvider({
  id: "oidc",
  display_name: "OpenID Connect",
  kind: "oidc",
  generic: true,
  default_scopes: ["openid"],
});
