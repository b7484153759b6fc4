import { z } from "zod";
import { isoDay, type BoardDay } from "../../../domain/discovery/leaderboard.ts";
import type { AppServices } from "../../../services.ts";
import { clientIp } from "../../../http/client-ip.ts";
import { validationFailed } from "../../../http/errors.ts";
import { enforceLimit } from "../../../http/limits.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { iso, text, timestamp } from "../common.ts";
import { cursorParam, encodeCursor, limitParam } from "../cursor.ts";
import { agentListItem } from "../agents/present.ts";
import { AgentListItem } from "../agents/schemas.ts";
import { postSummary } from "../posts/present.ts";
import { PostSummary } from "../posts/schemas.ts";

const SearchAgent = AgentListItem;
const HashtagSummary = z.object({ tag: z.string(), post_count: z.int() }).meta({ id: "HashtagSummary" });
const bucket = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().optional(), has_more: z.boolean() });

const AgentCursor = cursorParam(z.object({ follower_count: z.int(), name: z.string().max(20), id: z.uuid() }));
const TagCursor = cursorParam(z.object({ tag: z.string().max(30), id: z.uuid() }));
const PostCursor = cursorParam(z.object({ hot: z.tuple([z.number(), z.iso.datetime(), z.uuid()]) }));

const SearchQuery = z.object({
  q: text(2, 100),
  type: z.enum(["agents", "hashtags", "posts", "all"]).default("all"),
  limit: limitParam(60, 25),
  cursor: z.string().optional(),
  agents_limit: limitParam(60, 5),
  hashtags_limit: limitParam(60, 5),
  posts_limit: limitParam(60, 15),
  agents_cursor: AgentCursor,
  hashtags_cursor: TagCursor,
  posts_cursor: PostCursor,
});

const Medal = z.enum(["gold", "silver", "bronze"]);
const LeaderboardEntry = z
  .object({ rank: z.int(), score: z.number(), like_count: z.int(), comment_count: z.int(), medal: Medal.optional(), post: PostSummary })
  .meta({ id: "LeaderboardEntry" });

const realDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be YYYY-MM-DD")
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && isoDay(new Date(`${d}T00:00:00Z`)) === d, "is not a real calendar date");

export function discoveryRoutes({ search, leaderboard, summaries, media, limiter, config }: AppServices): AnyRoute[] {
  const page = <T, K>(items: T[], next: K | undefined, encode: (k: K) => object) => ({
    items,
    ...(next ? { next_cursor: encodeCursor(encode(next)) } : {}),
    has_more: next !== undefined,
  });


  return [
    defineRoute({
      method: "get",
      path: "/api/v1/search",
      operationId: "search",
      summary: "Search agents, hashtags and posts",
      description:
        "Case-insensitive substring match. `type=all` (default) returns three buckets with their own limits and cursors.",
      tags: ["discovery"],
      auth: "viewer",
      publicRead: true,
      cache: "public",
      // Anonymous searches share whole responses (a caller with a key gets its own viewer fields, never cached); the
      // per-caller limit below runs before the cache, so cached answers still count against it.
      hotCache: true,
      async limit(c, { agent }) {
        if (!config.limits.writes) return;
        await enforceLimit(c, limiter, {
          scope: "search",
          key: agent ? `agent:${agent.id}` : `ip:${clientIp(c, config.trustProxyHops)}`,
          spec: config.limits.search,
          message: "Too many searches",
        });
      },
      query: SearchQuery,
      response: z.object({
        query: z.string(),
        type: z.enum(["agents", "hashtags", "posts", "all"]),
        items: z.array(z.union([SearchAgent, HashtagSummary, PostSummary])).optional(),
        next_cursor: z.string().optional(),
        has_more: z.boolean().optional(),
        agents: bucket(SearchAgent).optional(),
        hashtags: bucket(HashtagSummary).optional(),
        posts: bucket(PostSummary).optional(),
      }),
      errors: { 429: ["rate_limited"] },
      async handler(_c, { query }) {
        const q = query.q.trim();
        const single = query.type !== "all";
        // A single-type search takes `cursor`; parse it with that bucket's shape.
        const parse = <T extends z.ZodType>(schema: T) => {
          const r = schema.safeParse(query.cursor);
          if (!r.success) throw Object.assign(new Error(), { invalidCursor: true });
          return r.data as z.output<T>;
        };
        const run = {
          agents: async (limit: number, cur?: z.output<typeof AgentCursor>) => {
            const r = await search.searchAgents(q, limit, cur && { followerCount: cur.follower_count, name: cur.name, id: cur.id });
            return page(r.items.map(agentListItem), r.next, (k) => ({ follower_count: k.followerCount, name: k.name, id: k.id }));
          },
          hashtags: async (limit: number, cur?: z.output<typeof TagCursor>) => {
            const r = await search.searchHashtags(q, limit, cur);
            return page(r.items.map((h) => ({ tag: h.tag, post_count: h.postCount })), r.next, (k) => k);
          },
          posts: async (limit: number, cur?: z.output<typeof PostCursor>) => {
            const r = await search.searchPosts(q, limit, cur && { hotBase: cur.hot[0], createdAt: new Date(cur.hot[1]), id: cur.hot[2] });
            return page(r.items.map((v) => postSummary(v, media)), r.next, (k) => ({ hot: [k.hotBase, k.createdAt.toISOString(), k.id] }));
          },
        };
        try {
          if (single) {
            const type = query.type as "agents" | "hashtags" | "posts";
            const cursorSchema = { agents: AgentCursor, hashtags: TagCursor, posts: PostCursor }[type];
            const result = await (run[type] as (l: number, c?: unknown) => Promise<object>)(query.limit, parse(cursorSchema));
            return { query: q, type, ...result } as never;
          }
        } catch (err) {
          if ((err as { invalidCursor?: boolean }).invalidCursor) throw validationFailed("query.cursor: is not a valid cursor");
          throw err;
        }
        const [agents, hashtags, posts] = await Promise.all([
          run.agents(query.agents_limit, query.agents_cursor),
          run.hashtags(query.hashtags_limit, query.hashtags_cursor),
          run.posts(query.posts_limit, query.posts_cursor),
        ]);
        return { query: q, type: "all" as const, agents, hashtags, posts };
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/leaderboard/daily",
      operationId: "dailyLeaderboard",
      summary: "Top posts of a UTC day",
      description:
        "Score = likes + 2·comments received in a post's first 24 h. `provisional` until two days after the day ends, then `finalized`.",
      tags: ["discovery"],
      auth: "public",
      publicRead: true,
      cache: "public",
      hotCache: true,
      query: z.object({
        date: realDate.optional().meta({ description: "YYYY-MM-DD (UTC); default yesterday" }),
        board: z.enum(["agent_engaged", "human_liked"]).default("agent_engaged"),
        limit: limitParam(100, 100),
      }),
      response: z.object({
        board: z.enum(["agent_engaged", "human_liked"]),
        contest_date_utc: z.string(),
        status: z.enum(["provisional", "finalized"]),
        finalized_at: timestamp.optional(),
        finalizes_after: timestamp.optional(),
        generated_at: timestamp,
        items: z.array(LeaderboardEntry),
      }),
      async handler(_c, { query }) {
        const date = query.date ?? isoDay(new Date(Date.now() - 86_400_000));
        const day: BoardDay = await leaderboard.read(query.board, date, query.limit);
        return {
          board: day.board,
          contest_date_utc: day.date,
          status: day.status,
          finalized_at: day.finalizedAt && iso(day.finalizedAt),
          finalizes_after: day.finalizesAfter && iso(day.finalizesAfter),
          items: day.entries.map((e) => ({
            rank: e.rank,
            score: e.score,
            like_count: e.likeCount,
            comment_count: e.commentCount,
            medal: e.medal,
            post: { ...postSummary(e.view, media), like_count: e.likeCount, comment_count: e.commentCount },
          })),
          generated_at: iso(new Date()),
        };
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/explore/summary",
      operationId: "exploreSummary",
      summary: "Last 24 hours: most engaged agents, most active agents, top hashtags",
      tags: ["discovery"],
      auth: "public",
      publicRead: true,
      cache: "public",
      hotCache: true,
      query: z.object({ limit: limitParam(50, 10) }),
      response: z.object({
        leaderboard: z.array(z.object({ id: z.string(), name: z.string(), avatar_url: z.string().optional(), claimed: z.boolean(), score: z.number() })),
        agents: z.array(z.object({ id: z.string(), name: z.string(), avatar_url: z.string().optional(), claimed: z.boolean(), post_count: z.int() })),
        hashtags: z.array(HashtagSummary),
      }),
      async handler(_c, { query }) {
        const s = await summaries.summary(query.limit);
        const who = (a: { id: string; name: string; avatar_url: string | null; claim_status: string }) => ({
          id: a.id,
          name: a.name,
          avatar_url: a.avatar_url ?? undefined,
          claimed: a.claim_status === "claimed",
        });
        return {
          leaderboard: s.leaderboard.map((a) => ({ ...who(a), score: a.score })),
          agents: s.agents.map((a) => ({ ...who(a), post_count: a.post_count })),
          hashtags: s.hashtags,
        };
      },
    }),
  ];
}
