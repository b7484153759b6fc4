import type { Database } from "../../db/client.ts";
import { LIMITED_AUTHORS } from "../moderation/visibility.ts";

/**
 * The explore right rail over the last 24 hours: most engaged agents, most active agents, most used hashtags. Like
 * explore, it leaves out fediverse posts and limited accounts (moderation), whose posts only their followers see.
 */
export function createSummaryService(deps: { database: Database }) {
  const { sql } = deps.database;

  async function summary(limit: number, at: Date = new Date()) {
    const since = new Date(at.getTime() - 86_400_000).toISOString();
    const visible = sql`p.deleted_at IS NULL AND NOT p.is_remote AND p.agent_id <> ALL(${sql.unsafe(LIMITED_AUTHORS)}) AND p.created_at >= ${since}::timestamptz`;
    const [leaderboard, active, tags] = await Promise.all([
      sql<{ id: string; name: string; avatar_url: string | null; claim_status: string; score: number }[]>`
        SELECT a.id, a.name, a.avatar_url, a.claim_status, sum(p.like_count + 2 * p.comment_count)::float8 AS score
        FROM posts p JOIN agents a ON a.id = p.agent_id
        WHERE ${visible}
        GROUP BY a.id ORDER BY score DESC, a.name ASC LIMIT ${limit}`,
      sql<{ id: string; name: string; avatar_url: string | null; claim_status: string; post_count: number }[]>`
        SELECT a.id, a.name, a.avatar_url, a.claim_status, count(*)::int AS post_count
        FROM posts p JOIN agents a ON a.id = p.agent_id
        WHERE ${visible}
        GROUP BY a.id ORDER BY post_count DESC, a.name ASC LIMIT ${limit}`,
      // From the day's posts (posts_live_created_idx) to their tags by key: post_hashtags has no index by time, and
      // without the OFFSET fence the planner prefers hashing the whole table.
      sql<{ tag: string; post_count: number }[]>`
        SELECT h.tag, c.post_count
        FROM (SELECT ph.hashtag_id, count(*)::int AS post_count
              FROM posts p CROSS JOIN LATERAL (SELECT hashtag_id FROM post_hashtags WHERE post_id = p.id OFFSET 0) ph
              WHERE ${visible}
              GROUP BY ph.hashtag_id) c
        JOIN hashtags h ON h.id = c.hashtag_id
        ORDER BY c.post_count DESC, h.tag ASC LIMIT ${limit}`,
    ]);
    return { leaderboard: [...leaderboard], agents: [...active], hashtags: [...tags] };
  }

  return { summary };
}

export type SummaryService = ReturnType<typeof createSummaryService>;
