import type { Adapter, AdapterFactory, AdapterPayload } from "oidc-provider";

/**
 * The authorization server's storage: one in-memory map per server (oidc-provider's own memory
 * adapter shares a module-level store and cannot list grants by account). Clients are not
 * stored here: `clientMetadata` resolves them from the harness's registry, which is how
 * oidc-provider loads clients added at runtime.
 */
export class OidcProviderStore {
  readonly #entries = new Map<string, StoredEntry>();

  constructor(private readonly clientMetadata: (clientId: string) => AdapterPayload | undefined) {}

  readonly adapter: AdapterFactory = (model) => new ModelAdapter(model, this);

  /** Removes every grant of `accountId` and every token and code issued under it. */
  revokeGrantsOf(accountId: string): string[] {
    const grantIds = this.#livePayloads("Grant")
      .filter(([, payload]) => payload.accountId === accountId)
      .map(([id]) => id);
    for (const grantId of grantIds) {
      this.deleteByGrantId(grantId);
      this.delete("Grant", grantId);
    }
    return grantIds;
  }

  /** @internal for ModelAdapter */
  read(model: string, id: string): AdapterPayload | undefined {
    if (model === "Client") return this.clientMetadata(id);
    const entry = this.#entries.get(key(model, id));
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#entries.delete(key(model, id));
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  /** @internal for ModelAdapter */
  write(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined): void {
    const expiresAt = expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000;
    this.#entries.set(key(model, id), { model, payload: structuredClone(payload), expiresAt });
  }

  /** @internal for ModelAdapter */
  markConsumed(model: string, id: string): void {
    const entry = this.#entries.get(key(model, id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  /** @internal for ModelAdapter */
  delete(model: string, id: string): void {
    this.#entries.delete(key(model, id));
  }

  /** @internal for ModelAdapter; without `model`, every token and code of the grant. */
  deleteByGrantId(grantId: string, model?: string): void {
    for (const [entryKey, entry] of this.#entries) {
      const inScope = model === undefined ? entry.model !== "Grant" : entry.model === model;
      if (inScope && entry.payload.grantId === grantId) this.#entries.delete(entryKey);
    }
  }

  /** @internal for ModelAdapter */
  findBy(model: string, field: "uid" | "userCode", value: string): AdapterPayload | undefined {
    const found = this.#livePayloads(model).find(([, payload]) => payload[field] === value);
    return found ? structuredClone(found[1]) : undefined;
  }

  #livePayloads(model: string): Array<[string, AdapterPayload]> {
    const now = Date.now();
    const prefix = `${model}:`;
    return [...this.#entries]
      .filter(([entryKey, entry]) => entryKey.startsWith(prefix) && (entry.expiresAt ?? Infinity) > now)
      .map(([entryKey, entry]) => [entryKey.slice(prefix.length), entry.payload]);
  }
}

interface StoredEntry {
  model: string;
  payload: AdapterPayload;
  expiresAt: number | undefined;
}

function key(model: string, id: string): string {
  return `${model}:${id}`;
}

class ModelAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: OidcProviderStore,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.write(this.model, id, payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.store.read(this.model, id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.store.findBy(this.model, "uid", uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.store.findBy(this.model, "userCode", userCode);
  }

  async consume(id: string): Promise<void> {
    this.store.markConsumed(this.model, id);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    // The provider calls this once per token model; tokens are removed per model so that a
    // call for AccessToken does not take the grant's refresh tokens with it.
    this.store.deleteByGrantId(grantId, this.model);
  }
}
