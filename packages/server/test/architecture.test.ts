import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The server's folders form layers: app/ and cli/ assemble; features (access, apps, workspaces,
 * identity, connectors, providers, oauth, connections, refresh, ops) do the work; the kernel and
 * the plumbing (kernel, http, errors, log, config, db, vault) sit below. These tests read the
 * import statements of every non-test source file and hold that shape.
 */
const srcRoot = fileURLToPath(new URL("../src", import.meta.url));

const importPattern =
  /(?:import|export)[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

const folderOf = (file: string) => path.relative(srcRoot, file).split(path.sep)[0] ?? "";

/** Folder → the folders its files import from (edges between distinct top-level folders only). */
function folderGraph(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(srcRoot)) {
    for (const match of fs.readFileSync(file, "utf8").matchAll(importPattern)) {
      const target = path.resolve(path.dirname(file), match[1] ?? match[2] ?? "");
      if (!target.startsWith(srcRoot + path.sep)) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (from === to) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)?.add(to);
    }
  }
  return edges;
}

/** Strongly connected components with more than one folder (Tarjan). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, indexOf.get(w) ?? 0));
      }
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((targets) => [...targets])]);
  for (const node of nodes) if (!indexOf.has(node)) visit(node);
  return found;
}

const lowerLayers = ["kernel", "http", "errors", "log", "config", "db", "vault"];
const composition = ["app", "cli"];

describe("server folder structure", () => {
  const graph = folderGraph();

  it("finds the import graph (the scan sees the server's folders)", () => {
    expect(graph.get("app")?.size ?? 0).toBeGreaterThan(5);
  });

  it("has no import cycle between top-level folders", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("the cycle check itself finds a planted cycle", () => {
    const planted = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a"])],
      ["d", new Set(["a"])],
    ]);
    expect(cycles(planted)).toEqual([["a", "b", "c"]]);
  });

  it("no feature or lower layer imports the composition root (app/, cli/)", () => {
    const offenders = [...graph]
      .filter(([from]) => !composition.includes(from))
      .flatMap(([from, targets]) =>
        [...targets].filter((to) => composition.includes(to)).map((to) => `${from} → ${to}`),
      );
    expect(offenders).toEqual([]);
  });

  it("the kernel and the plumbing import no feature", () => {
    const offenders = [...graph]
      .filter(([from]) => lowerLayers.includes(from))
      .flatMap(([from, targets]) =>
        [...targets].filter((to) => !lowerLayers.includes(to)).map((to) => `${from} → ${to}`),
      );
    expect(offenders).toEqual([]);
  });
});
