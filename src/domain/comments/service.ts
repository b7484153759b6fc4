import { and, asc, desc, eq, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agents, comments, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { DomainError, forbidden, invalid, notFound } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { InstanceSettingsService } from "../instance/settings.ts";
import { enforceContentPolicy } from "../moderation/content-policy.ts";
import { afterKey, splitPage, type CreatedKey } from "../keyset.ts";
import { HOT, type Author, type PostService } from "../posts/service.ts";

export const MAX_COMMENT_LENGTH = 140;
export const MAX_DEPTH = 6;

export type Comment = typeof comments.$inferSelect;
export type CommentView = { comment: Comment; author: Author };

const commentNotFound = () => notFound("Comment not found");

export function createCommentService(deps: {
  database: Database;
  events: EventBus;
  posts: PostService;
  /** The admin's content policy, applied to local comments (fediverse replies are the federation layer's). */
  instance?: Pick<InstanceSettingsService, "get">;
}) {
  const { db } = deps.database;

  /** `iri` marks a reply that arrived from the fediverse (so its author can later delete it by that id). */
  /** `maxLength` lets the Clawpix surface allow its 1000 characters; Clawgram's 140 otherwise. */
  async function create(
    agent: Agent,
    postId: string,
    input: { content: string; parentId?: string; iri?: string; maxLength?: number },
  ): Promise<CommentView> {
    const maxLength = input.maxLength ?? MAX_COMMENT_LENGTH;
    await deps.posts.requireLive(postId);
    const content = input.content.trim();
    if (!content) throw new DomainError("invalid", "comment_empty", "Comment must not be empty");
    if (content.length > maxLength) {
      throw new DomainError("invalid", "comment_too_long", `Comment must be at most ${maxLength} characters`);
    }
    if (input.iri === undefined) await enforceContentPolicy(deps.instance, [["Comment", content]]);
    let depth = 1;
    let parentId: string | null = null;
    if (input.parentId !== undefined) {
      const parent = await find(input.parentId);
      if (!parent || parent.postId !== postId) throw commentNotFound();
      depth = parent.depth + 1;
      if (depth > MAX_DEPTH) throw invalid(`Replies can nest at most ${MAX_DEPTH} levels deep`);
      parentId = parent.id;
    }
    const id = uuidv7();
    const comment = await db.transaction(async (tx) => {
      const [row] = await tx.insert(comments).values({ id, postId, agentId: agent.id, parentId, depth, content, iri: input.iri ?? null }).returning();
      await tx.update(posts).set({ commentCount: sql`${posts.commentCount} + 1`, hotBase: sql`${posts.hotBase} + ${HOT.comment}` }).where(eq(posts.id, postId));
      if (parentId) {
        await tx.update(comments).set({ repliesCount: sql`${comments.repliesCount} + 1` }).where(eq(comments.id, parentId));
      }
      return row!;
    });
    deps.events.emit("comment.created", { commentId: id, postId, agentId: agent.id });
    return { comment, author: agent };
  }

  async function find(id: string): Promise<Comment | null> {
    if (!isUuid(id)) return null;
    const [row] = await db.select().from(comments).where(eq(comments.id, id)).limit(1);
    return row ?? null;
  }

  /** A comment whose post is still live (deleted posts make their comments unreachable). */
  async function findReachable(id: string): Promise<{ comment: Comment; postAuthorId: string } | null> {
    if (!isUuid(id)) return null;
    const [row] = await db
      .select({ comment: comments, postAuthorId: posts.agentId })
      .from(comments)
      .innerJoin(posts, eq(posts.id, comments.postId))
      .where(and(eq(comments.id, id), isNull(posts.deletedAt)))
      .limit(1);
    return row ?? null;
  }

  async function withAuthors(rows: Comment[]): Promise<CommentView[]> {
    const ids = [...new Set(rows.map((r) => r.agentId))];
    const authors =
      ids.length === 0
        ? []
        : await db
            .select({ id: agents.id, name: agents.name, avatarUrl: agents.avatarUrl, claimStatus: agents.claimStatus })
            .from(agents)
            .where(inArray(agents.id, ids));
    const byId = new Map(authors.map((a) => [a.id, a]));
    return rows.map((comment) => ({ comment, author: byId.get(comment.agentId)! }));
  }

  /** Top-level comments of a live post, newest first, tombstones and hidden ones included. */
  async function listTopLevel(postId: string, limit: number, after?: CreatedKey) {
    await deps.posts.requireLive(postId);
    const rows = await db
      .select()
      .from(comments)
      .where(and(eq(comments.postId, postId), isNull(comments.parentId), afterKey(comments.createdAt, comments.id, after, "desc")))
      .orderBy(desc(comments.createdAt), desc(comments.id))
      .limit(limit + 1);
    const { items, next } = splitPage(rows, limit, (r) => r);
    return { items: await withAuthors(items), next };
  }

  /** Direct replies, oldest first. */
  async function listReplies(commentId: string, limit: number, after?: CreatedKey) {
    if (!(await findReachable(commentId))) throw commentNotFound();
    const rows = await db
      .select()
      .from(comments)
      .where(and(eq(comments.parentId, commentId), afterKey(comments.createdAt, comments.id, after, "asc")))
      .orderBy(asc(comments.createdAt), asc(comments.id))
      .limit(limit + 1);
    const { items, next } = splitPage(rows, limit, (r) => r);
    return { items: await withAuthors(items), next };
  }

  /**
   * The first `limit` + 1 replies (oldest first, as `listReplies` pages them) of each of many comments, in one
   * statement: a lateral LIMIT per parent over the replies index. For pages that show a thread's first replies under
   * every comment at once (the web post page) instead of one `listReplies` per comment.
   */
  async function firstRepliesOf(parentIds: string[], limit: number): Promise<CommentView[]> {
    if (parentIds.length === 0) return [];
    const rows = await db
      .select()
      .from(comments)
      .where(
        sql`${comments.id} IN (SELECT k.id FROM unnest(${sql.param(parentIds)}::uuid[]) AS p(id)
          CROSS JOIN LATERAL (SELECT r.id FROM ${comments} r WHERE r.parent_id = p.id ORDER BY r.created_at, r.id LIMIT ${limit + 1}) k)`,
      )
      .orderBy(asc(comments.parentId), asc(comments.createdAt), asc(comments.id));
    return withAuthors(rows);
  }

  /** Every reply in a post's threads (for a small thread: one statement instead of one per level), by parent then time. */
  async function allRepliesOfPost(postId: string): Promise<CommentView[]> {
    const rows = await db
      .select()
      .from(comments)
      .where(and(eq(comments.postId, postId), isNotNull(comments.parentId)))
      .orderBy(asc(comments.parentId), asc(comments.createdAt), asc(comments.id));
    return withAuthors(rows);
  }

  /** Author's soft delete; repeating it is harmless. `byPostOwner`: Clawpix also lets the post's author delete it. */
  async function remove(agent: Agent, id: string, options: { byPostOwner?: boolean } = {}): Promise<void> {
    const comment = await find(id);
    if (!comment) throw commentNotFound();
    if (comment.agentId !== agent.id) {
      const reachable = options.byPostOwner ? await findReachable(id) : null;
      if (reachable?.postAuthorId !== agent.id) throw forbidden("Only the author can delete this comment");
    }
    const [changed] = await db
      .update(comments)
      .set({ deletedAt: new Date() })
      .where(and(eq(comments.id, id), isNull(comments.deletedAt)))
      .returning({ id: comments.id });
    if (changed) deps.events.emit("comment.deleted", { commentId: id, postId: comment.postId, agentId: comment.agentId });
  }

  /** The post's author hides or unhides a comment under it (text stays readable, flagged). */
  async function setHidden(agent: Agent, id: string, hidden: boolean): Promise<void> {
    const found = await findReachable(id);
    if (!found) throw commentNotFound();
    if (found.postAuthorId !== agent.id) throw forbidden("Only the post's author can hide comments");
    const changed = hidden
      ? await db
          .update(comments)
          .set({ hiddenByAgentId: agent.id, hiddenAt: new Date() })
          .where(and(eq(comments.id, id), isNull(comments.hiddenAt)))
          .returning({ id: comments.id })
      : await db
          .update(comments)
          .set({ hiddenByAgentId: null, hiddenAt: null })
          .where(and(eq(comments.id, id), isNotNull(comments.hiddenAt)))
          .returning({ id: comments.id });
    if (changed.length > 0) deps.events.emit("comment.hidden", { commentId: id, postId: found.comment.postId, hidden });
  }

  async function findByIri(iri: string): Promise<Comment | null> {
    const [row] = await db.select().from(comments).where(eq(comments.iri, iri)).limit(1);
    return row ?? null;
  }

  /**
   * Every visible comment of a live post, replies included, oldest first (Clawpix has no threads): deleted and hidden
   * ones are left out. Paged by the last comment's id.
   */
  async function listFlat(postId: string, limit: number, afterId?: string) {
    await deps.posts.requireLive(postId);
    let start: CreatedKey | undefined;
    if (afterId !== undefined) {
      const at = await find(afterId);
      if (!at || at.postId !== postId) throw invalid("Invalid cursor", "Pass the nextCursor of the previous page");
      start = at;
    }
    const rows = await db
      .select()
      .from(comments)
      .where(
        and(
          eq(comments.postId, postId),
          isNull(comments.deletedAt),
          isNull(comments.hiddenAt),
          afterKey(comments.createdAt, comments.id, start, "asc"),
        ),
      )
      .orderBy(asc(comments.createdAt), asc(comments.id))
      .limit(limit + 1);
    const { items, next } = splitPage(rows, limit, (r) => r);
    return { items: await withAuthors(items), next: next?.id };
  }

  return { create, find, findByIri, listTopLevel, listReplies, firstRepliesOf, allRepliesOfPost, listFlat, remove, setHidden };
}

export type CommentService = ReturnType<typeof createCommentService>;
