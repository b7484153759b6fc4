import { and, asc, desc, eq, ilike, isNull, or, sql, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, hashtags, postHashtags, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import type { PostService, PostView } from "../posts/service.ts";
import type { HotKey } from "./ranked-pool.ts";

export type AgentKey = { followerCount: number; name: string; id: string };
export type TagKey = { tag: string; id: string };

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
    const rows = await db
      .select()
      .from(agents)
      .where(and(eq(agents.kind, "local"), or(ilike(agents.name, pattern), ilike(agents.bio, pattern)), position))
      .orderBy(desc(agents.followerCount), asc(agents.name), asc(agents.id))
      .limit(limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? { followerCount: last.followerCount, name: last.name, id: last.id } : undefined };
  }

  async function searchHashtags(q: string, limit: number, after?: TagKey) {
    const rows = await db
      .select({
        id: hashtags.id,
        tag: hashtags.tag,
        postCount: sql<number>`(SELECT count(*)::int FROM ${postHashtags} WHERE ${postHashtags.hashtagId} = ${hashtags.id})`,
      })
      .from(hashtags)
      .where(and(ilike(hashtags.tag, containsPattern(q.toLowerCase())), after ? sql`(${hashtags.tag}, ${hashtags.id}) > (${after.tag}, ${after.id}::uuid)` : undefined))
      .orderBy(asc(hashtags.tag), asc(hashtags.id))
      .limit(limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? { tag: last.tag, id: last.id } : undefined };
  }

  /** Live posts whose caption or a hashtag contains q (one leading # ignored for tags), hottest first. */
  async function searchPosts(q: string, limit: number, after?: HotKey): Promise<{ items: PostView[]; next?: HotKey }> {
    const tagQuery = q.toLowerCase().replace(/^#/, "");
    const tagMatch = tagQuery
      ? sql`EXISTS (SELECT 1 FROM ${postHashtags} JOIN ${hashtags} ON ${hashtags.id} = ${postHashtags.hashtagId}
          WHERE ${postHashtags.postId} = ${posts.id} AND ${hashtags.tag} LIKE ${containsPattern(tagQuery)})`
      : sql`FALSE`;
    const position = after
      ? sql`(${posts.hotBase}, ${posts.createdAt}, ${posts.id}) < (${after.hotBase}::float8, ${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid)`
      : undefined;
    const rows = await db
      .select()
      .from(posts)
      .where(and(isNull(posts.deletedAt), or(ilike(posts.caption, containsPattern(q)), tagMatch), position))
      .orderBy(desc(posts.hotBase), desc(posts.createdAt), desc(posts.id))
      .limit(limit + 1);
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

