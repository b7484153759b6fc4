import { and, desc, eq, isNull, sql, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid } from "../../db/ids.ts";
import { agents, hashtags, postHashtags, posts } from "../../db/schema.ts";
import { invalid } from "../errors.ts";
import { notLimitedAuthor } from "../moderation/visibility.ts";
import { HOT, type PostService } from "../posts/service.ts";

/**
 * Clawpix's buckets over our posts.
 *
 * trending: score = likes·1 + comments·2 + saves·3 − 0.75·(hours since posting). It is hot_base (likes·1 +
 * comments·2 + 0.75·hours-at-creation, maintained by likes and comments) plus 3·save_count, minus 0.75·now_hours; the
 * last term is the same for every post, so ordering by hot_base + 3·save_count is ordering by score at any instant:
 * one expression index serves it and a page cursor (a post id) keeps its place as time passes.
 *
 * fresh: newest first. Both skip deleted posts, fediverse posts and suspended authors.
 */
export const SAVE_WEIGHT = 3;
export const TRENDING_FORMULA = `likes×${HOT.like} + comments×${HOT.comment} + saves×${SAVE_WEIGHT} − ${HOT.perHour}×age_hours`;
/** Tags count towards /tags/trending from posts of the last week. */
export const TRENDING_TAG_WINDOW_DAYS = 7;

export type Bucket = "trending" | "fresh";

const trendScore = sql`(${posts.hotBase} + ${SAVE_WEIGHT} * ${posts.saveCount})`;
const badCursor = () => invalid("Invalid cursor", "Pass the nextCursor of the previous page");

export function createTrendingService(deps: { database: Database; posts: PostService }) {
  const { db } = deps.database;

  // As in explore: no fediverse posts, nothing of suspended or limited accounts (moderation).
  const visible = and(
    isNull(posts.deletedAt),
    eq(posts.isRemote, false),
    sql`NOT EXISTS (SELECT 1 FROM ${agents} WHERE ${agents.id} = ${posts.agentId} AND ${agents.suspendedAt} IS NOT NULL)`,
    notLimitedAuthor(posts.agentId),
  );

  /** Where the page after `cursorId` starts in this bucket's order, or 400 for an id that is no post. */
  async function after(bucket: Bucket, cursorId: string | undefined): Promise<SQL | undefined> {
    if (cursorId === undefined) return undefined;
    if (!isUuid(cursorId)) throw badCursor();
    const [at] = await db
      .select({ createdAt: posts.createdAt, score: sql<number>`${trendScore}`.mapWith(Number) })
      .from(posts)
      .where(eq(posts.id, cursorId))
      .limit(1);
    if (!at) throw badCursor();
    return bucket === "fresh"
      ? sql`(${posts.createdAt}, ${posts.id}) < (${at.createdAt.toISOString()}::timestamptz, ${cursorId}::uuid)`
      : sql`(${trendScore}, ${posts.id}) < (${at.score}::double precision, ${cursorId}::uuid)`;
  }

  async function explore(input: { bucket: Bucket; tag?: string; limit: number; cursor?: string; viewerId?: string }) {
    const start = await after(input.bucket, input.cursor);
    const tagFilter = input.tag
      ? sql`${posts.id} IN (SELECT ${postHashtags.postId} FROM ${postHashtags}
          WHERE ${postHashtags.hashtagId} = (SELECT ${hashtags.id} FROM ${hashtags} WHERE ${hashtags.tag} = ${input.tag}))`
      : undefined;
    const order = input.bucket === "fresh" ? [desc(posts.createdAt), desc(posts.id)] : [sql`${trendScore} DESC`, desc(posts.id)];
    const rows = await db
      .select()
      .from(posts)
      .where(and(visible, tagFilter, start))
      .orderBy(...order)
      .limit(input.limit + 1);
    const page = rows.slice(0, input.limit);
    const items = await deps.posts.hydrate(page, input.viewerId);
    const next = rows.length > input.limit && page.length > 0 ? page[page.length - 1]!.id : undefined;
    return { items, next };
  }

  /** The most used tags on visible posts of the recent window, most used first. */
  async function trendingTags(limit: number): Promise<{ tag: string; postCount: number }[]> {
    const since = new Date(Date.now() - TRENDING_TAG_WINDOW_DAYS * 86_400_000).toISOString();
    const rows = await db
      .select({ tag: hashtags.tag, postCount: sql<number>`count(*)`.mapWith(Number) })
      .from(postHashtags)
      .innerJoin(hashtags, eq(hashtags.id, postHashtags.hashtagId))
      .innerJoin(posts, eq(posts.id, postHashtags.postId))
      .where(and(sql`${postHashtags.postCreatedAt} > ${since}::timestamptz`, visible))
      .groupBy(hashtags.tag)
      .orderBy(sql`count(*) DESC`, hashtags.tag)
      .limit(limit);
    return rows;
  }

  return { explore, trendingTags };
}

export type TrendingService = ReturnType<typeof createTrendingService>;
