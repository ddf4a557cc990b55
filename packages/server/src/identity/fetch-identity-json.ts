import { SigningKeysUnavailable } from "./token-failure.ts";

/** JWKS and discovery documents are a few KiB; anything much larger is not one. */
export const maxIdentityDocumentBytes = 512 * 1024;

/**
 * GETs a JSON document from an identity provider: no redirects followed, 200 only, body size
 * capped. Every failure is a SigningKeysUnavailable naming the URL (never a token).
 */
export async function fetchIdentityJson(fetchImpl: typeof fetch, url: string, signal: AbortSignal): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: "GET",
      headers: { accept: "application/json, application/jwk-set+json" },
      redirect: "manual",
      signal,
    });
  } catch (error) {
    throw new SigningKeysUnavailable(`GET ${url} failed: ${describeFetchError(error)}`, { cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new SigningKeysUnavailable(`GET ${url} answered HTTP ${response.status}, expected 200`);
  }
  const text = await readCappedText(response, url);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SigningKeysUnavailable(`GET ${url} did not return JSON`);
  }
}

async function readCappedText(response: Response, url: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxIdentityDocumentBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new SigningKeysUnavailable(`GET ${url} returned ${declared} bytes, more than ${maxIdentityDocumentBytes}`);
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxIdentityDocumentBytes) {
        await reader.cancel().catch(() => undefined);
        throw new SigningKeysUnavailable(`GET ${url} returned more than ${maxIdentityDocumentBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof SigningKeysUnavailable) throw error;
    throw new SigningKeysUnavailable(`reading ${url} failed: ${describeFetchError(error)}`, { cause: error });
  }
  return Buffer.concat(chunks).toString("utf8");
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return "unknown error";
  if (error.name === "TimeoutError" || error.name === "AbortError") return "timed out";
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
