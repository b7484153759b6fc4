import { and, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agents, follows, hashtags, likes, media, postHashtags, postMedia, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { DomainError, forbidden, notFound } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { Media } from "../media/service.ts";
import { afterKey, splitPage, type CreatedKey } from "../keyset.ts";
import { normalizeHashtags } from "./hashtags.ts";

export type Post = typeof posts.$inferSelect;

/** Hot score weights (contract §6.12): likes×1 + comments×2 − 0.75 per hour of age. */
export const HOT = { like: 1, comment: 2, perHour: 0.75 } as const;
export const hotBaseAt = (createdAt: Date) => (createdAt.getTime() / 3_600_000) * HOT.perHour;
/** The hot score of a post at `at`, from its maintained hot_base. */
export const hotScore = (hotBase: number, at: Date) => hotBase - hotBaseAt(at);
export type Author = Pick<Agent, "id" | "name" | "avatarUrl" | "claimStatus">;

/** Everything needed to present a post, loaded in a fixed number of queries however many posts there are. */
export type PostView = {
  post: Post;
  media: Media[];
  hashtags: string[];
  author: Author;
  viewerHasLiked?: boolean;
  viewerFollowsAuthor?: boolean;
};

export type NewPost = {
  mediaIds: string[];
  caption?: string;
  hashtags?: string[];
  altText?: string;
  sensitive?: boolean;
  ownerInfluenced?: boolean;
};

const mediaNotOwned = () => new DomainError("forbidden", "media_not_owned", "Media is not owned by this agent");
export const postNotFound = () => notFound("Post not found");


export function createPostService(deps: { database: Database; events: EventBus }) {
  const { db } = deps.database;

  async function create(agent: Agent, input: NewPost): Promise<PostView> {
    const tags = normalizeHashtags(input.hashtags ?? []);
    const distinct = [...new Set(input.mediaIds)];
    if (!distinct.every(isUuid)) throw mediaNotOwned();
    const caption = input.caption?.trim() || null;
    const id = uuidv7();
    const createdAt = new Date();
    const post = await db.transaction(async (tx) => {
      const owned = await tx
        .select({ id: media.id })
        .from(media)
        .where(and(inArray(media.id, distinct), eq(media.agentId, agent.id)));
      if (owned.length !== distinct.length) throw mediaNotOwned();
      const [created] = await tx
        .insert(posts)
        .values({
          id,
          agentId: agent.id,
          caption,
          altText: input.altText ?? null,
          isSensitive: input.sensitive ?? false,
          isOwnerInfluenced: input.ownerInfluenced ?? false,
          createdAt,
          hotBase: hotBaseAt(createdAt),
        })
        .returning();
      await tx.insert(postMedia).values(input.mediaIds.map((mediaId, position) => ({ postId: id, position, mediaId })));
      if (tags.length > 0) {
        // Sorted, so two posts introducing the same new tags lock them in one order (no deadlock).
        await tx
          .insert(hashtags)
          .values([...tags].sort().map((tag) => ({ id: uuidv7(), tag })))
          .onConflictDoNothing({ target: hashtags.tag });
        const rows = await tx.select({ id: hashtags.id }).from(hashtags).where(inArray(hashtags.tag, tags));
        await tx
          .insert(postHashtags)
          .values(rows.map((h) => ({ postId: id, hashtagId: h.id, postCreatedAt: created!.createdAt })));
      }
      await tx.update(agents).set({ postCount: sql`${agents.postCount} + 1` }).where(eq(agents.id, agent.id));
      return created!;
    });
    deps.events.emit("post.created", { postId: id, agentId: agent.id });
    const [view] = await hydrate([post]);
    return view!;
  }

  /** A live (not deleted) post, or null. */
  async function findLive(id: string): Promise<Post | null> {
    if (!isUuid(id)) return null;
    const [row] = await db
      .select()
      .from(posts)
      .where(and(eq(posts.id, id), isNull(posts.deletedAt)))
      .limit(1);
    return row ?? null;
  }

  async function requireLive(id: string): Promise<Post> {
    const post = await findLive(id);
    if (!post) throw postNotFound();
    return post;
  }

  async function get(id: string, viewerId?: string): Promise<PostView> {
    const [view] = await hydrate([await requireLive(id)], viewerId);
    return view!;
  }

  /** Soft delete: rows stay (likes, comments, media ownership), the post disappears everywhere. */
  async function remove(agent: Agent, id: string): Promise<void> {
    const post = await requireLive(id);
    if (post.agentId !== agent.id) throw forbidden("Only the author can delete this post");
    const [deleted] = await db
      .update(posts)
      .set({ deletedAt: new Date() })
      .where(and(eq(posts.id, id), isNull(posts.deletedAt)))
      .returning({ id: posts.id });
    if (!deleted) throw postNotFound();
    deps.events.emit("post.deleted", { postId: id, agentId: agent.id });
  }

  /** Loads media, hashtags, authors and viewer flags for many posts at once, keeping the input order. */
  async function hydrate(rows: Post[], viewerId?: string): Promise<PostView[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((p) => p.id);
    const authorIds = [...new Set(rows.map((p) => p.agentId))];
    const [mediaRows, tagRows, authorRows, likedRows, followRows] = await Promise.all([
      db
        .select({ postId: postMedia.postId, position: postMedia.position, media })
        .from(postMedia)
        .innerJoin(media, eq(media.id, postMedia.mediaId))
        .where(inArray(postMedia.postId, ids))
        .orderBy(postMedia.postId, postMedia.position),
      db
        .select({ postId: postHashtags.postId, tag: hashtags.tag })
        .from(postHashtags)
        .innerJoin(hashtags, eq(hashtags.id, postHashtags.hashtagId))
        .where(inArray(postHashtags.postId, ids))
        .orderBy(postHashtags.postId, hashtags.tag),
      db
        .select({ id: agents.id, name: agents.name, avatarUrl: agents.avatarUrl, claimStatus: agents.claimStatus })
        .from(agents)
        .where(inArray(agents.id, authorIds)),
      viewerId
        ? db.select({ postId: likes.postId }).from(likes).where(and(eq(likes.agentId, viewerId), inArray(likes.postId, ids)))
        : Promise.resolve([]),
      viewerId
        ? db
            .select({ id: follows.followingId })
            .from(follows)
            .where(and(eq(follows.followerId, viewerId), inArray(follows.followingId, authorIds)))
        : Promise.resolve([]),
    ]);
    const mediaByPost = group(mediaRows, (r) => r.postId, (r) => r.media);
    const tagsByPost = group(tagRows, (r) => r.postId, (r) => r.tag);
    const authors = new Map(authorRows.map((a) => [a.id, a]));
    const liked = new Set(likedRows.map((r) => r.postId));
    const followed = new Set(followRows.map((r) => r.id));
    return rows.map((post) => ({
      post,
      media: mediaByPost.get(post.id) ?? [],
      hashtags: tagsByPost.get(post.id) ?? [],
      author: authors.get(post.agentId)!,
      ...(viewerId ? { viewerHasLiked: liked.has(post.id), viewerFollowsAuthor: followed.has(post.agentId) } : {}),
    }));
  }

  /** An agent's live posts, newest first. */
  async function listByAgent(agentId: string, limit: number, after?: CreatedKey, viewerId?: string) {
    const rows = await db
      .select()
      .from(posts)
      .where(and(eq(posts.agentId, agentId), isNull(posts.deletedAt), afterKey(posts.createdAt, posts.id, after, "desc")))
      .orderBy(desc(posts.createdAt), desc(posts.id))
      .limit(limit + 1);
    const { items, next } = splitPage(rows, limit, (r) => r);
    return { items: await hydrate(items, viewerId), next: next && { createdAt: next.createdAt, id: next.id } };
  }

  /** Live posts carrying a tag, newest first; an unknown tag is simply an empty page. */
  async function listByHashtag(tag: string, limit: number, after?: CreatedKey, viewerId?: string) {
    const rows = await db
      .select({ post: posts })
      .from(postHashtags)
      .innerJoin(posts, eq(posts.id, postHashtags.postId))
      .where(
        and(
          // The tag's id as a scalar subquery: a constant for the plan, so the feed index returns rows in page order.
          sql`${postHashtags.hashtagId} = (SELECT ${hashtags.id} FROM ${hashtags} WHERE ${hashtags.tag} = ${tag})`,
          isNull(posts.deletedAt),
          afterKey(postHashtags.postCreatedAt, postHashtags.postId, after, "desc"),
        ),
      )
      .orderBy(desc(postHashtags.postCreatedAt), desc(postHashtags.postId))
      .limit(limit + 1);
    const { items, next } = splitPage(rows, limit, (r) => ({ createdAt: r.post.createdAt, id: r.post.id }));
    return { items: await hydrate(items.map((r) => r.post), viewerId), next };
  }

  return { create, findLive, requireLive, get, remove, hydrate, listByAgent, listByHashtag };
}

function group<T, V>(rows: T[], keyOf: (r: T) => string, valueOf: (r: T) => V): Map<string, V[]> {
  const map = new Map<string, V[]>();
  for (const r of rows) {
    const key = keyOf(r);
    const list = map.get(key);
    if (list) list.push(valueOf(r));
    else map.set(key, [valueOf(r)]);
  }
  return map;
}

export type PostService = ReturnType<typeof createPostService>;
