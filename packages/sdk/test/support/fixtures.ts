/** A token route answer exactly as SPEC.md gives it (snake_case). */
export const tokenAnswer = {
  access_token: "ya29.user-access-token",
  integration_type: "salesforce",
  // Provider values: their keys must reach the caller unchanged.
  connection_config: { instance_url: "https://acme.my.salesforce.com", realmId: "9130" },
  token_type: "Bearer",
  expires_at: "2030-01-01T00:00:00.000Z",
  scopes: ["api", "refresh_token"],
  account: { id: "005xx", email: "ada@acme.test", name: "Ada" },
};

export const mappedToken = {
  accessToken: "ya29.user-access-token",
  integrationType: "salesforce",
  connectionConfig: { instance_url: "https://acme.my.salesforce.com", realmId: "9130" },
  tokenType: "Bearer",
  expiresAt: "2030-01-01T00:00:00.000Z",
  scopes: ["api", "refresh_token"],
  account: { id: "005xx", email: "ada@acme.test", name: "Ada" },
};

export const appId = "app_9f2c";
export const userToken = "eyJhbGciOiJSUzI1NiJ9.user.sig";
export const serviceKey = "lk_svc_0123456789abcdef";
