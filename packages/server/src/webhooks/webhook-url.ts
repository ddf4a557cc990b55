import { isIP } from "node:net";
import { z } from "zod";
import { isNonPublicAddress } from "../http/outbound-fetch.ts";

export interface WebhookUrlPolicy {
  /** https only (NODE_ENV=production). */
  production: boolean;
  /** LATCHKEY_DENY_PRIVATE_NETWORK: refuse loopback and private hosts outright (delivery checks resolved addresses too). */
  denyPrivateNetwork: boolean;
}

const maxUrlLength = 2048;
const suspiciousCharacters = /[\u0000-\u0020\u007f\\]/;

/** Why `value` cannot be a webhook URL, or null. Checked like every outbound target. */
export function webhookUrlProblem(value: string, policy: WebhookUrlPolicy): string | null {
  if (suspiciousCharacters.test(value)) return "must not contain whitespace, control characters or backslashes";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute https URL";
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.hostname === "") {
    return "must be an absolute https URL";
  }
  if (policy.production && url.protocol !== "https:") return "must use https in production";
  if (url.username !== "" || url.password !== "") return "must not contain credentials";
  if (url.hash !== "" || value.includes("#")) return "must not contain a fragment";
  if (policy.denyPrivateNetwork && isPrivateHost(url.hostname)) {
    return "must not point to a loopback or private address while LATCHKEY_DENY_PRIVATE_NETWORK is on";
  }
  return null;
}

function isPrivateHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return isIP(host) !== 0 && isNonPublicAddress(host);
}

export function webhookUrlSchema(policy: WebhookUrlPolicy) {
  return z
    .string()
    .max(maxUrlLength)
    .superRefine((value, ctx) => {
      const problem = webhookUrlProblem(value, policy);
      if (problem) ctx.addIssue({ code: "custom", message: `URL ${problem}` });
    });
}
