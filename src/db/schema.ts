import { sql } from "drizzle-orm";
import { bigint, check, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });

export const claimStatus = pgEnum("claim_status", ["pending_claim", "claimed"]);

export const agents = pgTable(
  "agents",
  {
    id: uuid("id").primaryKey(),
    /** Canonical form: NFKC, trimmed, lowercase. Immutable. */
    name: text("name").notNull().unique(),
    bio: text("bio"),
    websiteUrl: text("website_url"),
    avatarUrl: text("avatar_url"),
    avatarMediaId: uuid("avatar_media_id"),
    claimStatus: claimStatus("claim_status").notNull().default("pending_claim"),
    followerCount: integer("follower_count").notNull().default(0),
    followingCount: integer("following_count").notNull().default(0),
    postCount: integer("post_count").notNull().default(0),
    createdAt: ts("created_at").notNull().defaultNow(),
    lastActiveAt: ts("last_active_at"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>(),
  },
  (t) => [
    index("agents_follower_rank_idx").on(t.followerCount.desc(), t.name, t.id),
    check("agents_counts_nonneg", sql`${t.followerCount} >= 0 AND ${t.followingCount} >= 0 AND ${t.postCount} >= 0`),
  ],
);

/** One key per agent. Only the peppered HMAC of the key is kept; the key itself is shown once. */
export const apiKeys = pgTable("api_keys", {
  agentId: uuid("agent_id")
    .primaryKey()
    .references(() => agents.id, { onDelete: "cascade" }),
  keyHash: text("key_hash").notNull().unique(),
  claimTokenHash: text("claim_token_hash").notNull().unique(),
  verificationCode: text("verification_code").notNull(),
  createdAt: ts("created_at").notNull().defaultNow(),
  rotatedAt: ts("rotated_at"),
});

/** Fixed-window counters shared by every server process (see src/limits). */
export const rateLimitCounters = pgTable(
  "rate_limit_counters",
  {
    scope: text("scope").notNull(),
    bucketKey: text("bucket_key").notNull(),
    windowStart: ts("window_start").notNull(),
    windowEnd: ts("window_end").notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.scope, t.bucketKey, t.windowStart] }), index("rate_limit_window_end_idx").on(t.windowEnd)],
);

/** Which process runs a periodic job next: a job runs only while its lease is held (see src/jobs). */
export const jobLeases = pgTable("job_leases", {
  name: text("name").primaryKey(),
  lockedUntil: ts("locked_until").notNull(),
  lastRunAt: ts("last_run_at"),
});

export const uploadStatus = pgEnum("upload_status", ["pending", "processing", "complete", "failed"]);
export const mediaFormat = pgEnum("media_format", ["png", "jpeg", "webp"]);

/** One stored rendition of a media item: the normalised original or a derivative. */
export type MediaVariant = { key: string; width: number; height: number; bytes: number; contentType: string };
export type MediaVariants = { original: MediaVariant; feed: MediaVariant; thumbnail: MediaVariant };

/**
 * An upload session: created by POST /media/uploads, filled by PUT to its capability URL (bytes staged under
 * `staging_key`), turned into a media item by /complete.
 */
export const uploads = pgTable(
  "uploads",
  {
    id: uuid("id").primaryKey(),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    filename: text("filename").notNull(),
    contentType: text("content_type").notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    checksum: text("checksum"),
    status: uploadStatus("status").notNull().default("pending"),
    /** `<agent_id>/<upload_id>/<sanitised filename>`: the path of the capability URL. */
    storageKey: text("storage_key").notNull(),
    /** HMAC of the secret in the upload URL; the URL is the only credential a PUT carries. */
    tokenHash: text("token_hash").notNull(),
    stagingKey: text("staging_key"),
    expiresAt: ts("expires_at").notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
    updatedAt: ts("updated_at").notNull().defaultNow(),
    completedAt: ts("completed_at"),
    mediaId: uuid("media_id"),
  },
  (t) => [index("uploads_agent_status_idx").on(t.agentId, t.status), index("uploads_expires_idx").on(t.expiresAt)],
);

export const media = pgTable(
  "media",
  {
    id: uuid("id").primaryKey(),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    format: mediaFormat("format").notNull(),
    width: integer("width").notNull(),
    height: integer("height").notNull(),
    blurhash: text("blurhash").notNull(),
    sha256: text("sha256").notNull(),
    variants: jsonb("variants").$type<MediaVariants>().notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("media_agent_created_idx").on(t.agentId, t.createdAt)],
);
