import { describe, expect, it } from "vitest";
import { AppError } from "../errors/app-error.ts";
import { decodeBody } from "./provider-call.ts";
import { allowedCallerHeaders, buildTargetUrl, pathProblem, pickHost } from "./proxy-request.ts";

const host = (name: string, baseUrl: string) => ({
  name,
  baseUrl,
  allowedRequestHeaders: ["Accept", "Notion-Version", "Authorization", "Cookie", "Host"],
  exposedResponseHeaders: [],
  binaryMediaTypes: ["application/pdf", "image/*"],
});

describe("proxy paths", () => {
  it("accept paths relative to the API root, with a query", () => {
    for (const path of [
      "/",
      "/v1/users",
      "/v1/users/me?fields=a,b",
      "/repos/group%2Fproject",
      "/a/.well-known/x",
      "/@me",
    ]) {
      expect(pathProblem(path), path).toBeNull();
    }
  });

  it("refuse absolute URLs, other hosts, traversal, and characters a URL parser rewrites", () => {
    for (const path of [
      "https://evil.example/",
      "v1/users",
      "//evil.example/x",
      "/a/../b",
      "/..",
      "/a/./b",
      "/a/%2e%2e/b",
      "/a/%2E./b",
      "/a/..%2fb",
      "/a/%2e%2e%5cb",
      "/a\\b",
      "/a b",
      "/a\tb",
      "/a#b",
      "/a/%zz",
    ]) {
      expect(pathProblem(path), path).not.toBeNull();
    }
  });

  it("keep the host's base path and merge the query after the path's own", () => {
    const url = buildTargetUrl("https://api.example.com/v2/", "/items?a=1", { b: "x y", c: [1, true], d: false });
    expect(url.toString()).toBe("https://api.example.com/v2/items?a=1&b=x%20y&c=1&c=true&d=false");
    expect(buildTargetUrl("https://api.example.com", "/", undefined).toString()).toBe("https://api.example.com/");
  });

  it("never leave the host's origin or base path, whatever the path", () => {
    // pathProblem refuses these first; the URL check holds on its own too.
    for (const path of ["/../admin", "/%2e%2e/admin", "@evil.example/x"]) {
      let url: URL | null = null;
      try {
        url = buildTargetUrl("https://api.example.com/v2", path.startsWith("/") ? path : `/${path}`, undefined);
      } catch (error) {
        expect(error).toBeInstanceOf(AppError);
      }
      if (url) {
        expect(url.origin).toBe("https://api.example.com");
        expect(url.pathname.startsWith("/v2/")).toBe(true);
      }
    }
  });
});

describe("proxy hosts and headers", () => {
  const hosts = [host("api", "https://api.example.com"), host("files", "https://files.example.com")];

  it("pick the first host by default and others by name; an unknown name is a 400", () => {
    expect(pickHost(hosts, undefined, "p").name).toBe("api");
    expect(pickHost(hosts, null, "p").name).toBe("api");
    expect(pickHost(hosts, "files", "p").name).toBe("files");
    expect(() => pickHost(hosts, "elsewhere", "p")).toThrow(expect.objectContaining({ code: "INVALID_REQUEST" }));
    expect(() => pickHost([], undefined, "p")).toThrow(expect.objectContaining({ code: "INVALID_REQUEST" }));
  });

  it("forward allowed headers only, case-insensitively, and never credentials or Host even when listed", () => {
    expect(
      allowedCallerHeaders(host("api", "https://api.example.com"), {
        accept: "application/json",
        "NOTION-VERSION": "2022-06-28",
        Authorization: "Bearer stolen",
        cookie: "a=b",
        Host: "evil.example",
        "X-Other": "dropped",
      }),
    ).toEqual({ accept: "application/json", "notion-version": "2022-06-28" });
  });
});

describe("proxy answer bodies", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const api = host("api", "https://api.example.com");

  it("parse JSON, keep text as text, and hand back invalid JSON as text", () => {
    expect(decodeBody(api, "application/json; charset=utf-8", bytes('{"a":1}'))).toEqual({
      data: { a: 1 },
      data_base64: null,
      content_type: null,
    });
    expect(decodeBody(api, "application/problem+json", bytes('{"title":"x"}')).data).toEqual({ title: "x" });
    expect(decodeBody(api, "text/csv", bytes("a,b")).data).toBe("a,b");
    expect(decodeBody(api, "application/json", bytes("not json")).data).toBe("not json");
    expect(decodeBody(api, null, bytes('{"sniffed":true}')).data).toEqual({ sniffed: true });
    expect(decodeBody(api, "application/json", new Uint8Array(0))).toEqual({
      data: null,
      data_base64: null,
      content_type: null,
    });
  });

  it("hand back declared binary types, and every type neither JSON nor text, as base64", () => {
    const raw = new Uint8Array([0, 1, 2, 250, 255]);
    for (const type of ["application/pdf", "image/png", "application/octet-stream", "video/mp4"]) {
      expect(decodeBody(api, type, raw), type).toEqual({
        data: null,
        data_base64: Buffer.from(raw).toString("base64"),
        content_type: type,
      });
    }
    // Without a type, bytes that are not UTF-8 are binary.
    expect(decodeBody(api, null, raw).content_type).toBe("application/octet-stream");
  });
});
