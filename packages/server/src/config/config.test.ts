import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

const goodKey = () => `k1:${randomBytes(32).toString("base64")}`;

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("starts with no environment at all: embedded database, defaults everywhere", () => {
    const config = loadConfig({});
    expect(config.port).toBe(4400);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.encryptionKeys).toBeUndefined();
    expect(config.publicUrl).toBe("http://localhost:4400");
    expect(config.refreshBeforeSeconds).toBe(300);
    expect(config.denyPrivateNetwork).toBe(false);
    expect(config.userTokenMaxLifetimeSeconds).toBe(86_400);
  });

  it("takes a maximum user-token lifetime between a minute and a year, and refuses others", () => {
    expect(loadConfig({ LATCHKEY_USER_TOKEN_MAX_LIFETIME_SECONDS: "3600" }).userTokenMaxLifetimeSeconds).toBe(3600);
    for (const value of ["59", "31536001", "1e400", "soon"]) {
      expect(problemsOf({ LATCHKEY_USER_TOKEN_MAX_LIFETIME_SECONDS: value })).toEqual([
        expect.stringMatching(/^LATCHKEY_USER_TOKEN_MAX_LIFETIME_SECONDS: /),
      ]);
    }
  });

  it("reads the background sweep's interval and window (defaults 60 s and a day, 0 allowed) and refuses bad ones", () => {
    const defaults = loadConfig({});
    expect(defaults.refreshSweepSeconds).toBe(60);
    expect(defaults.refreshSweepUsedWithinSeconds).toBe(86_400);
    const off = loadConfig({ LATCHKEY_REFRESH_SWEEP_SECONDS: "0", LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS: "0" });
    expect(off.refreshSweepSeconds).toBe(0);
    expect(off.refreshSweepUsedWithinSeconds).toBe(0);
    const problems = problemsOf({
      LATCHKEY_REFRESH_SWEEP_SECONDS: "-1",
      LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS: "soon",
    });
    expect(problems.some((p) => p.startsWith("LATCHKEY_REFRESH_SWEEP_SECONDS"))).toBe(true);
    expect(problems.some((p) => p.startsWith("LATCHKEY_REFRESH_SWEEP_USED_WITHIN_SECONDS"))).toBe(true);
  });

  it("lists every problem at once, parse errors and cross-field rules together", () => {
    const problems = problemsOf({
      PORT: "abc",
      LOG_LEVEL: "loud",
      DATABASE_URL: "postgres://postgres@127.0.0.1:5432/x",
      LATCHKEY_OPERATOR_KEY: "short",
    });
    expect(problems.some((p) => p.startsWith("PORT"))).toBe(true);
    expect(problems.some((p) => p.startsWith("LOG_LEVEL"))).toBe(true);
    expect(problems.some((p) => p.startsWith("LATCHKEY_OPERATOR_KEY"))).toBe(true);
    expect(problems.some((p) => p.startsWith("LATCHKEY_ENCRYPTION_KEYS: required when DATABASE_URL"))).toBe(true);
  });

  it("refuses malformed, short and duplicate encryption keys, naming each entry", () => {
    const short = `k2:${randomBytes(16).toString("base64")}`;
    const problems = problemsOf({ LATCHKEY_ENCRYPTION_KEYS: `${short},nocolon,${goodKey()},${goodKey()}` });
    expect(problems).toEqual([
      expect.stringContaining('entry 1 ("k2"): the key must be 32 bytes'),
      expect.stringContaining("entry 2: expected"),
      expect.stringContaining('entry 4: key id "k1" appears twice'),
    ]);
  });

  it("keeps encryption keys newest first", () => {
    const newer = `k2:${randomBytes(32).toString("base64")}`;
    const config = loadConfig({ DATABASE_URL: "postgres://h/db", LATCHKEY_ENCRYPTION_KEYS: `${newer},${goodKey()}` });
    expect(config.encryptionKeys?.map((k) => k.id)).toEqual(["k2", "k1"]);
  });

  it("refuses insecure defaults in production", () => {
    expect(problemsOf({ NODE_ENV: "production" })).toEqual([expect.stringContaining("LATCHKEY_PUBLIC_URL: required")]);
    expect(problemsOf({ NODE_ENV: "production", LATCHKEY_PUBLIC_URL: "http://lk.example.com" })).toEqual([
      expect.stringContaining("must be https"),
    ]);
    expect(loadConfig({ NODE_ENV: "production", LATCHKEY_PUBLIC_URL: "https://lk.example.com/" }).publicUrl).toBe(
      "https://lk.example.com",
    );
  });

  it("refuses a DATABASE_URL that is not PostgreSQL", () => {
    expect(problemsOf({ DATABASE_URL: "mysql://h/db", LATCHKEY_ENCRYPTION_KEYS: goodKey() })).toEqual([
      expect.stringContaining("DATABASE_URL"),
    ]);
  });
  it("sets HTTP timeouts against slow clients: defaults, fractions, and refuses a headers timeout above the request timeout", () => {
    expect(loadConfig({}).httpTimeouts).toEqual({ headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 });
    expect(
      loadConfig({
        LATCHKEY_HEADERS_TIMEOUT_SECONDS: "0.5",
        LATCHKEY_REQUEST_TIMEOUT_SECONDS: "1.25",
        LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS: "2",
      }).httpTimeouts,
    ).toEqual({ headersMs: 500, requestMs: 1_250, keepAliveMs: 2_000 });
    expect(problemsOf({ LATCHKEY_HEADERS_TIMEOUT_SECONDS: "40" })).toEqual([
      expect.stringContaining("LATCHKEY_HEADERS_TIMEOUT_SECONDS: must not exceed LATCHKEY_REQUEST_TIMEOUT_SECONDS"),
    ]);
    for (const value of ["0", "-1", "abc", "100000"]) {
      expect(problemsOf({ LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS: value })).toEqual([
        expect.stringMatching(/^LATCHKEY_KEEP_ALIVE_TIMEOUT_SECONDS/),
      ]);
    }
  });
});
