import type { Agent } from "../../../domain/agents/service.ts";
import { SUSPENSION_GRACE_MS } from "../../../domain/admin/accounts.ts";
import type { AuditEntry } from "../../../domain/admin/audit.ts";
import type { DomainBlock } from "../../../domain/admin/domains.ts";
import type { BlockedMediaHash } from "../../../domain/admin/media-blocks.ts";
import type { ReportGroup } from "../../../domain/admin/reports.ts";
import type { AdminToken } from "../../../domain/admin/tokens.ts";
import type { InstanceSettings } from "../../../domain/instance/settings.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);
type Limits = { limit: number; windowSeconds: number }[];
const limitsOut = (l: Limits) => l.map((x) => ({ limit: x.limit, window_seconds: x.windowSeconds }));
const limitsIn = (l: { limit: number; window_seconds: number }[]) => l.map((x) => ({ limit: x.limit, windowSeconds: x.window_seconds }));

export function settingsView(s: InstanceSettings) {
  return {
    name: s.name,
    description: s.description,
    rules: s.rules,
    contact: s.contact,
    registrations: s.registrations,
    write_limits: s.writeLimits
      ? {
          posts: limitsOut(s.writeLimits.posts),
          comments: limitsOut(s.writeLimits.comments),
          likes: limitsOut(s.writeLimits.likes),
          follows: limitsOut(s.writeLimits.follows),
          ...(s.writeLimits.saves ? { saves: limitsOut(s.writeLimits.saves) } : {}),
        }
      : null,
    report_weights: s.reportWeights,
    sensitive_threshold: s.sensitiveThreshold,
    allowlist_mode: s.allowlistMode,
    blocked_terms: s.blockedTerms,
  };
}

type SettingsWire = Partial<ReturnType<typeof settingsView>>;

/** The API's snake_case patch as the domain's patch (only the fields given). */
export function settingsPatch(body: SettingsWire): Partial<InstanceSettings> {
  const patch: Partial<InstanceSettings> = {};
  if (body.name !== undefined) patch.name = body.name;
  if (body.description !== undefined) patch.description = body.description;
  if (body.rules !== undefined) patch.rules = body.rules;
  if (body.contact !== undefined) patch.contact = body.contact;
  if (body.registrations !== undefined) patch.registrations = body.registrations;
  if (body.write_limits !== undefined) {
    const w = body.write_limits;
    patch.writeLimits = w
      ? {
          posts: limitsIn(w.posts),
          comments: limitsIn(w.comments),
          likes: limitsIn(w.likes),
          follows: limitsIn(w.follows),
          ...(w.saves ? { saves: limitsIn(w.saves) } : {}),
        }
      : null;
  }
  if (body.report_weights !== undefined) patch.reportWeights = body.report_weights;
  if (body.sensitive_threshold !== undefined) patch.sensitiveThreshold = body.sensitive_threshold;
  if (body.allowlist_mode !== undefined) patch.allowlistMode = body.allowlist_mode;
  if (body.blocked_terms !== undefined) patch.blockedTerms = body.blocked_terms;
  return patch;
}

export const auditView = (e: AuditEntry) => ({
  id: e.id,
  actor: e.actor,
  action: e.action,
  target_type: e.targetType,
  target_id: e.targetId,
  reason: e.reason,
  details: e.details ?? null,
  created_at: e.createdAt.toISOString(),
});

export const accountView = (a: Agent) => ({
  id: a.id,
  name: a.name,
  kind: a.kind,
  actor_iri: a.actorIri,
  created_at: a.createdAt.toISOString(),
  suspended_at: iso(a.suspendedAt),
  purge_after: a.suspendedAt ? new Date(a.suspendedAt.getTime() + SUSPENSION_GRACE_MS).toISOString() : null,
  limited_at: iso(a.limitedAt),
  force_sensitive_at: iso(a.forceSensitiveAt),
  pending_approval: a.pendingApproval,
  follower_count: a.followerCount,
  post_count: a.postCount,
});

export const reportGroupView = (g: ReportGroup) => ({
  post: {
    id: g.post.id,
    caption: g.post.caption,
    is_sensitive: g.post.isSensitive,
    report_score: g.post.reportScore,
    deleted: g.post.deleted,
    author: g.post.author,
  },
  score: g.score,
  report_count: g.reports.length,
  latest_at: g.latestAt.toISOString(),
  reports: g.reports.map((r) => ({
    id: r.id,
    origin: r.origin,
    reporter: r.reporter,
    reason: r.reason,
    details: r.details,
    weight: r.weight,
    created_at: r.createdAt.toISOString(),
    forwarded_at: iso(r.forwardedAt),
  })),
});

export const domainBlockView = (b: DomainBlock) => ({
  domain: b.domain,
  severity: b.severity,
  reject_media: b.rejectMedia,
  reject_reports: b.rejectReports,
  public_comment: b.publicComment,
  private_comment: b.privateComment,
  created_at: b.createdAt.toISOString(),
  updated_at: b.updatedAt.toISOString(),
});

export const tokenView = (t: AdminToken) => ({
  name: t.name,
  created_at: t.createdAt.toISOString(),
  created_by: t.createdBy,
  last_used_at: iso(t.lastUsedAt),
  revoked_at: iso(t.revokedAt),
});

export const mediaBlockView = (b: BlockedMediaHash) => ({
  sha256: b.sha256,
  created_by: b.createdBy,
  reason: b.reason,
  source_post_id: b.sourcePostId,
  created_at: b.createdAt.toISOString(),
});
