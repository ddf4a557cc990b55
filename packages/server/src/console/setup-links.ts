import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/open-database.ts";
import { notFound } from "../errors/app-error.ts";
import { newId } from "../kernel/ids.ts";

/**
 * One-time setup links: how a member sets (or resets) their console password. The link carries a
 * 256-bit token in its fragment (`/console/setup#token=…`, never sent in a request line, a log or a
 * Referer); the database keeps its SHA-256. A link works once, until it expires; issuing a new
 * one for a member voids their earlier unused links.
 */
export const setupLinkLifetimeMs = 72 * 60 * 60 * 1000;

export interface IssuedSetupLink {
  setupUrl: string;
  expiresAt: Date;
  memberId: string;
}

export const hashSetupToken = (token: string) => createHash("sha256").update(token).digest("base64url");

export function setupUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/console/setup#token=${token}`;
}

/** A new setup link for a member of the workspace, named by id or email. */
export async function issueSetupLink(
  deps: { db: Db; clock: { now(): Date }; config: { publicUrl: string } },
  input: { workspaceId: string } & ({ memberId: string } | { email: string }),
): Promise<IssuedSetupLink> {
  return deps.db.transaction().execute(async (trx) => {
    let query = trx.selectFrom("members").select("id").where("workspace_id", "=", input.workspaceId);
    query = "memberId" in input ? query.where("id", "=", input.memberId) : query.where("email", "=", input.email);
    const member = await query.executeTakeFirst();
    if (!member) throw notFound("Member");
    return createSetupLink(trx, {
      workspaceId: input.workspaceId,
      memberId: member.id,
      now: deps.clock.now(),
      publicUrl: deps.config.publicUrl,
    });
  });
}

/** Voids the member's unused links and stores a new one; run it in the caller's transaction. */
export async function createSetupLink(
  db: Db,
  input: { workspaceId: string; memberId: string; now: Date; publicUrl: string },
): Promise<IssuedSetupLink> {
  await db
    .updateTable("console_setup_links")
    .set({ used_at: input.now })
    .where("member_id", "=", input.memberId)
    .where("used_at", "is", null)
    .execute();
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(input.now.getTime() + setupLinkLifetimeMs);
  await db
    .insertInto("console_setup_links")
    .values({
      id: newId("stl"),
      member_id: input.memberId,
      workspace_id: input.workspaceId,
      token_hash: hashSetupToken(token),
      created_at: input.now,
      expires_at: expiresAt,
      used_at: null,
    })
    .execute();
  return { setupUrl: setupUrl(input.publicUrl, token), expiresAt, memberId: input.memberId };
}
