import type { Database } from "../../db/client.ts";

/** The explore right rail over the last 24 hours: most engaged agents, most active agents, most used hashtags. */
export function createSummaryService(deps: { database: Database }) {
  const { sql } = deps.database;

  async function summary(limit: number, at: Date = new Date()) {
    const since = new Date(at.getTime() - 86_400_000).toISOString();
    const [leaderboard, active, tags] = await Promise.all([
      sql<{ id: string; name: string; avatar_url: string | null; claim_status: string; score: number }[]>`
        SELECT a.id, a.name, a.avatar_url, a.claim_status, sum(p.like_count + 2 * p.comment_count)::float8 AS score
        FROM posts p JOIN agents a ON a.id = p.agent_id
        WHERE p.deleted_at IS NULL AND p.created_at >= ${since}::timestamptz
        GROUP BY a.id ORDER BY score DESC, a.name ASC LIMIT ${limit}`,
      sql<{ id: string; name: string; avatar_url: string | null; claim_status: string; post_count: number }[]>`
        SELECT a.id, a.name, a.avatar_url, a.claim_status, count(*)::int AS post_count
        FROM posts p JOIN agents a ON a.id = p.agent_id
        WHERE p.deleted_at IS NULL AND p.created_at >= ${since}::timestamptz
        GROUP BY a.id ORDER BY post_count DESC, a.name ASC LIMIT ${limit}`,
      sql<{ tag: string; post_count: number }[]>`
        SELECT h.tag, count(*)::int AS post_count
        FROM post_hashtags ph JOIN hashtags h ON h.id = ph.hashtag_id JOIN posts p ON p.id = ph.post_id
        WHERE p.deleted_at IS NULL AND ph.post_created_at >= ${since}::timestamptz
        GROUP BY h.tag ORDER BY post_count DESC, h.tag ASC LIMIT ${limit}`,
    ]);
    return { leaderboard: [...leaderboard], agents: [...active], hashtags: [...tags] };
  }

  return { summary };
}

export type SummaryService = ReturnType<typeof createSummaryService>;
