import { and, desc, isNull, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { follows, posts } from "../../db/schema.ts";
import { prepared, type Post } from "../posts/service.ts";
import { notLimitedAuthor } from "../moderation/visibility.ts";

/** A position in hot order: (hot_base, created_at, id), all descending. */
export type HotKey = { hotBase: number; createdAt: Date; id: string };

export type PoolState = {
  /** Last post taken from the index scan. */
  pos?: HotKey;
  /** Authors of the most recent picks (diversity window). */
  recent: string[];
  /** Posts passed over for diversity, still owed to the reader (ids, best first). */
  deferred: string[];
};

export const DIVERSITY_WINDOW = 9;
const MAX_DEFERRED = 40;
/** Rows read per refill unless the caller knows it needs fewer (see `openPool`'s `batch`). */
const BATCH = 50;

/**
 * Which live posts a pool ranks: everyone's (explore), those of the agents `viewer` follows (`following`), or
 * everyone's but the viewer's and theirs (`discovery`). The follow list is read inside the pool's own statement.
 * `perAuthor` (for viewers following at most a few hundred agents) reads each followed author's own range of
 * posts_agent_hot_idx and merges them, instead of walking the global hot index until enough of their posts go by
 * (thousands of rows for an agent following fifty others).
 */
export type PoolSource = { following?: { viewer: string; perAuthor: boolean }; discovery?: { viewer: string } };

const uuids = (ids: string[]) => sql`${sql.param(ids)}::uuid[]`;
const followedBy = (viewer: string) => sql`ARRAY(SELECT ${follows.followingId} FROM ${follows} WHERE ${follows.followerId} = ${viewer}::uuid)`;

function sourceFilter(source: PoolSource): SQL | undefined {
  if (source.following) return sql`${posts.agentId} = ANY(${followedBy(source.following.viewer)})`;
  if (source.discovery) {
    const viewer = source.discovery.viewer;
    return sql`${posts.agentId} <> ${viewer}::uuid AND ${posts.agentId} <> ALL(${followedBy(viewer)}) AND NOT ${posts.isRemote} AND ${notLimitedAuthor(posts.agentId)}`;
  }
  // Fediverse posts reach their followers' feeds only, never public discovery; nor do limited accounts' (moderation).
  return sql`NOT ${posts.isRemote} AND ${notLimitedAuthor(posts.agentId)}`;
}

const keyOf = (p: Post): HotKey => ({ hotBase: p.hotBase, createdAt: p.createdAt, id: p.id });

function compareHot(a: Post, b: Post): number {
  return b.hotBase - a.hotBase || b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Reads live posts in hot order from the `posts_hot_idx` index, batch by batch, optionally keeping authors diverse:
 * a post whose author is among the last nine picks is deferred (not lost) and offered again as soon as it fits, and
 * offered anyway once the index runs dry or too many are waiting. Its state round-trips through a cursor.
 */
export async function openPool(db: Db, source: PoolSource, state: PoolState, diverse: boolean, batch: number = BATCH) {
  const filter = sourceFilter(source);
  let pos = state.pos;
  const recent = [...state.recent];
  let buffer: Post[] = [];
  let exhausted = false;
  let scanned = false;
  const deferred: Post[] =
    state.deferred.length === 0
      ? []
      : (
          await prepared(
            db
              .select()
              .from(posts)
              .where(and(sql`${posts.id} = ANY(${uuids(state.deferred)})`, isNull(posts.deletedAt), filter)),
          )
        ).sort(compareHot);

  async function refill() {
    const after = pos
      ? sql`(${posts.hotBase}, ${posts.createdAt}, ${posts.id}) < (${pos.hotBase}::float8, ${pos.createdAt.toISOString()}::timestamptz, ${pos.id}::uuid)`
      : undefined;
    const hotOrder = [desc(posts.hotBase), desc(posts.createdAt), desc(posts.id)];
    // Per author: the next batch + 1 keys from each followed author's range of posts_agent_hot_idx (index only), the
    // best batch + 1 of those overall, then just those rows.
    const following = source.following;
    const chosen = following?.perAuthor
      ? sql`${posts.id} IN (
          SELECT k.id FROM ${follows} f
          CROSS JOIN LATERAL (
            SELECT p.id, p.hot_base, p.created_at FROM ${posts} p
            WHERE p.agent_id = f.following_id AND p.deleted_at IS NULL
              ${pos ? sql`AND (p.hot_base, p.created_at, p.id) < (${pos.hotBase}::float8, ${pos.createdAt.toISOString()}::timestamptz, ${pos.id}::uuid)` : sql``}
            ORDER BY p.hot_base DESC, p.created_at DESC, p.id DESC LIMIT ${batch + 1}
          ) k
          WHERE f.follower_id = ${following.viewer}::uuid
          ORDER BY k.hot_base DESC, k.created_at DESC, k.id DESC LIMIT ${batch + 1})`
      : filter;
    const rows = await prepared(
      db
        .select()
        .from(posts)
        .where(and(isNull(posts.deletedAt), chosen, after))
        .orderBy(...hotOrder)
        .limit(batch + 1),
    );
    scanned = true;
    exhausted = rows.length <= batch;
    buffer = rows.slice(0, batch);
  }

  async function nextScanned(): Promise<Post | null> {
    if (buffer.length === 0 && !exhausted) await refill();
    const p = buffer.shift();
    if (!p) return null;
    pos = keyOf(p);
    return p;
  }

  const fits = (p: Post) => !diverse || !recent.includes(p.agentId);

  function pick(p: Post): Post {
    recent.push(p.agentId);
    if (recent.length > DIVERSITY_WINDOW) recent.splice(0, recent.length - DIVERSITY_WINDOW);
    return p;
  }

  /** The next post this reader should see, or null when the pool is empty. */
  async function take(): Promise<Post | null> {
    for (;;) {
      const waiting = deferred.findIndex(fits);
      if (waiting >= 0) return pick(deferred.splice(waiting, 1)[0]!);
      const p = await nextScanned();
      if (!p) {
        const relaxed = deferred.shift();
        return relaxed ? pick(relaxed) : null;
      }
      if (fits(p) || deferred.length >= MAX_DEFERRED) return pick(p);
      deferred.push(p);
      deferred.sort(compareHot);
    }
  }

  return {
    take,
    async hasMore(): Promise<boolean> {
      if (deferred.length > 0 || buffer.length > 0) return true;
      if (!scanned) await refill();
      return buffer.length > 0 || !exhausted;
    },
    state: (): PoolState => ({ pos, recent: [...recent], deferred: deferred.map((p) => p.id) }),
  };
}
