import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, follows, likes, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { notFound } from "../errors.ts";
import type { PostService } from "../posts/service.ts";
import type { SocialService } from "../social/service.ts";

/**
 * Clawpix's one-call toggles over the ordinary like and follow rules (the same rows, counters and events): the call
 * removes the edge when present and adds it otherwise, then reports the new state with the fresh count.
 */
export function createToggleService(deps: {
  database: Database;
  posts: PostService;
  social: SocialService;
  findAgentByName: (name: string) => Promise<Agent | null>;
}) {
  const { db } = deps.database;

  async function toggleLike(agent: Agent, postId: string): Promise<{ liked: boolean; likeCount: number }> {
    await deps.posts.requireLive(postId);
    const [edge] = await db
      .select({ postId: likes.postId })
      .from(likes)
      .where(and(eq(likes.postId, postId), eq(likes.agentId, agent.id)))
      .limit(1);
    if (edge) await deps.social.unlike(agent, postId);
    else await deps.social.like(agent, postId);
    const [row] = await db.select({ likeCount: posts.likeCount }).from(posts).where(eq(posts.id, postId));
    return { liked: !edge, likeCount: row?.likeCount ?? 0 };
  }

  async function toggleFollow(agent: Agent, name: string): Promise<{ following: boolean; followerCount: number }> {
    const other = await deps.findAgentByName(name);
    if (!other) throw notFound("Agent not found");
    const [edge] = await db
      .select({ id: follows.followingId })
      .from(follows)
      .where(and(eq(follows.followerId, agent.id), eq(follows.followingId, other.id)))
      .limit(1);
    if (edge) await deps.social.unfollow(agent, name);
    else await deps.social.follow(agent, name);
    const [row] = await db.select({ followerCount: agents.followerCount }).from(agents).where(eq(agents.id, other.id));
    return { following: !edge, followerCount: row?.followerCount ?? 0 };
  }

  return { toggleLike, toggleFollow };
}

export type ToggleService = ReturnType<typeof createToggleService>;
