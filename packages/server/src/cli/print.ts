/** Command output for people (and scripts): stdout, one line per entry. Logs go elsewhere. */
export function print(...lines: string[]): void {
  process.stdout.write(`${lines.join("\n")}\n`);
}

export function printError(...lines: string[]): void {
  process.stderr.write(`${lines.join("\n")}\n`);
}

export const readmePointer = 'Next steps (register an app and a connector): README.md, "The HTTP API in five calls".';
