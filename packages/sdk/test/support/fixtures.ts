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

/** An API proxy answer exactly as SPEC.md gives it (Base44's `ConnectorProxyRawResponse`). */
export const proxyAnswer = {
  success: true,
  phase: "responded",
  status_code: 200,
  data: { emailAddress: "ada@acme.test", messagesTotal: 42 },
  data_base64: null,
  content_type: null,
  headers: { "x-ratelimit-remaining": "99" },
  credits_charged: 0,
};

export const mappedProxyAnswer = {
  success: true,
  phase: "responded",
  status: 200,
  data: { emailAddress: "ada@acme.test", messagesTotal: 42 },
  dataBase64: null,
  contentType: null,
  headers: { "x-ratelimit-remaining": "99" },
  creditsCharged: 0,
};
