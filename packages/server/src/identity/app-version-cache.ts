import type { AppRow } from "../db/schema.ts";

/**
 * Per-app values derived from an app row (a JWKS verifier, a decrypted signing key). An entry
 * belongs to one version of the row (its `updated_at`), so changing the app's identity settings
 * builds a new value. At most `capacity` apps are kept; the least recently used is dropped first.
 */
export class AppVersionCache<Value> {
  readonly #entries = new Map<string, { version: number; value: Value }>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  get size(): number {
    return this.#entries.size;
  }

  getOrCreate(app: Pick<AppRow, "id" | "updated_at">, create: () => Value): Value {
    const version = app.updated_at.getTime();
    const entry = this.#entries.get(app.id);
    // Delete then set moves the entry to the end of the Map's insertion order: most recently used.
    this.#entries.delete(app.id);
    const value = entry && entry.version === version ? entry.value : create();
    this.#entries.set(app.id, { version, value });
    this.#evictOverflow();
    return value;
  }

  #evictOverflow(): void {
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.capacity) return;
      this.#entries.delete(oldest);
    }
  }
}
