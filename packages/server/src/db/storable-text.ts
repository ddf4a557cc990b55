/**
 * Text the database can hold. PostgreSQL (and PGlite) refuse U+0000 in text and jsonb ("invalid
 * byte sequence 0x00", "unsupported Unicode escape sequence"), and jsonb refuses the escape of an
 * unpaired UTF-16 surrogate; in a text column such a surrogate silently becomes U+FFFD. Input with
 * either is refused at the edge, and provider values with either are dropped, so none of them
 * reaches a query as a 500.
 */
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isStorableText(value: string): boolean {
  return !unstorable.test(value);
}

/** The dotted path of the first key or string in a parsed JSON value that is not storable text, or null. */
export function findUnstorableText(value: unknown, path: string[] = []): string | null {
  if (typeof value === "string") return isStorableText(value) ? null : path.join(".");
  if (value === null || typeof value !== "object") return null;
  for (const [key, child] of Object.entries(value)) {
    if (!isStorableText(key)) return [...path, "(key)"].join(".");
    const found = findUnstorableText(child, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}
