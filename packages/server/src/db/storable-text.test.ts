import { describe, expect, it } from "vitest";
import { findUnstorableText, isStorableText } from "./storable-text.ts";

describe("storable text", () => {
  it("accepts ordinary text, any Unicode and surrogate pairs", () => {
    for (const value of ["", "plain", "ünïcödé", "😀 \ud83d\ude00", "\u202e", "%00", "\\u0000"])
      expect(isStorableText(value), value).toBe(true);
  });

  it("refuses NUL and unpaired surrogates, wherever they are", () => {
    for (const value of ["\u0000", "a\u0000b", "\ud800", "x\ud83d", "\udc00y", "\ude00\ud83d"]) {
      expect(isStorableText(value), JSON.stringify(value)).toBe(false);
    }
  });

  it("names the first unstorable key or string of a JSON value by its path", () => {
    expect(findUnstorableText({ a: ["ok", { b: "x\u0000" }] })).toBe("a.1.b");
    expect(findUnstorableText({ a: { "k\ud800": 1 } })).toBe("a.(key)");
    expect(findUnstorableText("\ud800")).toBe("");
    expect(findUnstorableText({ a: [1, true, null, "fine"] })).toBeNull();
  });
});
