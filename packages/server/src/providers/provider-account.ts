import type { ResolvedProvider } from "./provider.ts";
import { isStorableText } from "../db/storable-text.ts";

/** Userinfo documents are small; a larger answer is not read. */
const maxUserinfoBytes = 64 * 1024;

/**
 * Parses a userinfo response (JSON only; signed userinfo is not requested). When an ID token
 * named the subject, a userinfo answer about anyone else is refused (OpenID Connect Core 5.3.4).
 */
export async function readUserinfo(
  response: Response,
  expectedSubject: string | null,
): Promise<Record<string, unknown>> {
  if (!response.ok) throw new UserinfoError(`userinfo answered ${response.status}`);
  const contentType = response.headers.get("content-type") ?? "";
  if (!/^application\/(.+\+)?json\b/i.test(contentType)) throw new UserinfoError("userinfo is not JSON");
  const text = await response.text();
  if (text.length > maxUserinfoBytes) throw new UserinfoError("userinfo response is too large");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UserinfoError("userinfo is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new UserinfoError("userinfo is not an object");
  const profile = body as Record<string, unknown>;
  if (expectedSubject !== null && profile.sub !== undefined && profile.sub !== expectedSubject) {
    throw new UserinfoError("userinfo subject differs from the ID token's");
  }
  return profile;
}

export class UserinfoError extends Error {
  override name = "UserinfoError";
}

/** The account fields Latchkey keeps (id, email, name), found at the provider's declared paths. */
export function accountFromProfile(
  profile: Record<string, unknown>,
  paths: ResolvedProvider["account"],
): { id: string | null; email: string | null; name: string | null } {
  return {
    id: stringAt(profile, paths.id),
    email: stringAt(profile, paths.email),
    name: stringAt(profile, paths.name),
  };
}

function stringAt(profile: Record<string, unknown>, path: string): string | null {
  let value: unknown = profile;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object") return null;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return typeof value === "string" && value.length <= 512 && isStorableText(value) ? value : null;
}
