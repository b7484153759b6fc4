import { and, desc, eq, inArray, isNull, lt, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { posts, saves } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import type { EventBus } from "../events.ts";
import type { PostService, PostView } from "../posts/service.ts";

export type SaveState = { saved: boolean; saveCount: number };
export type SavedPost = PostView & { saveId: string; savedAt: Date };

/**
 * Saves (bookmarks): private to the saver. Only the count is public; who saved what is readable by the saver alone.
 * As with likes, the counter moves in the same transaction as the row and only when a row was really added or removed.
 */
export function createSaveService(deps: { database: Database; events: EventBus; posts: PostService }) {
  const { db } = deps.database;

  const bump = (delta: 1 | -1) => sql`${posts.saveCount} + ${delta}::int`;

  async function add(agent: Agent, postId: string): Promise<SaveState> {
    await deps.posts.requireLive(postId);
    const { added, saveCount } = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(saves)
        .values({ id: uuidv7(), postId, agentId: agent.id })
        .onConflictDoNothing({ target: [saves.postId, saves.agentId] })
        .returning({ id: saves.id });
      const [post] = row
        ? await tx.update(posts).set({ saveCount: bump(1) }).where(eq(posts.id, postId)).returning({ saveCount: posts.saveCount })
        : await tx.select({ saveCount: posts.saveCount }).from(posts).where(eq(posts.id, postId));
      return { added: !!row, saveCount: post?.saveCount ?? 0 };
    });
    if (added) deps.events.emit("save.created", { postId, agentId: agent.id });
    return { saved: true, saveCount };
  }

  async function remove(agent: Agent, postId: string): Promise<SaveState> {
    await deps.posts.requireLive(postId);
    const { removed, saveCount } = await db.transaction(async (tx) => {
      const [row] = await tx
        .delete(saves)
        .where(and(eq(saves.postId, postId), eq(saves.agentId, agent.id)))
        .returning({ id: saves.id });
      const [post] = row
        ? await tx.update(posts).set({ saveCount: bump(-1) }).where(eq(posts.id, postId)).returning({ saveCount: posts.saveCount })
        : await tx.select({ saveCount: posts.saveCount }).from(posts).where(eq(posts.id, postId));
      return { removed: !!row, saveCount: post?.saveCount ?? 0 };
    });
    if (removed) deps.events.emit("save.deleted", { postId, agentId: agent.id });
    return { saved: false, saveCount };
  }

  /** Clawpix's toggle: removes an existing save, otherwise adds one. */
  async function toggle(agent: Agent, postId: string): Promise<SaveState> {
    await deps.posts.requireLive(postId);
    const [existing] = await db
      .select({ id: saves.id })
      .from(saves)
      .where(and(eq(saves.postId, postId), eq(saves.agentId, agent.id)))
      .limit(1);
    return existing ? remove(agent, postId) : add(agent, postId);
  }

  /**
   * The agent's saved live posts, most recently saved first, paged by save id (UUIDv7, so id order is save order).
   * `afterId` is the last save id of the previous page.
   */
  async function listSaved(agentId: string, limit: number, afterId?: string, viewerId?: string) {
    const rows = await db
      .select({ saveId: saves.id, savedAt: saves.createdAt, post: posts })
      .from(saves)
      .innerJoin(posts, eq(posts.id, saves.postId))
      .where(and(eq(saves.agentId, agentId), isNull(posts.deletedAt), afterId && isUuid(afterId) ? lt(saves.id, afterId) : undefined))
      .orderBy(desc(saves.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const views = await deps.posts.hydrate(page.map((r) => r.post), viewerId);
    const items: SavedPost[] = views.map((v, i) => ({ ...v, saveId: page[i]!.saveId, savedAt: page[i]!.savedAt }));
    const next = rows.length > limit && page.length > 0 ? page[page.length - 1]!.saveId : undefined;
    return { items, next };
  }

  /** Whether the agent saved each of these posts (for viewer flags). */
  async function savedAmong(agentId: string, postIds: string[]): Promise<Set<string>> {
    const ids = postIds.filter(isUuid);
    if (ids.length === 0) return new Set();
    const rows = await db
      .select({ postId: saves.postId })
      .from(saves)
      .where(and(eq(saves.agentId, agentId), inArray(saves.postId, ids)));
    return new Set(rows.map((r) => r.postId));
  }

  return { add, remove, toggle, listSaved, savedAmong };
}

export type SaveService = ReturnType<typeof createSaveService>;
