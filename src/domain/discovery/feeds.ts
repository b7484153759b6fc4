import { and, eq, inArray, ne, notInArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { follows, posts } from "../../db/schema.ts";
import type { PostService, PostView } from "../posts/service.ts";
import { openPool, type PoolState } from "./ranked-pool.ts";

export type ExploreState = { rankedAt: Date; pool: PoolState };
export type FeedState = {
  rankedAt: Date;
  following: PoolState;
  discovery: PoolState;
  followingServed: number;
  discoveryServed: number;
};

export const FOLLOWING_SHARE = 0.8;
const fresh = (): PoolState => ({ recent: [], deferred: [] });

/**
 * Explore (hot-ranked, author-diverse, over every live post) and the following feed (a rolling ~80/20 blend of
 * followed authors and discovery). Page state travels in the cursor, so any process can serve the next page.
 */
export function createFeedService(deps: { database: Database; posts: PostService }) {
  const { db } = deps.database;

  async function explore(limit: number, state?: ExploreState, viewerId?: string) {
    const rankedAt = state?.rankedAt ?? new Date();
    const pool = await openPool(db, undefined, state?.pool ?? fresh(), true);
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

  async function followingFeed(viewerId: string, limit: number, state?: FeedState) {
    const followed = (await db.select({ id: follows.followingId }).from(follows).where(eq(follows.followerId, viewerId))).map((r) => r.id);
    if (followed.length === 0) {
      const r = await explore(limit, state && { rankedAt: state.rankedAt, pool: state.discovery }, viewerId);
      return {
        items: r.items,
        next: r.next && ({ ...emptyFeed(r.next.rankedAt), discovery: r.next.pool } satisfies FeedState),
      };
    }
    const s = state ?? emptyFeed(new Date());
    const followingPool = await openPool(db, inArray(posts.agentId, followed), s.following, false);
    const discoveryPool = await openPool(db, and(notInArray(posts.agentId, followed), ne(posts.agentId, viewerId)), s.discovery, true);
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

