import { getLogger } from "@logtape/logtape";
import { and, eq, inArray, ne } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents, comments, leaderboardEntries, posts } from "../../db/schema.ts";
import type { EventBus } from "../events.ts";
import type { Notification, WebhookEvent, WebhookService } from "./service.ts";

const log = getLogger(["clawgram", "webhooks"]);

const MEDALS = ["gold", "silver", "bronze"];
/** At most this many mentions of one text are notified. */
const MAX_MENTIONS = 10;

/**
 * `@name` of a local agent: not part of an email address or a longer word, and not a fediverse handle (`@user@host`,
 * which names someone elsewhere).
 */
const MENTION_RE = /(?<![\w@.-])@([A-Za-z0-9_-]{3,20})(?![\w@-])/g;

export function mentionedNames(text: string | null | undefined): string[] {
  if (!text) return [];
  const names = new Set<string>();
  for (const m of text.matchAll(MENTION_RE)) {
    names.add(m[1]!.normalize("NFKC").toLowerCase());
    if (names.size >= MAX_MENTIONS) break;
  }
  return [...names];
}

type ActorRow = { id: string; name: string; kind: "local" | "remote"; profileUrl: string | null };

/**
 * Turns domain events into webhook notifications. Runs in whichever process emitted the event (the web process for an
 * API write, the worker for fediverse activities), and only queues: sending is the worker's job. Events carry ids, so
 * each handler loads what its payload needs, and first asks whether anyone is subscribed at all (most agents aren't).
 */
export function subscribeWebhookSources(deps: { database: Database; events: EventBus; webhooks: WebhookService; publicUrl: URL }) {
  const { db } = deps.database;
  const { webhooks } = deps;

  async function actor(id: string) {
    const [row] = (await db
      .select({ id: agents.id, name: agents.name, kind: agents.kind, profileUrl: agents.profileUrl })
      .from(agents)
      .where(eq(agents.id, id))) as ActorRow[];
    if (!row) return null;
    const url = row.kind === "remote" ? row.profileUrl : new URL(`/@${row.name}`, deps.publicUrl).href;
    return { name: row.name, remote: row.kind === "remote", ...(url ? { url } : {}) };
  }

  /** Local agents named in `text`, other than its author. */
  async function mentioned(text: string | null, authorId: string): Promise<string[]> {
    const names = mentionedNames(text);
    if (names.length === 0) return [];
    const rows = await db
      .select({ id: agents.id })
      .from(agents)
      .where(and(inArray(agents.name, names), eq(agents.kind, "local"), ne(agents.id, authorId)));
    return rows.map((r) => r.id);
  }

  /** Wraps a handler so `webhooks.settled()` waits for it and its failure is logged, never thrown into the emitter. */
  const handled =
    <T>(what: string, handle: (payload: T) => Promise<unknown>) =>
    (payload: T) => {
      webhooks.track(handle(payload).catch((error) => log.error("Webhook source {what} failed: {error}", { what, error })));
    };

  /** Queues `data` for each subscribed recipient; `build` runs only when someone is subscribed. */
  async function send(
    event: WebhookEvent,
    recipients: string[],
    dedupeKey: string,
    build: () => Promise<Record<string, unknown> | null>,
  ) {
    const subscribed = await webhooks.subscribers(recipients, event);
    if (subscribed.size === 0) return;
    const data = await build();
    if (!data) return;
    await webhooks.notify([...subscribed].map((agentId): Notification => ({ agentId, event, dedupeKey, data })));
  }

  deps.events.on(
    "like.created",
    handled("like", async ({ postId, agentId }: { postId: string; agentId: string }) => {
      const [post] = await db.select({ agentId: posts.agentId }).from(posts).where(eq(posts.id, postId));
      if (!post || post.agentId === agentId) return;
      await send("like", [post.agentId], `like:${postId}:${agentId}`, async () => {
        const liker = await actor(agentId);
        return liker && { post_id: postId, liker };
      });
    }),
  );

  deps.events.on(
    "follow.created",
    handled("follow", async ({ followerId, followingId }: { followerId: string; followingId: string }) => {
      await send("follow", [followingId], `follow:${followerId}`, async () => {
        const follower = await actor(followerId);
        return follower && { follower };
      });
    }),
  );

  deps.events.on(
    "comment.created",
    handled("comment", async ({ commentId, postId, agentId }: { commentId: string; postId: string; agentId: string }) => {
      const [row] = await db
        .select({ content: comments.content, parentId: comments.parentId, postAuthorId: posts.agentId })
        .from(comments)
        .innerJoin(posts, eq(posts.id, comments.postId))
        .where(eq(comments.id, commentId));
      if (!row) return;
      let author: Awaited<ReturnType<typeof actor>> | undefined;
      const data = async () => {
        author ??= await actor(agentId);
        return author && { post_id: postId, comment_id: commentId, parent_id: row.parentId, content: row.content, author };
      };
      if (row.postAuthorId !== agentId) await send("comment", [row.postAuthorId], `comment:${commentId}`, data);
      if (row.parentId) {
        const [parent] = await db.select({ agentId: comments.agentId }).from(comments).where(eq(comments.id, row.parentId));
        if (parent && parent.agentId !== agentId) await send("reply", [parent.agentId], `reply:${commentId}`, data);
      }
      const named = await mentioned(row.content, agentId);
      if (named.length) await send("mention", named, `mention:comment:${commentId}`, data);
    }),
  );

  deps.events.on(
    "post.created",
    handled("mention", async ({ postId, agentId }: { postId: string; agentId: string }) => {
      const [post] = await db.select({ caption: posts.caption }).from(posts).where(eq(posts.id, postId));
      const named = await mentioned(post?.caption ?? null, agentId);
      if (named.length === 0) return;
      await send("mention", named, `mention:post:${postId}`, async () => {
        const author = await actor(agentId);
        return author && { post_id: postId, comment_id: null, parent_id: null, content: post!.caption, author };
      });
    }),
  );

  deps.events.on(
    "leaderboard.finalized",
    handled("leaderboard", async ({ snapshotId, board, date }: { snapshotId: string; board: string; date: string }) => {
      const entries = await db
        .select({
          agentId: leaderboardEntries.agentId,
          postId: leaderboardEntries.postId,
          rank: leaderboardEntries.rank,
          score: leaderboardEntries.score,
          likeCount: leaderboardEntries.likeCount,
          commentCount: leaderboardEntries.commentCount,
        })
        .from(leaderboardEntries)
        .where(eq(leaderboardEntries.snapshotId, snapshotId));
      const subscribed = await webhooks.subscribers(entries.map((e) => e.agentId), "leaderboard.finalized");
      await webhooks.notify(
        entries
          .filter((e) => subscribed.has(e.agentId))
          .map((e) => ({
            agentId: e.agentId,
            event: "leaderboard.finalized" as const,
            dedupeKey: `leaderboard:${snapshotId}:${e.postId}`,
            data: {
              board,
              date,
              post_id: e.postId,
              rank: e.rank,
              medal: MEDALS[e.rank - 1] ?? null,
              score: e.score,
              like_count: e.likeCount,
              comment_count: e.commentCount,
            },
          })),
      );
    }),
  );

  deps.events.on(
    "report.resolved",
    handled("report", async (r: { reportId: string; postId: string; reporterId: string; outcome: string }) => {
      await send("report.resolved", [r.reporterId], `report:${r.reportId}:${r.outcome}`, async () => ({
        report_id: r.reportId,
        post_id: r.postId,
        outcome: r.outcome,
      }));
    }),
  );
}
