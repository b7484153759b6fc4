import { and, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import type { EventBus } from "../events.ts";
import { uuidv7 } from "../../db/ids.ts";
import { agents, posts, remotePosts, type RemoteAttachment } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { hotBaseAt } from "../posts/service.ts";

/**
 * A fediverse post as the federation layer hands it over: plain data, text already reduced to plain text. The rules
 * below decide what of it we keep.
 */
export type RemoteNote = {
  iri: string;
  url: string | null;
  text: string;
  contentWarning: string | null;
  sensitive: boolean;
  published: Date | null;
  attachments: RemoteAttachment[];
  hashtags: string[];
};

export const REMOTE_POST_LIMITS = { text: 5000, contentWarning: 500, altText: 1500, attachments: 10, hashtags: 20, url: 2048 } as const;

/** Image types we show (the formats of our own media); other attachments are skipped. */
const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
const EXTENSION_TYPES: Record<string, string> = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp" };

const httpUrl = (raw: string | null | undefined): string | null => {
  if (!raw || raw.length > REMOTE_POST_LIMITS.url) return null;
  try {
    const u = new URL(raw);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
};
const dimension = (n: number | null) => (n !== null && Number.isInteger(n) && n > 0 && n <= 100_000 ? n : null);
const clip = (s: string | null | undefined, max: number) => {
  const t = s?.trim();
  if (!t) return null;
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/**
 * What we keep of a fediverse post, or null when we don't keep it at all: its id must live on its author's server, and
 * it must carry at least one image (this is an image network; text-only notes are skipped). Everything is bounded.
 */
export function acceptableNote(author: Agent, note: RemoteNote): RemoteNote | null {
  const iri = httpUrl(note.iri);
  if (!iri || !author.actorIri || new URL(iri).origin !== new URL(author.actorIri).origin) return null;
  const attachments: RemoteAttachment[] = [];
  for (const a of note.attachments) {
    const url = httpUrl(a.url);
    if (!url) continue;
    const ext = new URL(url).pathname.split(".").pop()?.toLowerCase() ?? "";
    const mediaType = a.mediaType?.toLowerCase().split(";")[0]?.trim() || EXTENSION_TYPES[ext] || "";
    if (!IMAGE_TYPES.has(mediaType)) continue;
    attachments.push({
      url,
      mediaType,
      width: dimension(a.width),
      height: dimension(a.height),
      altText: clip(a.altText, REMOTE_POST_LIMITS.altText),
      blurhash: a.blurhash && /^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{6,100}$/.test(a.blurhash) ? a.blurhash : null,
    });
    if (attachments.length === REMOTE_POST_LIMITS.attachments) break;
  }
  if (attachments.length === 0) return null;
  const hashtags = [
    ...new Set(
      note.hashtags
        .map((t) => t.replace(/^#/, "").trim().toLowerCase())
        .filter((t) => /^[\p{L}\p{N}_]{1,30}$/u.test(t)),
    ),
  ].slice(0, REMOTE_POST_LIMITS.hashtags);
  const contentWarning = clip(note.contentWarning, REMOTE_POST_LIMITS.contentWarning);
  return {
    iri,
    url: httpUrl(note.url),
    text: clip(note.text, REMOTE_POST_LIMITS.text) ?? "",
    contentWarning,
    sensitive: note.sensitive || contentWarning !== null,
    published: note.published,
    attachments,
    hashtags,
  };
}

export type StoredRemotePost = { postId: string; agentId: string; deleted: boolean };

/**
 * Fediverse posts from accounts our agents follow, stored as posts by remote agents (so likes, comments and the
 * following feed work unchanged) plus a remote_posts row with the linked images, CW and tags. Posts are never
 * re-hosted; changes and deletions are honoured only from their author.
 */
export function createRemotePostService(deps: { database: Database; events?: EventBus }) {
  const { db } = deps.database;

  async function findByIri(iri: string): Promise<StoredRemotePost | null> {
    const [row] = await db
      .select({ postId: remotePosts.postId, agentId: posts.agentId, deletedAt: posts.deletedAt })
      .from(remotePosts)
      .innerJoin(posts, eq(posts.id, remotePosts.postId))
      .where(eq(remotePosts.iri, iri))
      .limit(1);
    return row ? { postId: row.postId, agentId: row.agentId, deleted: row.deletedAt !== null } : null;
  }

  /** Stores a post once (idempotent by its id); returns the post id, or null when it is not kept. */
  async function ingest(author: Agent, raw: RemoteNote): Promise<{ postId: string; created: boolean } | null> {
    if (author.kind !== "remote") return null;
    const note = acceptableNote(author, raw);
    if (!note) return null;
    const existing = await findByIri(note.iri);
    if (existing) return existing.agentId === author.id ? { postId: existing.postId, created: false } : null;
    const now = new Date();
    const createdAt = note.published && note.published < now ? note.published : now;
    const id = uuidv7();
    const created = await db.transaction(async (tx) => {
      // The id claims the post: of two deliveries racing, the second inserts nothing and rolls its post row back.
      await tx.insert(posts).values({
        id,
        agentId: author.id,
        caption: note.text || null,
        altText: note.attachments[0]?.altText ?? null,
        // An admin's force-sensitive covers the account's new posts too, remembered as the force's (lifting it undoes it).
        isSensitive: note.sensitive || author.forceSensitiveAt !== null,
        sensitiveByForceAt: note.sensitive ? null : author.forceSensitiveAt,
        createdAt,
        hotBase: hotBaseAt(createdAt),
        isRemote: true,
      });
      const [claimed] = await tx
        .insert(remotePosts)
        .values({ postId: id, iri: note.iri, url: note.url, contentWarning: note.contentWarning, hashtags: note.hashtags, attachments: note.attachments })
        .onConflictDoNothing({ target: remotePosts.iri })
        .returning({ postId: remotePosts.postId });
      if (!claimed) {
        await tx.delete(posts).where(eq(posts.id, id));
        return false;
      }
      await tx.update(agents).set({ postCount: sql`${agents.postCount} + 1` }).where(eq(agents.id, author.id));
      return true;
    });
    if (!created) {
      const again = await findByIri(note.iri);
      return again && again.agentId === author.id ? { postId: again.postId, created: false } : null;
    }
    return { postId: id, created: true };
  }

  /** An edit (`Update`) from the post's own author; anyone else's changes nothing. */
  async function update(author: Agent, raw: RemoteNote): Promise<boolean> {
    const note = acceptableNote(author, raw);
    if (!note) return false;
    const existing = await findByIri(note.iri);
    if (!existing || existing.deleted || existing.agentId !== author.id) return false;
    await db.transaction(async (tx) => {
      await tx
        .update(posts)
        .set({
          caption: note.text || null,
          altText: note.attachments[0]?.altText ?? null,
          isSensitive: note.sensitive || author.forceSensitiveAt !== null,
          sensitiveByForceAt: note.sensitive ? null : author.forceSensitiveAt,
        })
        .where(eq(posts.id, existing.postId));
      await tx
        .update(remotePosts)
        .set({ url: note.url, contentWarning: note.contentWarning, hashtags: note.hashtags, attachments: note.attachments, updatedAt: new Date() })
        .where(eq(remotePosts.postId, existing.postId));
    });
    deps.events?.emit("remote.posts.changed", { postIds: [existing.postId], removed: false });
    return true;
  }

  /** A deletion from the post's own author: the post disappears everywhere (soft delete, like local posts). */
  async function remove(author: Agent, iri: string): Promise<boolean> {
    const existing = await findByIri(iri);
    if (!existing || existing.agentId !== author.id) return false;
    const [row] = await db
      .update(posts)
      .set({ deletedAt: new Date() })
      .where(and(eq(posts.id, existing.postId), isNull(posts.deletedAt)))
      .returning({ id: posts.id });
    if (row) deps.events?.emit("remote.posts.changed", { postIds: [row.id], removed: true });
    return !!row;
  }

  /** The account itself was deleted: all its posts go. */
  async function removeAllBy(author: Agent): Promise<number> {
    if (author.kind !== "remote") return 0;
    const rows = await db
      .update(posts)
      .set({ deletedAt: new Date() })
      .where(and(eq(posts.agentId, author.id), isNull(posts.deletedAt)))
      .returning({ id: posts.id });
    if (rows.length > 0) deps.events?.emit("remote.posts.changed", { postIds: rows.map((r) => r.id), removed: true });
    return rows.length;
  }

  /** Records a locally cached thumbnail of one attachment (REMOTE_MEDIA_THUMBNAILS). */
  async function setThumbnail(postId: string, index: number, key: string): Promise<void> {
    await db
      .update(remotePosts)
      .set({
        attachments: sql`jsonb_set(${remotePosts.attachments}, ${`{${index},thumbnailKey}`}::text[], to_jsonb(${key}::text))`,
      })
      .where(eq(remotePosts.postId, postId));
  }

  async function attachmentsOf(postId: string): Promise<RemoteAttachment[]> {
    const [row] = await db.select({ a: remotePosts.attachments }).from(remotePosts).where(eq(remotePosts.postId, postId));
    return row?.a ?? [];
  }

  return { findByIri, ingest, update, remove, removeAllBy, setThumbnail, attachmentsOf };
}

export type RemotePostService = ReturnType<typeof createRemotePostService>;
