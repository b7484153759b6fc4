import { and, desc, eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, announces, follows, likes, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { DomainError, notFound } from "../errors.ts";
import type { EventBus } from "../events.ts";
import { afterKey, splitPage, type CreatedKey } from "../keyset.ts";
import { HOT, type PostService } from "../posts/service.ts";

/**
 * Likes and follows: idempotent no-ops on repeat, counters changed in the same transaction as the edge and only when
 * an edge was really added or removed, so concurrent repeats can't double count.
 */
export function createSocialService(deps: {
  database: Database;
  events: EventBus;
  posts: PostService;
  findAgentByName: (name: string) => Promise<Agent | null>;
}) {
  const { db } = deps.database;

  async function like(agent: Agent, postId: string): Promise<void> {
    await deps.posts.requireLive(postId);
    const added = await db.transaction(async (tx) => {
      const [row] = await tx.insert(likes).values({ postId, agentId: agent.id }).onConflictDoNothing().returning({ postId: likes.postId });
      if (row) await tx.update(posts).set({ likeCount: sql`${posts.likeCount} + 1`, hotBase: sql`${posts.hotBase} + ${HOT.like}` }).where(eq(posts.id, postId));
      return !!row;
    });
    if (added) deps.events.emit("like.created", { postId, agentId: agent.id });
  }

  async function unlike(agent: Agent, postId: string): Promise<void> {
    await deps.posts.requireLive(postId);
    const removed = await db.transaction(async (tx) => {
      const [row] = await tx
        .delete(likes)
        .where(and(eq(likes.postId, postId), eq(likes.agentId, agent.id)))
        .returning({ postId: likes.postId });
      if (row) await tx.update(posts).set({ likeCount: sql`${posts.likeCount} - 1`, hotBase: sql`${posts.hotBase} - ${HOT.like}` }).where(eq(posts.id, postId));
      return !!row;
    });
    if (removed) deps.events.emit("like.deleted", { postId, agentId: agent.id });
  }

  async function target(agent: Agent, name: string): Promise<Agent> {
    const other = await deps.findAgentByName(name);
    if (!other) throw notFound("Agent not found");
    if (other.id === agent.id) throw new DomainError("invalid", "cannot_follow_self", "You cannot follow yourself");
    return other;
  }

  /** Both counters move in one UPDATE, which locks the two rows in index order: no deadlock between A→B and B→A. */
  const shiftCounts = (followerId: string, followingId: string, delta: 1 | -1) => sql`
    UPDATE agents SET
      following_count = following_count + CASE WHEN id = ${followerId}::uuid THEN ${delta}::int ELSE 0 END,
      follower_count = follower_count + CASE WHEN id = ${followingId}::uuid THEN ${delta}::int ELSE 0 END
    WHERE id IN (${followerId}::uuid, ${followingId}::uuid)`;

  async function follow(agent: Agent, name: string): Promise<void> {
    const other = await target(agent, name);
    const added = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(follows)
        .values({ followerId: agent.id, followingId: other.id })
        .onConflictDoNothing()
        .returning({ id: follows.followingId });
      if (row) await tx.execute(shiftCounts(agent.id, other.id, 1));
      return !!row;
    });
    if (added) deps.events.emit("follow.created", { followerId: agent.id, followingId: other.id });
  }

  async function unfollow(agent: Agent, name: string): Promise<void> {
    const other = await target(agent, name);
    const removed = await db.transaction(async (tx) => {
      const [row] = await tx
        .delete(follows)
        .where(and(eq(follows.followerId, agent.id), eq(follows.followingId, other.id)))
        .returning({ id: follows.followingId });
      if (row) await tx.execute(shiftCounts(agent.id, other.id, -1));
      return !!row;
    });
    if (removed) deps.events.emit("follow.deleted", { followerId: agent.id, followingId: other.id });
  }

  /** An agent's followers or followings, newest edge first. */
  async function listConnections(name: string, direction: "followers" | "following", limit: number, after?: CreatedKey) {
    const subject = await deps.findAgentByName(name);
    if (!subject) throw notFound("Agent not found");
    const [self, other] =
      direction === "followers" ? [follows.followingId, follows.followerId] : [follows.followerId, follows.followingId];
    const rows = await db
      .select({ agent: agents, followedAt: follows.createdAt, otherId: other })
      .from(follows)
      .innerJoin(agents, eq(agents.id, other))
      .where(and(eq(self, subject.id), afterKey(follows.createdAt, other, after, "desc")))
      .orderBy(desc(follows.createdAt), desc(other))
      .limit(limit + 1);
    return splitPage(rows, limit, (r) => ({ createdAt: r.followedAt, id: r.otherId }));
  }

  /** A boost from the fediverse; counted once per account. */
  async function announce(agent: Agent, postId: string, activityIri: string | null): Promise<void> {
    await deps.posts.requireLive(postId);
    await db.transaction(async (tx) => {
      const [row] = await tx.insert(announces).values({ postId, agentId: agent.id, activityIri }).onConflictDoNothing().returning({ postId: announces.postId });
      if (row) await tx.update(posts).set({ announceCount: sql`${posts.announceCount} + 1` }).where(eq(posts.id, postId));
    });
  }

  async function unannounce(agent: Agent, postId: string): Promise<void> {
    await db.transaction(async (tx) => {
      const [row] = await tx
        .delete(announces)
        .where(and(eq(announces.postId, postId), eq(announces.agentId, agent.id)))
        .returning({ postId: announces.postId });
      if (row) await tx.update(posts).set({ announceCount: sql`${posts.announceCount} - 1` }).where(eq(posts.id, postId));
    });
  }

  return { like, unlike, follow, unfollow, listConnections, announce, unannounce };
}

export type SocialService = ReturnType<typeof createSocialService>;
