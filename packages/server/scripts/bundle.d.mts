// Types of bundle.mjs (plain JavaScript: scripts/build-package.mjs runs it with no TypeScript tooling).
import type { Metafile } from "esbuild";

export declare const bundleDir: string;
export declare const prevaluatedModules: readonly string[];
export declare function prevaluatedSource(moduleUrl: string): Promise<string>;
export declare function duplicatedPackages(metafile: Pick<Metafile, "inputs">): [string, Set<string>][];
export declare function bundleServer(): Promise<Metafile>;
