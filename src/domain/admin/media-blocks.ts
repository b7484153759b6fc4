import { asc, eq } from "drizzle-orm";
import type { Database, Db } from "../../db/client.ts";
import { blockedMediaHashes, media, postMedia } from "../../db/schema.ts";
import { invalid, notFound } from "../errors.ts";
import { writeAudit } from "./audit.ts";

export type BlockedMediaHash = typeof blockedMediaHashes.$inferSelect;
type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

const SHA256 = /^[0-9a-f]{64}$/;

/** A hash as stored: lower-case hex, 64 digits. */
export function parseSha256(value: string): string {
  const hash = value.trim().toLowerCase();
  if (!SHA256.test(hash)) throw invalid("Not a SHA-256 hash", "64 hexadecimal digits, as in the media's sha256");
  return hash;
}

/**
 * Blocks the images of a post by content hash, inside the caller's transaction (a report resolution): every image the
 * post carries is recorded, one audit entry each. Returns the hashes newly blocked.
 */
export async function blockPostMediaIn(tx: Tx, postId: string, actor: string, reason?: string | null): Promise<string[]> {
  const rows = await tx
    .select({ sha256: media.sha256 })
    .from(postMedia)
    .innerJoin(media, eq(media.id, postMedia.mediaId))
    .where(eq(postMedia.postId, postId));
  const hashes = [...new Set(rows.map((r) => r.sha256))];
  if (hashes.length === 0) return [];
  const added = await tx
    .insert(blockedMediaHashes)
    .values(hashes.map((sha256) => ({ sha256, createdBy: actor, reason: reason ?? null, sourcePostId: postId })))
    .onConflictDoNothing({ target: blockedMediaHashes.sha256 })
    .returning({ sha256: blockedMediaHashes.sha256 });
  for (const { sha256 } of added) {
    await writeAudit(tx, { actor, action: "media.block", targetType: "media_hash", targetId: sha256, reason, details: { postId } });
  }
  return added.map((r) => r.sha256);
}

/** The admin's list of blocked image hashes: uploads of those exact bytes are refused. */
export function createMediaBlocks(deps: { database: Database }) {
  const { db } = deps.database;
  return {
    list: (): Promise<BlockedMediaHash[]> => db.select().from(blockedMediaHashes).orderBy(asc(blockedMediaHashes.createdAt), asc(blockedMediaHashes.sha256)),

    /** Idempotent: blocking a blocked hash answers the existing block (`created: false`) and audits nothing. */
    async add(value: string, actor: string, reason?: string | null): Promise<{ block: BlockedMediaHash; created: boolean }> {
      const sha256 = parseSha256(value);
      return db.transaction(async (tx) => {
        const [row] = await tx
          .insert(blockedMediaHashes)
          .values({ sha256, createdBy: actor, reason: reason ?? null })
          .onConflictDoNothing({ target: blockedMediaHashes.sha256 })
          .returning();
        if (!row) {
          const [existing] = await tx.select().from(blockedMediaHashes).where(eq(blockedMediaHashes.sha256, sha256));
          return { block: existing!, created: false };
        }
        await writeAudit(tx, { actor, action: "media.block", targetType: "media_hash", targetId: sha256, reason });
        return { block: row, created: true };
      });
    },

    async remove(value: string, actor: string, reason?: string | null): Promise<BlockedMediaHash> {
      const sha256 = parseSha256(value);
      return db.transaction(async (tx) => {
        const [row] = await tx.delete(blockedMediaHashes).where(eq(blockedMediaHashes.sha256, sha256)).returning();
        if (!row) throw notFound("This image hash is not blocked");
        await writeAudit(tx, { actor, action: "media.unblock", targetType: "media_hash", targetId: sha256, reason });
        return row;
      });
    },
  };
}

export type MediaBlocks = ReturnType<typeof createMediaBlocks>;
