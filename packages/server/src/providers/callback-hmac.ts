import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The `shopify-callback-hmac` hook: Shopify signs its redirect with `hmac` = hex HMAC-SHA256,
 * under the client secret, of every other query parameter sorted by name and joined as
 * `name=value&…`. A callback whose signature does not verify is refused before the code is redeemed.
 */
export function verifyQueryHmac(params: URLSearchParams, secret: string | null): boolean {
  const given = params.get("hmac");
  if (secret === null || given === null || !/^[0-9a-f]{64}$/i.test(given)) return false;
  const expected = createHmac("sha256", secret).update(signedQuery(params)).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}

/** The message Shopify signs: the query without `hmac` (and the legacy `signature`), sorted. */
export function signedQuery(params: URLSearchParams): string {
  return [...params]
    .filter(([name]) => name !== "hmac" && name !== "signature")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}
