import { randomBytes } from "node:crypto";

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

/** A prefixed random id such as `con_3k9…` (20 base-36 characters, ~103 bits). */
export function newId(prefix: string): string {
  const bytes = randomBytes(20);
  let id = "";
  for (const byte of bytes) id += alphabet[byte % 36];
  return `${prefix}_${id}`;
}
