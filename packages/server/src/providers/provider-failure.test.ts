import * as oauth from "oauth4webapi";
import { describe, expect, it } from "vitest";
import { OutboundError } from "../http/outbound-fetch.ts";
import { classifyProviderFailure, failureLogFields, isGrantRevoked, safeErrorCode } from "./provider-failure.ts";

const as: oauth.AuthorizationServer = {
  issuer: "https://provider.example",
  token_endpoint: "https://provider.example/token",
};
const client: oauth.Client = { client_id: "client" };

/** What oauth4webapi throws for this token endpoint answer. */
async function failureOf(status: number, body: string, contentType = "application/json"): Promise<unknown> {
  const response = new Response(body, { status, headers: { "content-type": contentType } });
  return oauth.processRefreshTokenResponse(as, client, response).then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error,
  );
}

describe("classifyProviderFailure", () => {
  it("treats invalid_grant as a revoked grant", async () => {
    const failure = classifyProviderFailure(
      await failureOf(400, JSON.stringify({ error: "invalid_grant", error_description: "grant revoked" })),
    );
    expect(failure).toEqual({ kind: "rejected", error: "invalid_grant", status: 400 });
    expect(isGrantRevoked(failure)).toBe(true);
  });

  it("never treats a 5xx, a 429 or temporarily_unavailable as revoked", async () => {
    for (const error of [
      await failureOf(503, JSON.stringify({ error: "temporarily_unavailable" })),
      await failureOf(500, "<html>oops</html>", "text/html"),
      await failureOf(502, JSON.stringify({ error: "invalid_grant" })),
      await failureOf(429, JSON.stringify({ error: "slow_down" })),
    ]) {
      const failure = classifyProviderFailure(error);
      expect(failure.kind).toBe("unavailable");
      expect(isGrantRevoked(failure)).toBe(false);
    }
  });

  it("treats timeouts and network failures as unavailable", () => {
    expect(classifyProviderFailure(new OutboundError("timeout", "https://p", "timed out")).kind).toBe("unavailable");
    expect(classifyProviderFailure(new OutboundError("network", "https://p", "refused")).kind).toBe("unavailable");
    expect(classifyProviderFailure(new DOMException("timed out", "TimeoutError")).kind).toBe("unavailable");
    expect(classifyProviderFailure(new TypeError("fetch failed")).kind).toBe("unavailable");
  });

  it("treats a refused target, an oversized or malformed answer as an invalid response", async () => {
    expect(classifyProviderFailure(new OutboundError("blocked", "https://p", "private")).kind).toBe("invalid_response");
    expect(classifyProviderFailure(new OutboundError("too_large", "https://p", "big")).kind).toBe("invalid_response");
    expect(classifyProviderFailure(await failureOf(200, JSON.stringify({ token_type: "bearer" }))).kind).toBe(
      "invalid_response",
    );
  });

  it("keeps provider bodies out of log fields", async () => {
    const error = await failureOf(
      400,
      JSON.stringify({ error: "invalid_client", error_description: "secret s3cr3t-value wrong" }),
    );
    const fields = JSON.stringify(failureLogFields(classifyProviderFailure(error)));
    expect(fields).toContain("invalid_client");
    expect(fields).not.toContain("s3cr3t");
  });
});

describe("safeErrorCode", () => {
  it("passes OAuth error codes and replaces anything else", () => {
    expect(safeErrorCode("access_denied")).toBe("access_denied");
    expect(safeErrorCode("<script>")).toBe("provider_error");
    expect(safeErrorCode("x".repeat(65))).toBe("provider_error");
    expect(safeErrorCode(undefined)).toBe("provider_error");
  });
});
