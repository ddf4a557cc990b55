import type { ApiKeyInfo } from "@latchkey/contracts";
import type { Db } from "../db/open-database.ts";
import { newId } from "../kernel/ids.ts";
import { type SecretKeyKind, issueSecretKey, type keyInfo } from "./secret-keys.ts";

/**
 * One store for both kinds of bearer key Latchkey issues: service keys (an app's) and admin API keys
 * (a member's). They differ only in their table, the column naming their owner, their prefixes and
 * the owner field on the wire.
 */
export interface KeyKind<Info extends ApiKeyInfo> {
  table: "service_keys" | "admin_api_keys";
  owner: "app_id" | "member_id";
  idPrefix: string;
  secret: SecretKeyKind;
  toWire(stored: StoredKey): Info;
}

/** A key row as the store reads it: the shared columns, the owner column under one name. */
export type StoredKey = Parameters<typeof keyInfo>[0] & { owner_id: string };

export interface IssuedKey<Info> {
  /** Shown once; only its hash is stored. */
  key: string;
  info: Info;
}

/** Narrows listing and revocation; without `ownerId`, every owner in the workspace. */
export interface KeyScope {
  workspaceId: string;
  ownerId?: string | undefined;
}

export type RevokeOutcome = "revoked" | "already-revoked" | "not-found";

export interface KeyStore<Info> {
  issue(db: Db, input: { workspaceId: string; ownerId: string; name: string; now: Date }): Promise<IssuedKey<Info>>;
  list(db: Db, scope: KeyScope): Promise<Info[]>;
  /** Idempotent: an already revoked key keeps its revocation time. */
  revoke(db: Db, target: KeyScope & { keyId: string; now: Date }): Promise<RevokeOutcome>;
}

export function keyStore<Info extends ApiKeyInfo>(kind: KeyKind<Info>): KeyStore<Info> {
  const { table, owner } = kind;

  return {
    async issue(db, input) {
      const key = issueSecretKey(kind.secret);
      const row = await db
        .insertInto(table)
        .values({
          id: newId(kind.idPrefix),
          workspace_id: input.workspaceId,
          [owner]: input.ownerId,
          name: input.name,
          prefix: key.prefix,
          key_hash: key.hash,
          created_at: input.now,
        })
        .returning(["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"])
        .returning((eb) => eb.ref(owner).as("owner_id"))
        .executeTakeFirstOrThrow();
      return { key: key.key, info: kind.toWire(row) };
    },

    async list(db, scope) {
      let query = db
        .selectFrom(table)
        .select(["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"])
        .select((eb) => eb.ref(owner).as("owner_id"))
        .where("workspace_id", "=", scope.workspaceId);
      if (scope.ownerId !== undefined) query = query.where(owner, "=", scope.ownerId);
      const rows = await query.orderBy("created_at").orderBy("id").execute();
      return rows.map(kind.toWire);
    },

    async revoke(db, target) {
      let query = db
        .selectFrom(table)
        .select(["id", "revoked_at"])
        .where("id", "=", target.keyId)
        .where("workspace_id", "=", target.workspaceId);
      if (target.ownerId !== undefined) query = query.where(owner, "=", target.ownerId);
      const key = await query.executeTakeFirst();
      if (!key) return "not-found";
      if (key.revoked_at !== null) return "already-revoked";
      await db.updateTable(table).set({ revoked_at: target.now }).where("id", "=", key.id).execute();
      return "revoked";
    },
  };
}
