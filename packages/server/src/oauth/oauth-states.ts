import { createHash } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { OAuthStateRow } from "../db/schema.ts";
import type { Db } from "../db/open-database.ts";
import type { Clock } from "../kernel/clock.ts";
import type { Vault } from "../vault/vault.ts";

/** What the state store needs. */
export interface OAuthStateDeps {
  db: Db;
  vault: Vault;
  clock: Clock;
}

/** A connect flow must finish within this time. */
export const stateLifetimeMs = 10 * 60 * 1000;

/** Whose connection the flow creates: an app user's, or the app's shared one. */
export type ConnectionOwner = { type: "user"; userId: string } | { type: "app" };

export interface FlowBinding {
  workspaceId: string;
  appId: string;
  connectorId: string;
  owner: ConnectionOwner;
  /** Already checked against the app's allowed origins. */
  returnTo: string;
  /** The app user's connection values, already checked against the catalog's patterns. */
  connectionValues?: Record<string, string> | undefined;
}

export interface StartedFlow {
  /** 256 random bits, base64url; sent to the provider, only its hash is stored. */
  state: string;
  codeChallenge: string | null;
  nonce: string | null;
}

/** The state as it is looked up: sha256, hex. */
export function hashState(state: string): string {
  return createHash("sha256").update(state, "utf8").digest("hex");
}

export function ownerUserId(owner: ConnectionOwner): string {
  return owner.type === "user" ? owner.userId : "";
}

/**
 * Stores a new single-use state bound to app, connector, owner and return_to. The PKCE verifier
 * is encrypted under the state's row and never leaves the server; only its S256 challenge does.
 */
export async function createOAuthState(
  deps: OAuthStateDeps,
  binding: FlowBinding,
  options: { pkce: boolean; nonce: boolean },
): Promise<StartedFlow> {
  const state = oauth.generateRandomState();
  const stateHash = hashState(state);
  const verifier = options.pkce ? oauth.generateRandomCodeVerifier() : null;
  const nonce = options.nonce ? oauth.generateRandomNonce() : null;
  const now = deps.clock.now();
  await deps.db
    .insertInto("oauth_states")
    .values({
      state_hash: stateHash,
      workspace_id: binding.workspaceId,
      app_id: binding.appId,
      connector_id: binding.connectorId,
      owner_type: binding.owner.type,
      user_id: ownerUserId(binding.owner),
      return_to: binding.returnTo,
      code_verifier: deps.vault.encryptNullable(verifier, verifierContext(stateHash)),
      nonce,
      connection_values:
        binding.connectionValues === undefined || Object.keys(binding.connectionValues).length === 0
          ? null
          : JSON.stringify(binding.connectionValues),
      created_at: now,
      expires_at: new Date(now.getTime() + stateLifetimeMs),
    })
    .execute();
  await deleteSomeExpiredStates(deps, now, 100);
  return { state, codeChallenge: verifier === null ? null : await oauth.calculatePKCECodeChallenge(verifier), nonce };
}

/**
 * Takes the state out of the table in one statement, so of two concurrent callbacks with the same
 * state only one gets the row. Expired rows are returned too (and thereby removed): the caller
 * decides, so it can tell "expired" from "unknown".
 */
export async function consumeOAuthState(deps: OAuthStateDeps, state: string): Promise<OAuthStateRow | null> {
  const row = await deps.db
    .deleteFrom("oauth_states")
    .where("state_hash", "=", hashState(state))
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

export function decryptVerifier(deps: OAuthStateDeps, row: OAuthStateRow): string | null {
  return deps.vault.decryptNullable(row.code_verifier, verifierContext(row.state_hash));
}

function verifierContext(stateHash: string) {
  return { table: "oauth_states", column: "code_verifier", rowId: stateHash };
}

/**
 * Abandoned flows leave rows behind: each new flow removes a bounded batch of expired ones, and
 * so does the background sweep. Returns how many it removed (at most `limit`).
 */
export async function deleteSomeExpiredStates(
  deps: Pick<OAuthStateDeps, "db">,
  now: Date,
  limit: number,
): Promise<number> {
  const deleted = await deps.db
    .deleteFrom("oauth_states")
    .where(
      "state_hash",
      "in",
      deps.db.selectFrom("oauth_states").select("state_hash").where("expires_at", "<", now).limit(limit),
    )
    .executeTakeFirst();
  return Number(deleted.numDeletedRows);
}
