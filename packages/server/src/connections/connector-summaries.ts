import type { ConnectorsTable } from "../db/schema.ts";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/open-database.ts";
import type { ChangeFeed } from "../kernel/changes.ts";
import { TtlCache } from "../kernel/ttl-cache.ts";
import { integrationTypeOf } from "./connection-store.ts";

export interface ConnectorSummary {
  provider: string;
  /** The connector's integration_type, else its provider id (the token answer's `integration_type`). */
  integrationType: string;
  status: ConnectorsTable["status"];
}

const maxEntries = 10_000;

/**
 * A connector's provider and status for the token routes, cached for the same few seconds as
 * verified service keys (LATCHKEY_SERVICE_KEY_CACHE_SECONDS) and forgotten as soon as any
 * connector changes on any instance (the change feed). A provider never changes after a
 * connector is created. With the cache off (0), every call reads the database.
 */
export class ConnectorSummaries {
  readonly #cache;

  constructor(private readonly deps: { db: Db; changes: ChangeFeed; config: Pick<Config, "serviceKeyCacheMs"> }) {
    this.#cache = new TtlCache<ConnectorSummary | null>(maxEntries, { feed: deps.changes, tables: ["connectors"] });
  }

  /** The cached summary (null: no such connector), or undefined when it must be read. */
  peek(connectorId: string): ConnectorSummary | null | undefined {
    return this.#cache.get(connectorId);
  }

  async get(connectorId: string): Promise<ConnectorSummary | null> {
    const cached = this.#cache.get(connectorId);
    if (cached !== undefined) return cached;
    const generation = this.#cache.generation;
    const row = await this.deps.db
      .selectFrom("connectors as k")
      .select(["k.provider", "k.status"])
      .select(integrationTypeOf("k").as("integrationType"))
      .where("k.id", "=", connectorId)
      .executeTakeFirst();
    const summary = row ?? null;
    this.#cache.set(connectorId, summary, this.deps.config.serviceKeyCacheMs, generation);
    return summary;
  }
}
