import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { follows } from "../../db/schema.ts";
import { prepared, type PostService, type PostView } from "../posts/service.ts";
import { DIVERSITY_WINDOW, openPool, type PoolState } from "./ranked-pool.ts";

export type ExploreState = { rankedAt: Date; pool: PoolState };
export type FeedState = {
  rankedAt: Date;
  following: PoolState;
  discovery: PoolState;
  followingServed: number;
  discoveryServed: number;
};

export const FOLLOWING_SHARE = 0.8;
/** Up to this many followed agents, the following pool merges their own hot ranges (see `PoolSource`). */
const PER_AUTHOR_MAX = 200;
const fresh = (): PoolState => ({ recent: [], deferred: [] });

/**
 * Explore (hot-ranked, author-diverse, over every live post) and the following feed (a rolling ~80/20 blend of
 * followed authors and discovery). Page state travels in the cursor, so any process can serve the next page.
 */
export function createFeedService(deps: { database: Database; posts: PostService }) {
  const { db } = deps.database;

  async function explore(limit: number, state?: ExploreState, viewerId?: string) {
    const rankedAt = state?.rankedAt ?? new Date();
    const pool = await openPool(db, {}, state?.pool ?? fresh(), true);
    const picked = [];
    while (picked.length < limit) {
      const p = await pool.take();
      if (!p) break;
      picked.push(p);
    }
    const more = await pool.hasMore();
    return {
      items: await deps.posts.hydrate(picked, viewerId),
      next: more && picked.length > 0 ? ({ rankedAt, pool: pool.state() } satisfies ExploreState) : undefined,
    };
  }

  /**
   * `followingCount` is the viewer's maintained follow count (from its agent row): it picks the fallback and the
   * following pool's plan without reading the follow list first, which the pools' statements read themselves.
   */
  async function followingFeed(viewerId: string, limit: number, state?: FeedState, followingCount?: number) {
    const count =
      followingCount ??
      (await prepared(db.select({ n: sql<number>`count(*)::int` }).from(follows).where(eq(follows.followerId, viewerId))))[0]!.n;
    if (count === 0) {
      const r = await explore(limit, state && { rankedAt: state.rankedAt, pool: state.discovery }, viewerId);
      return {
        items: r.items,
        next: r.next && ({ ...emptyFeed(r.next.rankedAt), discovery: r.next.pool } satisfies FeedState),
      };
    }
    const s = state ?? emptyFeed(new Date());
    // Each pool reads about its share of the page (plus room for diversity deferrals) rather than a full batch: a
    // page of 25 takes ~20 followed and ~5 discovery posts, and reading 51 of each cost as much again in rows.
    const followingBatch = Math.ceil(limit * FOLLOWING_SHARE) + 2;
    const discoveryBatch = Math.ceil(limit * (1 - FOLLOWING_SHARE)) + DIVERSITY_WINDOW + 2;
    // The two pools are independent: open them and read their first batches side by side (two connections), so a
    // page waits for one round trip before hydration instead of three or four in a row.
    const [followingPool, discoveryPool] = await Promise.all([
      openPool(db, { following: { viewer: viewerId, perAuthor: count <= PER_AUTHOR_MAX } }, s.following, false, followingBatch),
      openPool(db, { discovery: { viewer: viewerId } }, s.discovery, true, discoveryBatch),
    ]);
    await Promise.all([followingPool.hasMore(), discoveryPool.hasMore()]);
    let followingServed = s.followingServed;
    let discoveryServed = s.discoveryServed;
    const picked: PostView["post"][] = [];
    while (picked.length < limit) {
      const total = followingServed + discoveryServed;
      const preferFollowing = followingServed < Math.round((total + 1) * FOLLOWING_SHARE);
      const [first, second] = preferFollowing ? [followingPool, discoveryPool] : [discoveryPool, followingPool];
      let p = await first.take();
      let fromFollowing = preferFollowing;
      if (!p) {
        p = await second.take();
        fromFollowing = !preferFollowing;
      }
      if (!p) break;
      picked.push(p);
      if (fromFollowing) followingServed++;
      else discoveryServed++;
    }
    const more = (await followingPool.hasMore()) || (await discoveryPool.hasMore());
    return {
      items: await deps.posts.hydrate(picked, viewerId),
      next:
        more && picked.length > 0
          ? ({
              rankedAt: s.rankedAt,
              following: followingPool.state(),
              discovery: discoveryPool.state(),
              followingServed,
              discoveryServed,
            } satisfies FeedState)
          : undefined,
    };
  }

  return { explore, followingFeed };
}

function emptyFeed(rankedAt: Date): FeedState {
  return { rankedAt, following: fresh(), discovery: fresh(), followingServed: 0, discoveryServed: 0 };
}

export type FeedService = ReturnType<typeof createFeedService>;

