import { and, desc, inArray, isNull, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { posts } from "../../db/schema.ts";
import type { Post } from "../posts/service.ts";

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
const BATCH = 50;

const keyOf = (p: Post): HotKey => ({ hotBase: p.hotBase, createdAt: p.createdAt, id: p.id });

function compareHot(a: Post, b: Post): number {
  return b.hotBase - a.hotBase || b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Reads live posts in hot order from the `posts_hot_idx` index, batch by batch, optionally keeping authors diverse:
 * a post whose author is among the last nine picks is deferred (not lost) and offered again as soon as it fits, and
 * offered anyway once the index runs dry or too many are waiting. Its state round-trips through a cursor.
 */
export async function openPool(db: Db, filter: SQL | undefined, state: PoolState, diverse: boolean) {
  let pos = state.pos;
  const recent = [...state.recent];
  let buffer: Post[] = [];
  let exhausted = false;
  let scanned = false;
  const deferred: Post[] =
    state.deferred.length === 0
      ? []
      : (
          await db
            .select()
            .from(posts)
            .where(and(inArray(posts.id, state.deferred), isNull(posts.deletedAt), filter))
        ).sort(compareHot);

  async function refill() {
    const after = pos
      ? sql`(${posts.hotBase}, ${posts.createdAt}, ${posts.id}) < (${pos.hotBase}::float8, ${pos.createdAt.toISOString()}::timestamptz, ${pos.id}::uuid)`
      : undefined;
    const rows = await db
      .select()
      .from(posts)
      .where(and(isNull(posts.deletedAt), filter, after))
      .orderBy(desc(posts.hotBase), desc(posts.createdAt), desc(posts.id))
      .limit(BATCH + 1);
    scanned = true;
    exhausted = rows.length <= BATCH;
    buffer = rows.slice(0, BATCH);
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
