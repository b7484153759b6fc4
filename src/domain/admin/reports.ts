import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid } from "../../db/ids.ts";
import { agents, posts, remotePosts, reports } from "../../db/schema.ts";
import { DomainError, notFound } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { AccountAction, AccountModeration } from "./accounts.ts";
import { writeAudit } from "./audit.ts";
import { blockPostMediaIn } from "./media-blocks.ts";

export const RESOLUTIONS = [
  "dismiss",
  "mark_sensitive",
  "delete_post",
  "suspend_account",
  "limit_account",
  "force_sensitive_account",
] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

const ACCOUNT_ACTION: Partial<Record<Resolution, AccountAction>> = {
  suspend_account: "suspend",
  limit_account: "limit",
  force_sensitive_account: "force_sensitive",
};

export type QueuedReport = {
  id: string;
  reason: string;
  details: string | null;
  weight: number;
  createdAt: Date;
  forwardedAt: Date | null;
  /** local: one of our agents; remote: a fediverse account (a Flag). */
  origin: "local" | "remote";
  reporter: { id: string; name: string };
};

export type ReportGroup = {
  post: {
    id: string;
    caption: string | null;
    isSensitive: boolean;
    reportScore: number;
    deleted: boolean;
    author: { id: string; name: string; kind: "local" | "remote" };
  };
  /** Sum of the weights of the open reports. */
  score: number;
  latestAt: Date;
  reports: QueuedReport[];
};

type GroupRow = {
  post_id: string;
  caption: string | null;
  is_sensitive: boolean;
  report_score: number;
  deleted: boolean;
  author_id: string;
  author_name: string;
  author_kind: "local" | "remote";
  score: number;
  latest_at: string;
  reports: {
    id: string;
    reason: string;
    details: string | null;
    weight: number;
    created_at: string;
    forwarded_at: string | null;
    reporter_id: string;
    reporter_name: string;
    reporter_kind: "local" | "remote";
  }[];
};

/**
 * The moderation queue: open reports grouped by post, highest open score first, and their resolution. Resolving acts
 * on the post or its author, closes every open report on the post and tells listeners (`report.resolved`).
 */
export function createReportQueue(deps: { database: Database; events: EventBus; accounts: AccountModeration }) {
  const { db } = deps.database;

  async function list(query: { origin?: "local" | "remote"; limit: number; offset: number }): Promise<ReportGroup[]> {
    const origin = query.origin ? sql`AND rp.kind = ${query.origin}` : sql``;
    const rows = await db.execute<GroupRow>(sql`
      SELECT p.id AS post_id, p.caption, p.is_sensitive, p.report_score, p.deleted_at IS NOT NULL AS deleted,
        a.id AS author_id, a.name AS author_name, a.kind AS author_kind,
        sum(r.weight)::float8 AS score, max(r.created_at) AS latest_at,
        json_agg(json_build_object(
          'id', r.id, 'reason', r.reason, 'details', r.details, 'weight', r.weight, 'created_at', r.created_at,
          'forwarded_at', r.forwarded_at, 'reporter_id', rp.id, 'reporter_name', rp.name, 'reporter_kind', rp.kind
        ) ORDER BY r.created_at, r.id) AS reports
      FROM reports r
      JOIN posts p ON p.id = r.post_id
      JOIN agents a ON a.id = p.agent_id
      JOIN agents rp ON rp.id = r.reporter_agent_id
      WHERE r.resolved_at IS NULL ${origin}
      GROUP BY p.id, a.id
      ORDER BY sum(r.weight) DESC, max(r.created_at) DESC, p.id
      LIMIT ${query.limit} OFFSET ${query.offset}`);
    return rows.map((row) => ({
      post: {
        id: row.post_id,
        caption: row.caption,
        isSensitive: row.is_sensitive,
        reportScore: Number(row.report_score),
        deleted: row.deleted,
        author: { id: row.author_id, name: row.author_name, kind: row.author_kind },
      },
      score: Number(row.score),
      latestAt: new Date(row.latest_at),
      reports: row.reports.map((r) => ({
        id: r.id,
        reason: r.reason,
        details: r.details,
        weight: Number(r.weight),
        createdAt: new Date(r.created_at),
        forwardedAt: r.forwarded_at ? new Date(r.forwarded_at) : null,
        origin: r.reporter_kind,
        reporter: { id: r.reporter_id, name: r.reporter_name },
      })),
    }));
  }

  async function postWithAuthor(postId: string) {
    if (!isUuid(postId)) throw notFound("Post not found");
    const [row] = await db
      .select({ post: posts, author: agents })
      .from(posts)
      .innerJoin(agents, eq(agents.id, posts.agentId))
      .where(eq(posts.id, postId));
    if (!row) throw notFound("Post not found");
    return row;
  }

  /** Resolves every open report on a post with one outcome; `blockMedia` also blocks its images by content hash. */
  async function resolve(postId: string, outcome: Resolution, actor: string, reason?: string | null, options: { blockMedia?: boolean } = {}) {
    const { post, author } = await postWithAuthor(postId);
    const accountAction = ACCOUNT_ACTION[outcome];
    // Account actions run (and are audited) on their own; an account already in that state is fine here.
    if (accountAction) {
      try {
        await deps.accounts.act(author.id, accountAction, actor, reason);
      } catch (error) {
        if (!(error instanceof DomainError && error.code === "already_suspended")) throw error;
      }
    }
    let deleted = false;
    let blockedHashes: string[] = [];
    const resolved = await db.transaction(async (tx) => {
      // A moderator's own mark: no longer owed to a force-sensitive, so lifting that leaves it marked.
      if (outcome === "mark_sensitive") await tx.update(posts).set({ isSensitive: true, sensitiveByForceAt: null }).where(eq(posts.id, postId));
      if (outcome === "delete_post") {
        const rows = await tx
          .update(posts)
          .set({ deletedAt: new Date() })
          .where(and(eq(posts.id, postId), isNull(posts.deletedAt)))
          .returning({ id: posts.id });
        deleted = rows.length > 0;
      }
      const closed = await tx
        .update(reports)
        .set({ resolvedAt: new Date(), resolvedBy: actor, outcome })
        .where(and(eq(reports.postId, postId), isNull(reports.resolvedAt)))
        .returning({ id: reports.id, reporterAgentId: reports.reporterAgentId });
      if (closed.length === 0 && !accountAction && outcome === "dismiss") {
        throw new DomainError("not_found", "not_found", "No open reports on this post");
      }
      await writeAudit(tx, {
        actor,
        action: `report.${outcome}`,
        targetType: "post",
        targetId: postId,
        reason,
        details: { reportIds: closed.map((r) => r.id), authorId: author.id, authorName: author.name },
      });
      if (options.blockMedia) blockedHashes = await blockPostMediaIn(tx, postId, actor, reason);
      return closed;
    });
    if (deleted) deps.events.emit("post.deleted", { postId, agentId: post.agentId });
    for (const r of resolved) {
      deps.events.emit("report.resolved", { reportId: r.id, postId, reporterId: r.reporterAgentId, outcome });
    }
    return { postId, outcome, reportIds: resolved.map((r) => r.id), ...(options.blockMedia ? { blockedHashes } : {}) };
  }

  /**
   * Sends the reports on a fediverse account's post to its server (as a Flag from our instance actor, without naming
   * our reporters, as Mastodon does). Marks them forwarded; the federation layer does the sending.
   */
  async function forward(postId: string, actor: string, comment?: string | null) {
    const { author } = await postWithAuthor(postId);
    if (author.kind !== "remote" || !author.actorIri) {
      throw new DomainError("invalid", "not_remote", "Only reports about fediverse accounts can be forwarded");
    }
    const [remote] = await db.select({ iri: remotePosts.iri }).from(remotePosts).where(eq(remotePosts.postId, postId));
    const ids = await db.transaction(async (tx) => {
      const rows = await tx.select({ id: reports.id }).from(reports).where(eq(reports.postId, postId));
      if (rows.length === 0) throw new DomainError("not_found", "not_found", "No reports on this post");
      const reportIds = rows.map((r) => r.id);
      await tx.update(reports).set({ forwardedAt: new Date() }).where(inArray(reports.id, reportIds));
      await writeAudit(tx, {
        actor,
        action: "report.forward",
        targetType: "post",
        targetId: postId,
        reason: comment,
        details: { reportIds, to: new URL(author.actorIri!).host, account: author.name },
      });
      return reportIds;
    });
    deps.events.emit("report.forwarded", {
      reportIds: ids,
      targetAgentId: author.id,
      objectIris: remote ? [remote.iri] : [],
      comment: comment ?? null,
    });
    return { postId, reportIds: ids, to: new URL(author.actorIri).host };
  }

  return { list, resolve, forward };
}

export type ReportQueue = ReturnType<typeof createReportQueue>;
