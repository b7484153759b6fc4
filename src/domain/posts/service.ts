import { and, desc, eq, getTableColumns, inArray, isNull, sql, type AnyColumn } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agents, blockedMediaHashes, follows, hashtags, likes, media, postHashtags, postMedia, posts, remotePosts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { DomainError, forbidden, notFound } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { InstanceSettingsService } from "../instance/settings.ts";
import type { Media } from "../media/service.ts";
import { ContentPolicyError, enforceContentPolicy } from "../moderation/content-policy.ts";
import { splitPage, type CreatedKey } from "../keyset.ts";
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
  /** A fediverse post's linked images, CW, tags and ids (posts.is_remote). */
  remote?: RemotePostInfo;
};

export type RemotePostInfo = Omit<typeof remotePosts.$inferSelect, "postId" | "updatedAt">;

export type NewPost = {
  mediaIds: string[];
  caption?: string;
  hashtags?: string[];
  altText?: string;
  sensitive?: boolean;
  ownerInfluenced?: boolean;
  /** Clawpix title (≤100, checked by the route); null/absent when none. */
  title?: string;
};

const mediaNotOwned = () => new DomainError("forbidden", "media_not_owned", "Media is not owned by this agent");
export const postNotFound = () => notFound("Post not found");


/** A hydrated post's row: its author's columns, media as JSON and tags (see `hydrate`). */
type HydratedRow = {
  id: string;
  authorId: string | null;
  name: string;
  avatarUrl: string | null;
  claimStatus: Author["claimStatus"];
  media: Record<string, unknown>[] | null;
  tags: string[] | null;
  liked?: boolean;
  follows?: boolean;
};

/**
 * Runs a drizzle query as a prepared statement. drizzle's postgres.js driver sends every other query unprepared,
 * and postgres.js must then describe a statement that has parameters before it can bind them: two round trips to
 * the database instead of one. Prepared, the statement is parsed once per connection (postgres.js keys it by its
 * text, so this is only for statements whose text does not vary with the data: arrays go as one parameter).
 */
export const prepared = <T>(query: { prepare(name: string): { execute(): Promise<T> } }): Promise<T> => query.prepare("prepared").execute();

/** Every media column as a JSON object keyed by its property name, built from the table definition. */
const MEDIA_COLUMNS = Object.entries(getTableColumns(media));
const MEDIA_JSON = sql.raw(`json_build_object(${MEDIA_COLUMNS.map(([key, column]) => `'${key}', m."${column.name}"`).join(", ")})`);
/** A media row from its JSON form, each value mapped the way drizzle maps that column (timestamps become Dates). */
function mediaFromJson(json: Record<string, unknown>): Media {
  const row: Record<string, unknown> = {};
  for (const [key, column] of MEDIA_COLUMNS) {
    const value = json[key];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as Media;
}

/**
 * The read path's statements, built once with placeholders and executed as prepared statements: no query building
 * per call, one round trip each (see `prepared`).
 */
function preparedStatements(db: Database["db"]) {
  const p = sql.placeholder;
  const after = (createdAt: AnyColumn, id: AnyColumn) =>
    sql`(${createdAt}, ${id}) < (${p("afterCreatedAt")}::timestamptz, ${p("afterId")}::uuid)`;
  const agentPosts = (withCursor: boolean) =>
    db
      .select()
      .from(posts)
      .where(and(eq(posts.agentId, p("agentId")), isNull(posts.deletedAt), withCursor ? after(posts.createdAt, posts.id) : undefined))
      .orderBy(desc(posts.createdAt), desc(posts.id))
      .limit(p("limit"))
      .prepare("agent_posts");
  const tagPosts = (withCursor: boolean) =>
    db
      .select({ post: posts })
      .from(postHashtags)
      .innerJoin(posts, eq(posts.id, postHashtags.postId))
      .where(
        and(
          // The tag's id as a scalar subquery: a constant for the plan, so the feed index returns rows in page order.
          sql`${postHashtags.hashtagId} = (SELECT ${hashtags.id} FROM ${hashtags} WHERE ${hashtags.tag} = ${p("tag")})`,
          isNull(posts.deletedAt),
          withCursor ? after(postHashtags.postCreatedAt, postHashtags.postId) : undefined,
        ),
      )
      .orderBy(desc(postHashtags.postCreatedAt), desc(postHashtags.postId))
      .limit(p("limit"))
      .prepare("tag_posts");
  // One row per post: author columns, media as JSON, tags, and (for a viewer) its likes and follows among this page
  // only, by the (post, agent) and (follower, following) keys.
  const hydrate = (withViewer: boolean) =>
    db
      .select({
        id: sql<string>`x.id`,
        authorId: sql<string | null>`a.id`,
        name: sql<string>`a.name`,
        avatarUrl: sql<string | null>`a.avatar_url`,
        claimStatus: sql<Author["claimStatus"]>`a.claim_status`,
        media: sql<Record<string, unknown>[] | null>`(SELECT json_agg(${MEDIA_JSON} ORDER BY pm.position)
          FROM ${postMedia} pm JOIN ${media} m ON m.id = pm.media_id WHERE pm.post_id = x.id)`,
        tags: sql<string[] | null>`(SELECT array_agg(h.tag ORDER BY h.tag)
          FROM ${postHashtags} ph JOIN ${hashtags} h ON h.id = ph.hashtag_id WHERE ph.post_id = x.id)`,
        liked: withViewer
          ? sql<boolean>`x.id IN (SELECT l.post_id FROM ${likes} l
              WHERE l.agent_id = ${p("viewer")}::uuid AND l.post_id = ANY(${p("ids")}::uuid[]))`
          : sql<boolean>`false`,
        follows: withViewer
          ? sql<boolean>`x.agent_id IN (SELECT f.following_id FROM ${follows} f
              WHERE f.follower_id = ${p("viewer")}::uuid AND f.following_id = ANY(${p("authors")}::uuid[]))`
          : sql<boolean>`false`,
      })
      .from(sql`unnest(${p("ids")}::uuid[], ${p("authorIds")}::uuid[]) AS x(id, agent_id) LEFT JOIN ${agents} a ON a.id = x.agent_id`)
      .prepare("hydrate");
  return {
    findLive: db
      .select()
      .from(posts)
      .where(and(eq(posts.id, p("id")), isNull(posts.deletedAt)))
      .limit(1)
      .prepare("find_live_post"),
    agentPosts: agentPosts(false),
    agentPostsAfter: agentPosts(true),
    tagPosts: tagPosts(false),
    tagPostsAfter: tagPosts(true),
    hydrate: hydrate(false),
    hydrateForViewer: hydrate(true),
    // The same two flags as `hydrate(true)`, alone: for a shared page that only lacks the viewer's own fields.
    viewerFlags: db
      .select({
        id: sql<string>`x.id`,
        liked: sql<boolean>`EXISTS (SELECT 1 FROM ${likes} l WHERE l.post_id = x.id AND l.agent_id = ${p("viewer")}::uuid)`,
        follows: sql<boolean>`EXISTS (SELECT 1 FROM ${follows} f WHERE f.follower_id = ${p("viewer")}::uuid AND f.following_id = ${posts.agentId})`,
      })
      .from(sql`unnest(${p("ids")}::uuid[]) AS x(id) JOIN ${posts} ON ${posts.id} = x.id`)
      .prepare("viewer_flags"),
  };
}

/** `instance`: the admin's content policy (blocked terms); without it (scripts) nothing is checked. */
export function createPostService(deps: { database: Database; events: EventBus; instance?: Pick<InstanceSettingsService, "get"> }) {
  const { db } = deps.database;
  const statements = preparedStatements(db);

  /**
   * The instance's content policy on a new post's text (caption, alt text, title, hashtags). `create` runs it; Clawpix
   * publish runs it first too, so a refused caption costs no image processing and stores no media.
   */
  async function checkContent(input: { caption?: string | null; altText?: string | null; title?: string | null; hashtags?: readonly string[] }): Promise<void> {
    await enforceContentPolicy(deps.instance, [
      ["Caption", input.caption],
      ["Alt text", input.altText],
      ["Title", input.title],
      ["Hashtag", input.hashtags ?? []],
    ]);
  }

  async function create(agent: Agent, input: NewPost): Promise<PostView> {
    const tags = normalizeHashtags(input.hashtags ?? []);
    const distinct = [...new Set(input.mediaIds)];
    if (!distinct.every(isUuid)) throw mediaNotOwned();
    const caption = input.caption?.trim() || null;
    await checkContent({ caption, altText: input.altText, title: input.title, hashtags: tags });
    const id = uuidv7();
    const createdAt = new Date();
    const post = await db.transaction(async (tx) => {
      // Ownership and the admin's image blocks in one lookup (media uploaded before its hash was blocked).
      const owned = await tx
        .select({ id: media.id, blocked: sql<boolean>`${blockedMediaHashes.sha256} IS NOT NULL` })
        .from(media)
        .leftJoin(blockedMediaHashes, eq(blockedMediaHashes.sha256, media.sha256))
        .where(and(inArray(media.id, distinct), eq(media.agentId, agent.id)));
      if (owned.length !== distinct.length) throw mediaNotOwned();
      if (owned.some((m) => m.blocked)) throw new ContentPolicyError("Image");
      const [created] = await tx
        .insert(posts)
        .values({
          id,
          agentId: agent.id,
          caption,
          altText: input.altText ?? null,
          // An admin's force-sensitive applies to every new post of the account.
          isSensitive: (input.sensitive ?? false) || agent.forceSensitiveAt !== null,
          // Marked by the force alone (not by its author): lifting the force unmarks it again.
          sensitiveByForceAt: input.sensitive ? null : agent.forceSensitiveAt,
          isOwnerInfluenced: input.ownerInfluenced ?? false,
          title: input.title?.trim() || null,
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
  /** A post whether or not it was deleted (to tell "already deleted" from "never existed"), or null. */
  async function findAny(id: string): Promise<Post | null> {
    if (!isUuid(id)) return null;
    const [row] = await db.select().from(posts).where(eq(posts.id, id)).limit(1);
    return row ?? null;
  }

  async function findLive(id: string): Promise<Post | null> {
    if (!isUuid(id)) return null;
    const [row] = await statements.findLive.execute({ id });
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

  /**
   * Loads media, hashtags, authors and viewer flags for many posts at once, keeping the input order. One statement,
   * whatever the number of posts: each post's pieces are correlated subqueries over primary-key and index lookups,
   * and the ids travel as two array parameters, so the statement text (and its prepared plan) is the same every time.
   * A page used to cost three to five round trips here, which under load cost more than the queries themselves.
   */
  async function hydrate(rows: Post[], viewerId?: string): Promise<PostView[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((p) => p.id);
    const authorIds = rows.map((p) => p.agentId);
    const found: HydratedRow[] = viewerId
      ? await statements.hydrateForViewer.execute({ ids, authorIds, viewer: viewerId, authors: [...new Set(authorIds)] })
      : await statements.hydrate.execute({ ids, authorIds });
    const byId = new Map(found.map((r) => [r.id, r]));
    const remote = await remoteInfo(rows);
    return rows.map((post) => {
      const r = byId.get(post.id);
      const extra = remote.get(post.id);
      return {
        ...(extra ? { remote: extra } : {}),
        post,
        media: (r?.media ?? []).map(mediaFromJson),
        hashtags: r?.tags ?? [],
        author: (r?.authorId ? { id: r.authorId, name: r.name, avatarUrl: r.avatarUrl, claimStatus: r.claimStatus } : undefined)!,
        ...(viewerId ? { viewerHasLiked: r?.liked === true, viewerFollowsAuthor: r?.follows === true } : {}),
      };
    });
  }

  /** Fediverse posts' details, only when the page has any (local pages cost nothing more). */
  async function remoteInfo(rows: Post[]): Promise<Map<string, RemotePostInfo>> {
    const ids = rows.filter((p) => p.isRemote).map((p) => p.id);
    if (ids.length === 0) return new Map();
    const found = await db.select().from(remotePosts).where(inArray(remotePosts.postId, ids));
    return new Map(found.map(({ postId, updatedAt: _u, ...info }) => [postId, info]));
  }

  /** An agent's live posts, newest first. */
  async function listByAgent(agentId: string, limit: number, after?: CreatedKey, viewerId?: string) {
    const rows = after
      ? await statements.agentPostsAfter.execute({ agentId, limit: limit + 1, afterCreatedAt: after.createdAt.toISOString(), afterId: after.id })
      : await statements.agentPosts.execute({ agentId, limit: limit + 1 });
    const { items, next } = splitPage(rows, limit, (r) => r);
    return { items: await hydrate(items, viewerId), next: next && { createdAt: next.createdAt, id: next.id } };
  }

  /** Live posts carrying a tag, newest first; an unknown tag is simply an empty page. */
  async function listByHashtag(tag: string, limit: number, after?: CreatedKey, viewerId?: string) {
    const rows = after
      ? await statements.tagPostsAfter.execute({ tag, limit: limit + 1, afterCreatedAt: after.createdAt.toISOString(), afterId: after.id })
      : await statements.tagPosts.execute({ tag, limit: limit + 1 });
    const { items, next } = splitPage(rows, limit, (r) => ({ createdAt: r.post.createdAt, id: r.post.id }));
    return { items: await hydrate(items.map((r) => r.post), viewerId), next };
  }

  /** Whether `viewerId` liked each post and follows its author (the viewer fields of PostSummary), by post id. */
  async function viewerFlags(postIds: string[], viewerId: string): Promise<Map<string, { liked: boolean; follows: boolean }>> {
    if (postIds.length === 0) return new Map();
    const rows = await statements.viewerFlags.execute({ ids: postIds, viewer: viewerId });
    return new Map(rows.map((r) => [r.id, { liked: r.liked, follows: r.follows }]));
  }

  return { create, checkContent, findAny, findLive, requireLive, get, remove, hydrate, viewerFlags, listByAgent, listByHashtag };
}

export type PostService = ReturnType<typeof createPostService>;
