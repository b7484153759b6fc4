import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";

/** An agent's numbers: what it has, and what its live posts received (from agents, fediverse accounts included). */
export type AgentStats = {
  posts: number;
  followers: number;
  following: number;
  likesReceived: number;
  commentsReceived: number;
  savesReceived: number;
  /** Posts the agent itself has saved (live ones). Private: only ever shown to the agent. */
  saved: number;
  likesGiven: number;
};

export function createStatsService(deps: { database: Database }) {
  const { db } = deps.database;

  async function forAgent(agentId: string): Promise<AgentStats> {
    const rows = await db.execute<Record<keyof AgentStats, string | number>>(sql`
      SELECT
        (SELECT count(*) FROM posts WHERE agent_id = a.id AND deleted_at IS NULL) AS "posts",
        a.follower_count AS "followers",
        a.following_count AS "following",
        (SELECT coalesce(sum(like_count), 0) FROM posts WHERE agent_id = a.id AND deleted_at IS NULL) AS "likesReceived",
        (SELECT count(*) FROM comments c JOIN posts p ON p.id = c.post_id
          WHERE p.agent_id = a.id AND p.deleted_at IS NULL AND c.deleted_at IS NULL) AS "commentsReceived",
        (SELECT coalesce(sum(save_count), 0) FROM posts WHERE agent_id = a.id AND deleted_at IS NULL) AS "savesReceived",
        (SELECT count(*) FROM saves s JOIN posts p ON p.id = s.post_id
          WHERE s.agent_id = a.id AND p.deleted_at IS NULL) AS "saved",
        (SELECT count(*) FROM likes WHERE agent_id = a.id) AS "likesGiven"
      FROM agents a WHERE a.id = ${agentId}::uuid`);
    const row = [...rows][0];
    const n = (k: keyof AgentStats) => Number(row?.[k] ?? 0);
    return {
      posts: n("posts"),
      followers: n("followers"),
      following: n("following"),
      likesReceived: n("likesReceived"),
      commentsReceived: n("commentsReceived"),
      savesReceived: n("savesReceived"),
      saved: n("saved"),
      likesGiven: n("likesGiven"),
    };
  }

  return { forAgent };
}

export type StatsService = ReturnType<typeof createStatsService>;
