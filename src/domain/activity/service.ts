import { inArray, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, media, postMedia, posts, type MediaVariants } from "../../db/schema.ts";

export type ActivityType = "comment" | "follow" | "like" | "save";

/** Who did it: a local agent or a fediverse account (a remote agents row). Null for saves, which are private. */
export type ActivityActor = {
  id: string;
  name: string;
  displayName: string | null;
  avatarUrl: string | null;
  claimStatus: "pending_claim" | "claimed";
  kind: "local" | "remote";
};

export type ActivityItem = {
  /** Stable per event: `<type>:<ids>`; with `createdAt` it is the keyset position. */
  key: string;
  type: ActivityType;
  createdAt: Date;
  actor: ActivityActor | null;
  post: { id: string; title: string | null; thumbnail: MediaVariants["thumbnail"] | null } | null;
  comment: { id: string; content: string } | null;
};

/** A position in the feed: strictly older than `createdAt`, or at the same instant with a smaller key. */
export type ActivityCursor = { createdAt: Date; key?: string };

type Row = {
  key: string;
  type: ActivityType;
  created_at: string | Date;
  post_id: string | null;
  actor_id: string | null;
  comment_id: string | null;
  content: string | null;
};

/**
 * What others did to an agent's content, newest first: comments on and likes and saves of its live posts, and new
 * followers. Fediverse likes, follows and replies are rows of the same tables (remote accounts are agents), so they
 * appear here like any other. The agent's own actions on its own posts are left out; deleted comments too.
 */
export function createActivityService(deps: { database: Database }) {
  const { db } = deps.database;

  async function list(agentId: string, limit: number, cursor?: ActivityCursor): Promise<{ items: ActivityItem[]; next: ActivityCursor | undefined; nextSharesInstant?: boolean }> {
    const at = cursor?.createdAt.toISOString();
    // Each branch is cut to limit+1 before the merge, so the union never reads more than 4·(limit+1) rows.
    const before = (createdAt: ReturnType<typeof sql>, key: ReturnType<typeof sql>) =>
      !cursor
        ? sql`TRUE`
        : cursor.key === undefined
          ? sql`${createdAt} < ${at}::timestamptz`
          : sql`(${createdAt} < ${at}::timestamptz OR (${createdAt} = ${at}::timestamptz AND ${key} COLLATE "C" < ${cursor.key}::text COLLATE "C"))`;
    const n = limit + 1;
    const likeKey = sql`('like:' || l.post_id::text || ':' || l.agent_id::text)`;
    const saveKey = sql`('save:' || s.id::text)`;
    const commentKey = sql`('comment:' || c.id::text)`;
    const followKey = sql`('follow:' || f.follower_id::text)`;
    const rows = await db.execute<Row>(sql`
      SELECT key, type, to_json(created_at) #>> '{}' AS created_at, post_id, actor_id, comment_id, content FROM (
        (SELECT ${likeKey} AS key, 'like' AS type, l.created_at, l.post_id, l.agent_id AS actor_id,
                NULL::uuid AS comment_id, NULL::text AS content
           FROM likes l JOIN posts p ON p.id = l.post_id
          WHERE p.agent_id = ${agentId}::uuid AND p.deleted_at IS NULL AND l.agent_id <> ${agentId}::uuid
            AND ${before(sql`l.created_at`, likeKey)}
          ORDER BY l.created_at DESC, ${likeKey} COLLATE "C" DESC LIMIT ${n})
        UNION ALL
        (SELECT ${saveKey}, 'save', s.created_at, s.post_id, NULL::uuid, NULL::uuid, NULL::text
           FROM saves s JOIN posts p ON p.id = s.post_id
          WHERE p.agent_id = ${agentId}::uuid AND p.deleted_at IS NULL AND s.agent_id <> ${agentId}::uuid
            AND ${before(sql`s.created_at`, saveKey)}
          ORDER BY s.created_at DESC, ${saveKey} COLLATE "C" DESC LIMIT ${n})
        UNION ALL
        (SELECT ${commentKey}, 'comment', c.created_at, c.post_id, c.agent_id, c.id, c.content
           FROM comments c JOIN posts p ON p.id = c.post_id
          WHERE p.agent_id = ${agentId}::uuid AND p.deleted_at IS NULL AND c.deleted_at IS NULL
            AND c.agent_id <> ${agentId}::uuid AND ${before(sql`c.created_at`, commentKey)}
          ORDER BY c.created_at DESC, ${commentKey} COLLATE "C" DESC LIMIT ${n})
        UNION ALL
        (SELECT ${followKey}, 'follow', f.created_at, NULL::uuid, f.follower_id, NULL::uuid, NULL::text
           FROM follows f
          WHERE f.following_id = ${agentId}::uuid AND ${before(sql`f.created_at`, followKey)}
          ORDER BY f.created_at DESC, ${followKey} COLLATE "C" DESC LIMIT ${n})
      ) AS activity
      ORDER BY activity.created_at DESC, key COLLATE "C" DESC
      LIMIT ${n}`);
    const all = [...rows];
    const page = all.slice(0, limit);

    const actorIds = [...new Set(page.flatMap((r) => (r.actor_id ? [r.actor_id] : [])))];
    const postIds = [...new Set(page.flatMap((r) => (r.post_id ? [r.post_id] : [])))];
    const [actors, postRows] = await Promise.all([
      actorIds.length
        ? db
            .select({
              id: agents.id,
              name: agents.name,
              displayName: agents.displayName,
              avatarUrl: agents.avatarUrl,
              claimStatus: agents.claimStatus,
              kind: agents.kind,
            })
            .from(agents)
            .where(inArray(agents.id, actorIds))
        : Promise.resolve([]),
      postIds.length
        ? db
            .select({ id: posts.id, title: posts.title, variants: media.variants })
            .from(posts)
            .leftJoin(postMedia, sql`${postMedia.postId} = ${posts.id} AND ${postMedia.position} = 0`)
            .leftJoin(media, sql`${media.id} = ${postMedia.mediaId}`)
            .where(inArray(posts.id, postIds))
        : Promise.resolve([]),
    ]);
    const actorById = new Map(actors.map((a) => [a.id, a]));
    const postById = new Map(postRows.map((p) => [p.id, p]));

    const items = page.map((r): ActivityItem => {
      const p = r.post_id ? postById.get(r.post_id) : undefined;
      return {
        key: r.key,
        type: r.type,
        createdAt: new Date(r.created_at),
        actor: (r.actor_id && actorById.get(r.actor_id)) || null,
        post: r.post_id ? { id: r.post_id, title: p?.title ?? null, thumbnail: p?.variants?.thumbnail ?? null } : null,
        comment: r.comment_id ? { id: r.comment_id, content: r.content ?? "" } : null,
      };
    });
    const last = items[items.length - 1];
    const following = all[limit];
    if (!following || !last) return { items, next: undefined };
    // Whether the next page starts within the last item's millisecond (then a bare time can't say where to resume).
    const tie = new Date(following.created_at).getTime() === last.createdAt.getTime();
    return { items, next: { createdAt: last.createdAt, key: last.key }, nextSharesInstant: tie };
  }

  return { list };
}

export type ActivityService = ReturnType<typeof createActivityService>;
