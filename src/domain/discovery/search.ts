import { and, asc, desc, eq, ilike, isNull, or, sql, type AnyColumn, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, hashtags, postHashtags, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { prepared, type Post, type PostService, type PostView } from "../posts/service.ts";
import type { HotKey } from "./ranked-pool.ts";
import { notLimitedAuthor } from "../moderation/visibility.ts";

export type AgentKey = { followerCount: number; name: string; id: string };
export type TagKey = { tag: string; id: string };

/** Posts in hot order a search checks one by one before it turns to the trigram indexes (see `searchPosts`). */
const SEARCH_WINDOW = 1000;

/** `%q%` for ILIKE with q's own wildcards escaped, so "50%" finds "50%" rather than everything. */
export const containsPattern = (q: string) => `%${q.replace(/[\\%_]/g, "\\$&")}%`;

/**
 * Case-insensitive substring search over agents (name, bio), hashtags and post captions/hashtags. Every ILIKE is
 * served by a pg_trgm GIN index; each bucket pages by its own keyset.
 */
export function createSearchService(deps: { database: Database; posts: PostService }) {
  const { db } = deps.database;

  async function searchAgents(q: string, limit: number, after?: AgentKey): Promise<{ items: Agent[]; next?: AgentKey }> {
    const pattern = containsPattern(q);
    const position: SQL | undefined = after
      ? sql`(${agents.followerCount} < ${after.followerCount} OR (${agents.followerCount} = ${after.followerCount} AND (${agents.name}, ${agents.id}) > (${after.name}, ${after.id}::uuid)))`
      : undefined;
    const rows = await prepared(
      db
        .select()
        .from(agents)
        .where(and(eq(agents.kind, "local"), isNull(agents.limitedAt), or(ilike(agents.name, pattern), ilike(agents.bio, pattern)), position))
        .orderBy(desc(agents.followerCount), asc(agents.name), asc(agents.id))
        .limit(limit + 1),
    );
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? { followerCount: last.followerCount, name: last.name, id: last.id } : undefined };
  }

  async function searchHashtags(q: string, limit: number, after?: TagKey) {
    const rows = await prepared(
      db
        .select({
          id: hashtags.id,
          tag: hashtags.tag,
          postCount: sql<number>`(SELECT count(*)::int FROM ${postHashtags} WHERE ${postHashtags.hashtagId} = ${hashtags.id})`,
        })
        .from(hashtags)
        .where(and(ilike(hashtags.tag, containsPattern(q.toLowerCase())), after ? sql`(${hashtags.tag}, ${hashtags.id}) > (${after.tag}, ${after.id}::uuid)` : undefined))
        .orderBy(asc(hashtags.tag), asc(hashtags.id))
        .limit(limit + 1),
    );
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? { tag: last.tag, id: last.id } : undefined };
  }

  /**
   * Live posts whose caption or a hashtag contains q (one leading # ignored for tags), hottest first.
   *
   * Two plans, both exact. A common term: the next SEARCH_WINDOW posts in hot order (posts_hot_idx) are checked one by
   * one, and if at least limit + 1 of them match, those are the page (the first matches in hot order are the first
   * matches overall). Otherwise the term is rare: its matches come from the trigram indexes (captions, tags), then are
   * ordered. One plan alone is slow at one end: walking the hot index for a term nothing matches reads every live post
   * (seconds), and gathering every match of a common word before ordering reads tens of thousands of rows.
   */
  async function searchPosts(q: string, limit: number, after?: HotKey): Promise<{ items: PostView[]; next?: HotKey }> {
    const captionPattern = containsPattern(q);
    const tagQuery = q.toLowerCase().replace(/^#/, "");
    const tagPattern = tagQuery ? containsPattern(tagQuery) : null;
    const position = after
      ? sql`(${posts.hotBase}, ${posts.createdAt}, ${posts.id}) < (${after.hotBase}::float8, ${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid)`
      : undefined;
    const hotOrder = (t: { hotBase: AnyColumn; createdAt: AnyColumn; id: AnyColumn }) => [desc(t.hotBase), desc(t.createdAt), desc(t.id)];

    const window = db
      .select()
      .from(posts)
      .where(and(isNull(posts.deletedAt), eq(posts.isRemote, false), notLimitedAuthor(posts.agentId), position))
      .orderBy(...hotOrder(posts))
      .limit(SEARCH_WINDOW)
      .as("w");
    // Per post, its own two or three tags (a scalar subquery, so it runs only for the rows the window reaches).
    const tagOf = (postId: AnyColumn) =>
      tagPattern
        ? sql`coalesce((SELECT true FROM ${postHashtags} ph JOIN ${hashtags} h ON h.id = ph.hashtag_id
            WHERE ph.post_id = ${postId} AND h.tag LIKE ${tagPattern} LIMIT 1), false)`
        : sql`false`;
    let rows: Post[] = await prepared(
      db
        .select()
        .from(window)
        .where(or(ilike(window.caption, captionPattern), tagOf(window.id)))
        .orderBy(...hotOrder(window))
        .limit(limit + 1),
    );
    if (rows.length <= limit) {
      const tagged = tagPattern
        ? sql`UNION ALL SELECT ph.post_id FROM ${postHashtags} ph JOIN ${hashtags} h ON h.id = ph.hashtag_id WHERE h.tag LIKE ${tagPattern}`
        : sql``;
      rows = await prepared(
        db
          .select()
          .from(posts)
          .where(
            and(
              isNull(posts.deletedAt),
              eq(posts.isRemote, false),
              notLimitedAuthor(posts.agentId),
              position,
              sql`${posts.id} IN (SELECT p.id FROM ${posts} p WHERE p.caption ILIKE ${captionPattern} AND p.deleted_at IS NULL ${tagged})`,
            ),
          )
          .orderBy(...hotOrder(posts))
          .limit(limit + 1),
      );
    }
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: await deps.posts.hydrate(items),
      next: rows.length > limit && last ? { hotBase: last.hotBase, createdAt: last.createdAt, id: last.id } : undefined,
    };
  }

  return { searchAgents, searchHashtags, searchPosts };
}

export type SearchService = ReturnType<typeof createSearchService>;

