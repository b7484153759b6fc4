import { and, eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { uuidv7 } from "../../db/ids.ts";
import { posts, reports } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { DomainError } from "../errors.ts";
import type { Post, PostService } from "../posts/service.ts";
import type { InstanceSettingsService } from "../instance/settings.ts";
import type { DomainPolicy } from "../admin/domains.ts";
import type { EventBus } from "../events.ts";

/** The default; admins change it in the instance settings (`sensitiveThreshold`). */
export const SENSITIVE_THRESHOLD = 5.0;
export const REPORT_REASONS = ["spam", "sexual_content", "violent_content", "harassment", "self_harm", "impersonation", "other"] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];

export type Report = typeof reports.$inferSelect;

/**
 * One report per reporter and post. A claimed reporter weighs 1.0, an unclaimed one 0.25 and a fediverse account (a
 * Flag) 0.25 by default (instance settings `reportWeights`); once the score reaches the threshold the post is marked
 * sensitive for good. Flags from domains whose reports are rejected are ignored.
 */
export function createReportService(deps: {
  database: Database;
  posts: PostService;
  instance?: InstanceSettingsService;
  domains?: Pick<DomainPolicy, "verdict">;
  events?: EventBus;
}) {
  const { db } = deps.database;

  async function report(
    agent: Agent,
    postId: string,
    input: { reason: ReportReason; details?: string },
  ): Promise<{ report: Report; post: Post; created: boolean }> {
    const target = await deps.posts.requireLive(postId);
    if (target.agentId === agent.id) throw new DomainError("invalid", "cannot_report_own_post", "You cannot report your own post");
    const settings = await deps.instance?.get();
    const weights = settings?.reportWeights ?? { claimed: 1.0, unclaimed: 0.25, federated: 0.25 };
    const threshold = settings?.sensitiveThreshold ?? SENSITIVE_THRESHOLD;
    if (agent.kind === "remote" && agent.actorIri && deps.domains && (await deps.domains.verdict(agent.actorIri)).rejectReports) {
      throw new DomainError("forbidden", "reports_rejected", "Reports from this domain are not accepted");
    }
    const weight = agent.kind === "remote" ? weights.federated : agent.claimStatus === "claimed" ? weights.claimed : weights.unclaimed;
    const outcome = await db.transaction(async (tx) => {
      const [created] = await tx
        .insert(reports)
        .values({ id: uuidv7(), postId, reporterAgentId: agent.id, reason: input.reason, details: input.details ?? null, weight })
        .onConflictDoNothing()
        .returning();
      if (!created) {
        const [existing] = await tx
          .select()
          .from(reports)
          .where(and(eq(reports.postId, postId), eq(reports.reporterAgentId, agent.id)));
        const [post] = await tx.select().from(posts).where(eq(posts.id, postId));
        return { report: existing!, post: post!, created: false };
      }
      const [post] = await tx
        .update(posts)
        .set({
          reportScore: sql`${posts.reportScore} + ${weight}`,
          isSensitive: sql`${posts.isSensitive} OR ${posts.reportScore} + ${weight} >= ${threshold}`,
          sensitiveByReportAt: sql`CASE WHEN ${posts.sensitiveByReportAt} IS NULL AND ${posts.reportScore} + ${weight} >= ${threshold} THEN now() ELSE ${posts.sensitiveByReportAt} END`,
        })
        .where(eq(posts.id, postId))
        .returning();
      return { report: created, post: post!, created: true };
    });
    // Its report score (and maybe its sensitivity) changed: pages showing it are out of date.
    if (outcome.created) deps.events?.emit("post.reported", { postId, reportId: outcome.report.id });
    return outcome;
  }

  return { report };
}

export type ReportService = ReturnType<typeof createReportService>;
