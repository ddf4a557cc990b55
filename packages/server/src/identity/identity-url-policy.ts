/**
 * Where Latchkey may fetch an app's signing keys from (a `jwks_url`, an issuer's discovery
 * document, the `jwks_uri` it names): https, or plain http to this machine's loopback interface
 * outside production, so a local identity provider works in development.
 *
 * Returns what is wrong with the URL, or null when it is acceptable.
 */
export function identityUrlProblem(raw: string, options: { production: boolean }): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a valid URL";
  }
  if (url.username !== "" || url.password !== "") return "must not contain credentials";
  if (url.protocol === "https:") return null;
  if (url.protocol !== "http:") return "must use https";
  if (!isLoopbackHost(url.hostname)) return "must use https (plain http is allowed only for loopback in development)";
  if (options.production) return "must use https in production";
  return null;
}

function isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "[::1]") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
