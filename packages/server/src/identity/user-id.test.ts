import { describe, expect, it } from "vitest";
import { isPlainUserId, maxUserIdLength, UserIdSchema } from "./user-id.ts";

describe("user ids", () => {
  const samples = [
    "alice",
    "bench-user",
    "auth0|5f7c8ec7c33c6c004bbafe82",
    "user@example.com",
    " spaced ",
    "~!@#$%^&*()_+{}[]:;'<>,.?/\\\"",
    "u".repeat(maxUserIdLength),
    "u".repeat(maxUserIdLength + 1),
    "",
    "tab\there",
    "nul\u0000",
    "del\u007f",
    "c1\u0085",
    "über",
    "用户",
    "emoji 🙂",
    "lone \ud800",
  ];

  it("the hot path's cheap check accepts only ids the schema accepts", () => {
    for (const value of samples) {
      if (isPlainUserId(value)) expect(UserIdSchema.safeParse(value).success, JSON.stringify(value)).toBe(true);
    }
  });

  it("accepts plain ASCII ids up to the maximum length, and leaves everything else to the schema", () => {
    expect(samples.filter(isPlainUserId)).toEqual(samples.slice(0, 7));
    expect(UserIdSchema.safeParse("über").success).toBe(true);
    expect(UserIdSchema.safeParse("lone \ud800").success).toBe(false);
  });
});
