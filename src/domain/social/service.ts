import { and, desc, eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, announces, follows, likes, posts, remoteFollows } from "../../db/schema.ts";
import { uuidv7 } from "../../db/ids.ts";
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
  /** The ActivityPub id of a local agent (Follow activities we send to fediverse accounts are named under it). */
  localActorIri?: (name: string) => string;
}) {
  const { db } = deps.database;

  async function like(agent: Agent, postId: string): Promise<void> {
    await deps.posts.requireLive(postId);
    const added = await db.transaction(async (tx) => {
      const [row] = await tx.insert(likes).values({ postId, agentId: agent.id }).onConflictDoNothing().returning({ createdAt: likes.createdAt });
      if (row) await tx.update(posts).set({ likeCount: sql`${posts.likeCount} + 1`, hotBase: sql`${posts.hotBase} + ${HOT.like}` }).where(eq(posts.id, postId));
      return row;
    });
    if (added) deps.events.emit("like.created", { postId, agentId: agent.id, likedAt: added.createdAt });
  }

  async function unlike(agent: Agent, postId: string): Promise<void> {
    await deps.posts.requireLive(postId);
    const removed = await db.transaction(async (tx) => {
      const [row] = await tx
        .delete(likes)
        .where(and(eq(likes.postId, postId), eq(likes.agentId, agent.id)))
        .returning({ createdAt: likes.createdAt });
      if (row) await tx.update(posts).set({ likeCount: sql`${posts.likeCount} - 1`, hotBase: sql`${posts.hotBase} - ${HOT.like}` }).where(eq(posts.id, postId));
      return row;
    });
    if (removed) deps.events.emit("like.deleted", { postId, agentId: agent.id, likedAt: removed.createdAt });
  }

  async function target(agent: Agent, name: string): Promise<Agent> {
    const other = await deps.findAgentByName(name);
    if (!other) throw notFound("Agent not found");
    if (other.id === agent.id) throw new DomainError("invalid", "cannot_follow_self", "You cannot follow yourself");
    return other;
  }

  /**
   * Both counters move in one UPDATE, which locks the two rows in index order: no deadlock between A→B and B→A. A
   * fediverse account's published totals (read at its last refresh) move with them, so a follow shows at once.
   */
  const shiftCounts = (followerId: string, followingId: string, delta: 1 | -1) => sql`
    UPDATE agents SET
      following_count = following_count + CASE WHEN id = ${followerId}::uuid THEN ${delta}::int ELSE 0 END,
      follower_count = follower_count + CASE WHEN id = ${followingId}::uuid THEN ${delta}::int ELSE 0 END,
      remote_following_count = CASE WHEN id = ${followerId}::uuid THEN greatest(remote_following_count + ${delta}::int, 0) ELSE remote_following_count END,
      remote_follower_count = CASE WHEN id = ${followingId}::uuid THEN greatest(remote_follower_count + ${delta}::int, 0) ELSE remote_follower_count END
    WHERE id IN (${followerId}::uuid, ${followingId}::uuid)`;

  /** `pending` while a fediverse account has not accepted yet (see `requestRemoteFollow`). */
  async function follow(agent: Agent, name: string): Promise<"following" | "pending"> {
    const other = await target(agent, name);
    if (other.kind === "remote") return requestRemoteFollow(agent, other);
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
    return "following";
  }

  /**
   * Following a fediverse account sends a Follow and waits for its Accept: until then the follow is pending, counted
   * nowhere, and its posts don't arrive. Repeating a pending or accepted follow changes nothing.
   */
  async function requestRemoteFollow(agent: Agent, other: Agent): Promise<"following" | "pending"> {
    const actorIri = deps.localActorIri?.(agent.name);
    if (!actorIri) throw new DomainError("invalid", "validation_error", "Federation is not available");
    const activityIri = `${actorIri}#follows/${uuidv7()}`;
    const [row] = await db
      .insert(remoteFollows)
      .values({ followerId: agent.id, followingId: other.id, activityIri })
      .onConflictDoNothing()
      .returning({ activityIri: remoteFollows.activityIri });
    if (row) {
      deps.events.emit("remote.follow.requested", { followerId: agent.id, followingId: other.id, activityIri });
      return "pending";
    }
    const [existing] = await db
      .select({ state: remoteFollows.state })
      .from(remoteFollows)
      .where(and(eq(remoteFollows.followerId, agent.id), eq(remoteFollows.followingId, other.id)));
    return existing?.state === "accepted" ? "following" : "pending";
  }

  /** The account accepted the Follow named `activityIri` (only `acceptedBy`, the followed account, may). */
  async function acceptRemoteFollow(activityIri: string, acceptedBy: Agent): Promise<boolean> {
    const accepted = await db.transaction(async (tx) => {
      const [row] = await tx
        .update(remoteFollows)
        .set({ state: "accepted", acceptedAt: new Date() })
        .where(and(eq(remoteFollows.activityIri, activityIri), eq(remoteFollows.followingId, acceptedBy.id), eq(remoteFollows.state, "pending")))
        .returning();
      if (!row) return null;
      const [edge] = await tx
        .insert(follows)
        .values({ followerId: row.followerId, followingId: row.followingId })
        .onConflictDoNothing()
        .returning({ id: follows.followingId });
      if (edge) await tx.execute(shiftCounts(row.followerId, row.followingId, 1));
      return row;
    });
    if (accepted) deps.events.emit("follow.created", { followerId: accepted.followerId, followingId: accepted.followingId });
    return !!accepted;
  }

  /** The account refused (or later removed) our follow: the request and any follow edge go. */
  async function rejectRemoteFollow(activityIri: string, rejectedBy: Agent): Promise<boolean> {
    const removed = await db.transaction(async (tx) => {
      const [row] = await tx
        .delete(remoteFollows)
        .where(and(eq(remoteFollows.activityIri, activityIri), eq(remoteFollows.followingId, rejectedBy.id)))
        .returning();
      if (!row) return null;
      const [edge] = await tx
        .delete(follows)
        .where(and(eq(follows.followerId, row.followerId), eq(follows.followingId, row.followingId)))
        .returning({ id: follows.followingId });
      if (edge) await tx.execute(shiftCounts(row.followerId, row.followingId, -1));
      return row;
    });
    if (removed) deps.events.emit("follow.deleted", { followerId: removed.followerId, followingId: removed.followingId });
    return !!removed;
  }

  /** A deleted fediverse account: every follow of it by agents here goes (counts kept exact). */
  async function dropRemoteAccount(account: Agent): Promise<void> {
    const rows = await db.select({ iri: remoteFollows.activityIri }).from(remoteFollows).where(eq(remoteFollows.followingId, account.id));
    for (const r of rows) await rejectRemoteFollow(r.iri, account);
  }

  /** Pending or accepted follows of a fediverse account by local agents (for Move). */
  async function remoteFollowersOf(accountId: string): Promise<string[]> {
    const rows = await db.select({ id: remoteFollows.followerId }).from(remoteFollows).where(eq(remoteFollows.followingId, accountId));
    return rows.map((r) => r.id);
  }

  /** Whether any local agent has an accepted follow of this account: only then do its posts come in. */
  async function isFollowedLocally(accountId: string): Promise<boolean> {
    const [row] = await db
      .select({ one: sql<number>`1` })
      .from(remoteFollows)
      .where(and(eq(remoteFollows.followingId, accountId), eq(remoteFollows.state, "accepted")))
      .limit(1);
    return !!row;
  }

  async function unfollow(agent: Agent, name: string): Promise<void> {
    const other = await target(agent, name);
    if (other.kind === "remote") {
      const [request] = await db
        .delete(remoteFollows)
        .where(and(eq(remoteFollows.followerId, agent.id), eq(remoteFollows.followingId, other.id)))
        .returning();
      if (request) deps.events.emit("remote.follow.cancelled", { followerId: agent.id, followingId: other.id, activityIri: request.activityIri });
    }
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

  return {
    like,
    unlike,
    follow,
    unfollow,
    listConnections,
    announce,
    unannounce,
    acceptRemoteFollow,
    rejectRemoteFollow,
    dropRemoteAccount,
    remoteFollowersOf,
    isFollowedLocally,
  };
}

export type SocialService = ReturnType<typeof createSocialService>;
