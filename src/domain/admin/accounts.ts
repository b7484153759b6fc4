import { getLogger } from "@logtape/logtape";
import { and, asc, eq, isNotNull, isNull, lt, ne, sql, type SQL } from "drizzle-orm";
import type { Database, Db } from "../../db/client.ts";
import { isUuid } from "../../db/ids.ts";
import { agents, comments, posts } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import type { HotCache } from "../discovery/hot-cache.ts";
import type { MediaService } from "../media/service.ts";
import { DomainError, notFound } from "../errors.ts";
import type { EventBus } from "../events.ts";
import { HOT } from "../posts/service.ts";
import { writeAudit } from "./audit.ts";

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** A suspension can be lifted for this long; then the purge job deletes the account. */
export const SUSPENSION_GRACE_MS = 30 * 86_400_000;

export type AccountFilter = "all" | "suspended" | "limited" | "sensitive" | "pending";
export type AccountAction = "suspend" | "unsuspend" | "limit" | "unlimit" | "force_sensitive" | "unforce_sensitive" | "approve" | "purge";

const accountNotFound = () => notFound("Account not found");
const log = getLogger(["clawgram", "admin"]);

/**
 * The author of what a purged account leaves behind: a comment of it that others replied to stays as a tombstone
 * (like an ordinary deleted comment) so their replies stay reachable, owned by this placeholder instead. Its name can
 * be neither an agent's nor a fediverse handle; it is a suspended remote row without an actor, so nothing lists it,
 * federates with it or lets anyone act on it.
 */
export const DELETED_ACCOUNT = { id: "00000000-0000-7000-8000-000000000000", name: "[deleted]" } as const;

async function ensureDeletedAccount(tx: Tx) {
  await tx
    .insert(agents)
    .values({ id: DELETED_ACCOUNT.id, name: DELETED_ACCOUNT.name, kind: "remote", suspendedAt: new Date(0), bio: null })
    .onConflictDoNothing();
}

/**
 * Purging: the account's comments that someone else's reply hangs under (directly or further down) become tombstones
 * of the deleted-account placeholder, their text gone; the rest are deleted with the account. Comments under its own
 * posts go with those posts. Returns how many were kept as tombstones.
 */
async function tombstoneRepliedComments(tx: Tx, id: string): Promise<number> {
  const rows = await tx.execute<{ id: string }>(sql`
    WITH RECURSIVE held(id) AS (
      SELECT c.parent_id FROM comments c JOIN comments parent ON parent.id = c.parent_id
      WHERE parent.agent_id = ${id} AND c.agent_id <> ${id}
      UNION
      SELECT c.parent_id FROM comments c JOIN held h ON c.id = h.id WHERE c.parent_id IS NOT NULL
    )
    UPDATE comments c
    SET agent_id = ${DELETED_ACCOUNT.id}, content = '', iri = NULL, deleted_at = coalesce(c.deleted_at, now())
    WHERE c.id IN (SELECT id FROM held) AND c.agent_id = ${id}
      AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = c.post_id AND p.agent_id = ${id})
    RETURNING c.id`);
  return [...rows].length;
}

/**
 * Removes an account's likes, boosts, saves and follows (both ways), keeping every denormalised counter exact. With
 * `comments`, its comments go too (counts and reply counts adjusted), as before deleting the row itself; tombstones
 * handed to the placeholder first stay, and stay counted, as deleted comments do.
 */
async function dropInteractions(tx: Tx, id: string, options: { comments: boolean }) {
  await tx.execute(sql`UPDATE posts p SET like_count = p.like_count - 1, hot_base = p.hot_base - ${HOT.like}
    FROM likes l WHERE l.agent_id = ${id} AND l.post_id = p.id`);
  await tx.execute(sql`DELETE FROM likes WHERE agent_id = ${id}`);
  await tx.execute(sql`UPDATE posts p SET announce_count = greatest(p.announce_count - 1, 0)
    FROM announces a WHERE a.agent_id = ${id} AND a.post_id = p.id`);
  await tx.execute(sql`DELETE FROM announces WHERE agent_id = ${id}`);
  await tx.execute(sql`UPDATE posts p SET save_count = greatest(p.save_count - 1, 0) FROM saves s WHERE s.agent_id = ${id} AND s.post_id = p.id`);
  await tx.execute(sql`DELETE FROM saves WHERE agent_id = ${id}`);
  await tx.execute(sql`UPDATE agents a SET follower_count = a.follower_count - 1
    FROM follows f WHERE f.follower_id = ${id} AND f.following_id = a.id`);
  await tx.execute(sql`UPDATE agents a SET following_count = a.following_count - 1
    FROM follows f WHERE f.following_id = ${id} AND f.follower_id = a.id`);
  await tx.execute(sql`DELETE FROM follows WHERE follower_id = ${id} OR following_id = ${id}`);
  if (options.comments) {
    await tx.execute(sql`UPDATE posts p SET comment_count = p.comment_count - c.n, hot_base = p.hot_base - ${HOT.comment} * c.n
      FROM (SELECT post_id, count(*)::int AS n FROM comments WHERE agent_id = ${id} GROUP BY post_id) c
      WHERE p.id = c.post_id AND p.agent_id <> ${id}`);
    await tx.execute(sql`UPDATE comments pc SET replies_count = pc.replies_count - c.n
      FROM (SELECT parent_id, count(*)::int AS n FROM comments WHERE agent_id = ${id} AND parent_id IS NOT NULL GROUP BY parent_id) c
      WHERE pc.id = c.parent_id AND pc.agent_id <> ${id}`);
    await tx.execute(sql`DELETE FROM comments WHERE agent_id = ${id}`);
  }
}

/**
 * Account moderation (Mastodon's admin actions, scaled down): suspend hides the profile, posts and comments (they are
 * soft-deleted with the suspension's own timestamp, so lifting it restores exactly those) and refuses writes; a remote
 * account's follows, likes and boosts are dropped at once. Limit keeps the account out of explore, search and
 * leaderboards. Force-sensitive marks every post sensitive. Purge deletes the account and everything it did.
 */
export function createAccountModeration(deps: {
  database: Database;
  events: EventBus;
  hotCache?: Pick<HotCache, "clear">;
  /** A purge deletes the account's media files too (its rows go with the account). */
  media?: Pick<MediaService, "filesOf" | "deleteFiles">;
}) {
  const { db } = deps.database;

  async function load(tx: Tx | Db, id: string, lock = false): Promise<Agent> {
    if (id === DELETED_ACCOUNT.id) throw accountNotFound();
    const q = tx.select().from(agents).where(eq(agents.id, id));
    const [row] = lock ? await q.for("update") : await q;
    if (!row) throw accountNotFound();
    return row;
  }

  /** By id, local name or `user@host` handle; suspended accounts included. */
  async function find(ref: string): Promise<Agent> {
    const key = ref.trim().replace(/^@/, "").toLowerCase();
    const where = isUuid(key) ? eq(agents.id, key) : eq(agents.name, key);
    const [row] = await db.select().from(agents).where(and(where, ne(agents.id, DELETED_ACCOUNT.id))).limit(1);
    if (!row) throw accountNotFound();
    return row;
  }

  async function list(query: { filter: AccountFilter; kind?: "local" | "remote"; limit: number; after?: string }): Promise<Agent[]> {
    const where: (SQL | undefined)[] = [
      query.filter === "suspended" ? isNotNull(agents.suspendedAt) : undefined,
      query.filter === "limited" ? isNotNull(agents.limitedAt) : undefined,
      query.filter === "sensitive" ? isNotNull(agents.forceSensitiveAt) : undefined,
      query.filter === "pending" ? eq(agents.pendingApproval, true) : undefined,
      query.kind ? eq(agents.kind, query.kind) : undefined,
      query.after ? sql`${agents.id} > ${query.after}::uuid` : undefined,
      ne(agents.id, DELETED_ACCOUNT.id),
    ];
    return db.select().from(agents).where(and(...where)).orderBy(asc(agents.id)).limit(query.limit);
  }

  /** One action on one account, audited in the same transaction. */
  async function act(id: string, action: AccountAction, actor: string, reason?: string | null): Promise<Agent | null> {
    const after: (() => void | Promise<void>)[] = [];
    // A suspended account uploads nothing more, so its files are known before its rows go.
    const files = action === "purge" && deps.media ? await deps.media.filesOf(id) : [];
    const result = await db.transaction(async (tx) => {
      const agent = await load(tx, id, true);
      const audit = (details?: Record<string, unknown>) =>
        writeAudit(tx, { actor, action: `account.${action}`, targetType: "account", targetId: agent.id, reason, details: { name: agent.name, kind: agent.kind, ...details } });
      const set = async (values: Partial<typeof agents.$inferInsert>) => {
        const [row] = await tx.update(agents).set(values).where(eq(agents.id, agent.id)).returning();
        return row!;
      };
      switch (action) {
        case "suspend": {
          if (agent.suspendedAt) throw new DomainError("conflict", "already_suspended", "Account is already suspended");
          const at = new Date();
          const updated = await set({ suspendedAt: at });
          const hidden = await tx.update(posts).set({ deletedAt: at }).where(and(eq(posts.agentId, agent.id), isNull(posts.deletedAt))).returning({ id: posts.id });
          await tx.update(comments).set({ deletedAt: at }).where(and(eq(comments.agentId, agent.id), isNull(comments.deletedAt)));
          if (agent.kind === "remote") await dropInteractions(tx, agent.id, { comments: false });
          await audit({ hiddenPosts: hidden.length, purgeAfter: new Date(at.getTime() + SUSPENSION_GRACE_MS).toISOString() });
          after.push(() => deps.events.emit("agent.suspended", { agentId: agent.id }));
          return updated;
        }
        case "unsuspend": {
          const at = agent.suspendedAt;
          if (!at) throw new DomainError("conflict", "not_suspended", "Account is not suspended");
          const updated = await set({ suspendedAt: null });
          // Exactly what the suspension hid: rows deleted by their author before or after keep their own timestamps.
          const restored = await tx.update(posts).set({ deletedAt: null }).where(and(eq(posts.agentId, agent.id), eq(posts.deletedAt, at))).returning({ id: posts.id });
          await tx.update(comments).set({ deletedAt: null }).where(and(eq(comments.agentId, agent.id), eq(comments.deletedAt, at)));
          await audit({ restoredPosts: restored.length });
          after.push(() => deps.events.emit("agent.unsuspended", { agentId: agent.id }));
          return updated;
        }
        case "limit":
          await audit();
          return set({ limitedAt: agent.limitedAt ?? new Date() });
        case "unlimit":
          await audit();
          return set({ limitedAt: null });
        case "force_sensitive": {
          const at = agent.forceSensitiveAt ?? new Date();
          // Only posts not already sensitive are marked, and they remember it: undoing the force unmarks just those.
          const marked = await tx
            .update(posts)
            .set({ isSensitive: true, sensitiveByForceAt: at })
            .where(and(eq(posts.agentId, agent.id), eq(posts.isSensitive, false)))
            .returning({ id: posts.id });
          await audit({ markedPosts: marked.length });
          after.push(() => deps.hotCache?.clear());
          return set({ forceSensitiveAt: at });
        }
        case "unforce_sensitive": {
          // A post the reports made sensitive meanwhile stays so (a moderator's mark already cleared the force's).
          const unmarked = await tx
            .update(posts)
            .set({ isSensitive: false, sensitiveByForceAt: null })
            .where(and(eq(posts.agentId, agent.id), isNotNull(posts.sensitiveByForceAt), isNull(posts.sensitiveByReportAt)))
            .returning({ id: posts.id });
          const kept = await tx
            .update(posts)
            .set({ sensitiveByForceAt: null })
            .where(and(eq(posts.agentId, agent.id), isNotNull(posts.sensitiveByForceAt)))
            .returning({ id: posts.id });
          await audit({ unmarkedPosts: unmarked.length, keptSensitive: kept.length });
          after.push(() => deps.hotCache?.clear());
          return set({ forceSensitiveAt: null });
        }
        case "approve":
          if (!agent.pendingApproval) throw new DomainError("conflict", "not_pending", "Account is not waiting for approval");
          await audit();
          return set({ pendingApproval: false });
        case "purge": {
          if (agent.kind === "local" && !agent.suspendedAt) {
            throw new DomainError("conflict", "not_suspended", "Suspend a local account before purging it", "Purging deletes everything; it cannot be undone");
          }
          await ensureDeletedAccount(tx);
          const tombstones = await tombstoneRepliedComments(tx, agent.id);
          await dropInteractions(tx, agent.id, { comments: true });
          // Its posts' media links first: the cascades from the account row would otherwise reach its media before them.
          await tx.execute(sql`DELETE FROM post_media WHERE post_id IN (SELECT id FROM posts WHERE agent_id = ${agent.id})`);
          await tx.delete(agents).where(eq(agents.id, agent.id));
          await audit({ tombstonedComments: tombstones, deletedFiles: files.length });
          after.push(() => deps.hotCache?.clear());
          // After the commit, and not failing the purge that already happened: a storage error only leaves files behind.
          after.push(() =>
            deps.media?.deleteFiles(files).catch((error: unknown) => log.warning("Purged account's files not deleted: {error}", { error })),
          );
          return null;
        }
      }
    });
    for (const fn of after) await fn();
    return result;
  }

  /** Deletes accounts whose suspension is older than the grace period (run by the scheduled job). */
  async function purgeExpired(now = new Date()): Promise<number> {
    const due = await db
      .select({ id: agents.id })
      .from(agents)
      .where(and(lt(agents.suspendedAt, new Date(now.getTime() - SUSPENSION_GRACE_MS)), ne(agents.id, DELETED_ACCOUNT.id)))
      .limit(100);
    let purged = 0;
    for (const { id } of due) {
      try {
        await act(id, "purge", "system:purge-suspended", "Suspended for more than 30 days");
        purged++;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
      }
    }
    return purged;
  }

  /** Registered while registrations need approval: writes wait for an admin's `approve`. */
  async function holdForApproval(id: string): Promise<void> {
    await db.update(agents).set({ pendingApproval: true }).where(eq(agents.id, id));
  }

  return { find, list, act, purgeExpired, holdForApproval };
}

export type AccountModeration = ReturnType<typeof createAccountModeration>;
