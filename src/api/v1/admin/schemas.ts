import { z } from "zod";
import { RESOLUTIONS } from "../../../domain/admin/reports.ts";

/** Why an admin did something: recorded in the audit log with the action. */
const reason = z.string().trim().min(1).max(1000).optional().meta({ description: "Recorded in the audit log" });

const windowLimit = z.object({ limit: z.number().int().positive(), window_seconds: z.number().int().positive() }).strict();
const limitList = z.array(windowLimit).min(1).max(5);

export const InstanceSettingsView = z
  .object({
    name: z.string(),
    description: z.string(),
    rules: z.array(z.string()),
    contact: z.string().nullable(),
    registrations: z.enum(["open", "closed", "approval"]),
    write_limits: z.object({ posts: limitList, comments: limitList, likes: limitList, follows: limitList, saves: limitList.optional() }).nullable(),
    report_weights: z.object({ claimed: z.number(), unclaimed: z.number(), federated: z.number() }),
    sensitive_threshold: z.number(),
    allowlist_mode: z.boolean(),
    blocked_terms: z.array(z.string()).meta({
      description: "Words and phrases refused in local posts, comments and profiles (case-insensitive, whole words, after NFKC normalisation); at most 500, each 2-100 characters",
    }),
  })
  .meta({ id: "InstanceSettings" });

export const SettingsPatchBody = InstanceSettingsView.partial()
  .extend({ reason })
  .strict()
  .refine((v) => Object.keys(v).some((k) => k !== "reason"), "must change at least one setting");

export const ReasonBody = z.object({ reason }).strict().optional();

export const ResolveBody = z
  .object({
    action: z.enum(RESOLUTIONS),
    reason,
    /** Also send the reports to the author's server (fediverse authors only). */
    forward: z.boolean().optional(),
    /** Also block the post's images by content hash: the same bytes can no longer be uploaded. */
    block_media: z.boolean().optional(),
  })
  .strict();

export const ForwardBody = z.object({ comment: z.string().trim().min(1).max(1000).optional() }).strict().optional();

export const AccountActionBody = z
  .object({
    action: z.enum(["suspend", "unsuspend", "limit", "unlimit", "force_sensitive", "unforce_sensitive", "approve", "purge"]),
    reason,
  })
  .strict();

export const DomainBlockBody = z
  .object({
    severity: z.enum(["noop", "limit", "suspend"]),
    reject_media: z.boolean().optional(),
    reject_reports: z.boolean().optional(),
    public_comment: z.string().max(1000).nullable().optional(),
    private_comment: z.string().max(1000).nullable().optional(),
    reason,
  })
  .strict();

export const MediaBlockBody = z.object({ reason }).strict().optional();

export const PostIdParams = z.object({ post_id: z.string().min(1).max(128) });
export const AccountParams = z.object({ account: z.string().min(1).max(320) });
export const DomainParams = z.object({ domain: z.string().min(1).max(300) });
export const HashParams = z.object({ sha256: z.string().min(1).max(128) });

export const ListReportsQuery = z.object({
  origin: z.enum(["local", "remote"]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  offset: z.coerce.number().int().min(0).max(10_000).default(0),
});

export const ListAccountsQuery = z.object({
  filter: z.enum(["all", "suspended", "limited", "sensitive", "pending"]).default("all"),
  kind: z.enum(["local", "remote"]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  after: z.uuid().optional(),
});

export const ListAuditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.uuid().optional(),
  action: z.string().max(100).optional(),
  target: z.string().max(320).optional(),
});

export const ReasonQuery = z.object({ reason: z.string().trim().min(1).max(1000).optional() });

const ts = z.string();

export const AuditEntryView = z.object({
  id: z.string(),
  actor: z.string(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  reason: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  created_at: ts,
});

export const AccountView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(["local", "remote"]),
  actor_iri: z.string().nullable(),
  created_at: ts,
  suspended_at: ts.nullable(),
  purge_after: ts.nullable(),
  limited_at: ts.nullable(),
  force_sensitive_at: ts.nullable(),
  pending_approval: z.boolean(),
  follower_count: z.number(),
  post_count: z.number(),
});

export const ReportGroupView = z.object({
  post: z.object({
    id: z.string(),
    caption: z.string().nullable(),
    is_sensitive: z.boolean(),
    report_score: z.number(),
    deleted: z.boolean(),
    author: z.object({ id: z.string(), name: z.string(), kind: z.enum(["local", "remote"]) }),
  }),
  score: z.number(),
  report_count: z.number(),
  latest_at: ts,
  reports: z.array(
    z.object({
      id: z.string(),
      origin: z.enum(["local", "remote"]),
      reporter: z.object({ id: z.string(), name: z.string() }),
      reason: z.string(),
      details: z.string().nullable(),
      weight: z.number(),
      created_at: ts,
      forwarded_at: ts.nullable(),
    }),
  ),
});

export const DomainBlockView = z.object({
  domain: z.string(),
  severity: z.enum(["noop", "limit", "suspend"]),
  reject_media: z.boolean(),
  reject_reports: z.boolean(),
  public_comment: z.string().nullable(),
  private_comment: z.string().nullable(),
  created_at: ts,
  updated_at: ts,
});

export const TokenView = z.object({
  name: z.string(),
  created_at: ts,
  created_by: z.string(),
  last_used_at: ts.nullable(),
  revoked_at: ts.nullable(),
});

export const MediaBlockView = z.object({
  sha256: z.string(),
  created_by: z.string(),
  reason: z.string().nullable(),
  source_post_id: z.string().nullable(),
  created_at: ts,
});
