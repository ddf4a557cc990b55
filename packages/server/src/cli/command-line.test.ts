import path from "node:path";
import { describe, expect, it } from "vitest";
import { integerOption, parseOptions } from "./command-line.ts";
import { cliEnv } from "./environment.ts";
import { defaultWorkspace, workspaceInput } from "./init-command.ts";
import { UsageError } from "./usage-error.ts";

describe("command line parsing", () => {
  it("reads known options and turns unknown ones and stray arguments into usage errors", () => {
    expect(parseOptions(["--name", "Acme", "--json"], { name: { type: "string" }, json: { type: "boolean" } })).toEqual(
      {
        name: "Acme",
        json: true,
      },
    );
    expect(() => parseOptions(["--frob"], {})).toThrow(UsageError);
    expect(() => parseOptions(["--frob"], {})).toThrow("Unknown option '--frob'");
    expect(() => parseOptions(["extra"], {})).toThrow("Unexpected argument 'extra'");
    expect(() => parseOptions(["--name"], { name: { type: "string" } })).toThrow(UsageError);
  });

  it("accepts whole numbers in range and rejects everything else", () => {
    expect(integerOption("batch-size", undefined, 500, 1, 10_000)).toBe(500);
    expect(integerOption("batch-size", "25", 500, 1, 10_000)).toBe(25);
    for (const bad of ["0", "10001", "-3", "2.5", "1e3", "", " 7", "ten", "99999999999999999999"]) {
      expect(() => integerOption("batch-size", bad, 500, 1, 10_000), bad).toThrow(
        "--batch-size must be a whole number from 1 to 10000",
      );
    }
  });
});

describe("init options", () => {
  it("defaults to My workspace, plan builder, admin@localhost", () => {
    expect(workspaceInput(undefined, undefined, undefined)).toEqual(defaultWorkspace);
    expect(defaultWorkspace).toEqual({ name: "My workspace", plan: "builder", adminEmail: "admin@localhost" });
  });

  it("takes a name, plan and admin email, trimming spaces", () => {
    expect(workspaceInput("  Acme  ", "pro", " ada@example.com ")).toEqual({
      name: "Acme",
      plan: "pro",
      adminEmail: "ada@example.com",
    });
  });

  type Input = [name: string | undefined, plan: string | undefined, adminEmail: string | undefined];
  it.each<[Input, string]>([
    [["", undefined, undefined], "--name must be 1 to 200 characters"],
    [["x".repeat(201), undefined, undefined], "--name must be 1 to 200 characters"],
    [[undefined, "gold", undefined], "--plan must be one of: free, starter, builder, pro, enterprise"],
    [[undefined, "Builder", undefined], "--plan must be one of"],
    [[undefined, undefined, "not an email"], "--admin-email must be an email address"],
    [[undefined, undefined, "@example.com"], "--admin-email must be an email address"],
    [[undefined, undefined, `${"a".repeat(250)}@x.io`], "--admin-email must be an email address"],
  ])("rejects %j", ([name, plan, adminEmail], message) => {
    expect(() => workspaceInput(name, plan, adminEmail)).toThrow(UsageError);
    expect(() => workspaceInput(name, plan, adminEmail)).toThrow(message);
  });
});

describe("the CLI's environment", () => {
  it("resolves a relative data dir from where npm was run (INIT_CWD)", () => {
    expect(cliEnv({ INIT_CWD: "/repo" }).LATCHKEY_DATA_DIR).toBe(path.resolve("/repo", ".latchkey"));
    expect(cliEnv({ INIT_CWD: "/repo", LATCHKEY_DATA_DIR: "data" }).LATCHKEY_DATA_DIR).toBe("/repo/data");
    expect(cliEnv({ INIT_CWD: "/repo", LATCHKEY_DATA_DIR: "/srv/latchkey" }).LATCHKEY_DATA_DIR).toBe("/srv/latchkey");
  });

  it("leaves the environment alone outside npm", () => {
    const env = { LATCHKEY_DATA_DIR: "data", PORT: "1" };
    expect(cliEnv(env)).toBe(env);
  });
});
