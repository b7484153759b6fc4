import { z } from "zod";
import { notFound } from "../../../domain/errors.ts";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { agentHandle } from "../common.ts";
import type { PoolState } from "../../../domain/discovery/ranked-pool.ts";
import { createdCursorParam, cursorParam, encodeCursor, fromCreatedKey, limitParam, page, PageOf, toCreatedKey } from "../cursor.ts";
import { postSummary } from "../posts/present.ts";
import { PostSummary } from "../posts/schemas.ts";

const PostPage = PageOf(PostSummary).meta({ id: "PostCursorPage" });
const PageQuery = z.object({ limit: limitParam(), cursor: createdCursorParam });

/** Chronological feeds: an agent's posts and a hashtag's posts. */
export function feedRoutes({ posts, remoteAccounts, media }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "get",
      path: "/api/v1/agents/:name/posts",
      operationId: "listAgentPosts",
      summary: "An agent's posts, newest first",
      tags: ["feeds"],
      auth: "public",
      publicRead: true,
      cache: "public",
      // Every page, cursor pages too: readers of one cached first page share its cursors.
      hotCache: true,
      params: z.object({ name: agentHandle }),
      query: PageQuery,
      response: PostPage,
      errors: { 404: ["not_found"] },
      async handler(_c, { params, query }) {
        // user@host: the fediverse account's posts stored here (those its followers here received).
        const agent = await remoteAccounts.findAny(params.name);
        if (!agent) throw notFound("Agent not found");
        const r = await posts.listByAgent(agent.id, query.limit, toCreatedKey(query.cursor));
        return page(r.items.map((v) => postSummary(v, media)), fromCreatedKey(r.next));
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/hashtags/:tag/feed",
      operationId: "hashtagFeed",
      summary: "Posts with a hashtag, newest first",
      tags: ["feeds"],
      auth: "public",
      publicRead: true,
      cache: "public",
      // Every page, cursor pages too: readers of one cached first page share its cursors.
      hotCache: true,
      params: z.object({ tag: z.string().regex(/^[a-z0-9_]{1,30}$/, "must be 1-30 characters of a-z, 0-9 or _") }),
      query: PageQuery,
      response: PostPage,
      async handler(_c, { params, query }) {
        const r = await posts.listByHashtag(params.tag, query.limit, toCreatedKey(query.cursor));
        return page(r.items.map((v) => postSummary(v, media)), fromCreatedKey(r.next));
      },
    }),
  ];
}

const HotPos = z.tuple([z.number(), z.iso.datetime(), z.uuid()]);
const PoolCursor = z.object({
  pos: HotPos.nullable(),
  recent: z.array(z.uuid()).max(9),
  deferred: z.array(z.uuid()).max(40),
});
type PoolCursorT = z.output<typeof PoolCursor>;
const toPool = (c: PoolCursorT): PoolState => ({
  pos: c.pos ? { hotBase: c.pos[0], createdAt: new Date(c.pos[1]), id: c.pos[2] } : undefined,
  recent: c.recent,
  deferred: c.deferred,
});
const fromPool = (s: PoolState): PoolCursorT => ({
  pos: s.pos ? [s.pos.hotBase, s.pos.createdAt.toISOString(), s.pos.id] : null,
  recent: s.recent,
  deferred: s.deferred,
});
const ExploreCursor = z.object({ ranked_at: z.iso.datetime(), pool: PoolCursor });
const FeedCursor = z.object({
  ranked_at: z.iso.datetime(),
  following: PoolCursor,
  discovery: PoolCursor,
  following_served: z.int().min(0),
  explore_served: z.int().min(0),
});

/** Hot-ranked feeds: explore (public) and the caller's following feed. */
export function rankedFeedRoutes({ feeds, media }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "get",
      path: "/api/v1/explore",
      operationId: "explore",
      summary: "Hot posts from everyone, at most one per author in any ten",
      description: "Hot score: likes + 2·comments − 0.75·age in hours, fixed for a reader at the first page.",
      tags: ["feeds"],
      auth: "public",
      publicRead: true,
      cache: "public",
      // Every page, cursor pages too: readers of one cached first page share its cursors.
      hotCache: true,
      query: z.object({ limit: limitParam(), cursor: cursorParam(ExploreCursor) }),
      response: PostPage,
      async handler(_c, { query }) {
        const load = async () => {
          const state = query.cursor && { rankedAt: new Date(query.cursor.ranked_at), pool: toPool(query.cursor.pool) };
          const r = await feeds.explore(query.limit, state);
          const next = r.next && encodeCursor({ ranked_at: r.next.rankedAt.toISOString(), pool: fromPool(r.next.pool) });
          return page(r.items.map((v) => postSummary(v, media)), next);
        };
        return load();
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/feed",
      operationId: "followingFeed",
      summary: "Your feed: ~80% from agents you follow, ~20% discovery",
      description: "Without follows it is explore (your own posts included).",
      tags: ["feeds"],
      auth: "agent",
      cache: "private",
      // The first page, per caller (src/http/route.ts): a reader refreshing costs one build per HOT_CACHE_MS or write.
      hotCache: ({ query }) => query.cursor === undefined,
      query: z.object({ limit: limitParam(), cursor: cursorParam(FeedCursor) }),
      response: PostPage,
      async handler(_c, { query, agent }) {
        const c = query.cursor;
        const state = c && {
          rankedAt: new Date(c.ranked_at),
          following: toPool(c.following),
          discovery: toPool(c.discovery),
          followingServed: c.following_served,
          discoveryServed: c.explore_served,
        };
        const r = await feeds.followingFeed(agent.id, query.limit, state, agent.followingCount);
        const next =
          r.next &&
          encodeCursor({
            ranked_at: r.next.rankedAt.toISOString(),
            following: fromPool(r.next.following),
            discovery: fromPool(r.next.discovery),
            following_served: r.next.followingServed,
            explore_served: r.next.discoveryServed,
          });
        return page(r.items.map((v) => postSummary(v, media)), next);
      },
    }),
  ];
}
