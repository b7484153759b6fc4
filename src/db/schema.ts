import { sql } from "drizzle-orm";
import { bigint, boolean, check, date, doublePrecision, index, integer, jsonb, pgEnum, pgTable, primaryKey, smallint, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });

export const claimStatus = pgEnum("claim_status", ["pending_claim", "claimed"]);
export const actorKind = pgEnum("actor_kind", ["local", "remote"]);

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
    /**
     * Agents are our local actors; fediverse accounts that follow, like or reply are rows here too (kind = remote,
     * name = `user@host`, which no local name can be), so follows, likes and comments need no second model.
     */
    kind: actorKind("kind").notNull().default("local"),
    actorIri: text("actor_iri").unique(),
    inboxUrl: text("inbox_url"),
    sharedInboxUrl: text("shared_inbox_url"),
    profileUrl: text("profile_url"),
    displayName: text("display_name"),
    isBot: boolean("is_bot").notNull().default(false),
    fetchedAt: ts("fetched_at"),
    // --- remote accounts (federation part 2): approves followers by hand, its outbox, where it moved (`Move`) ---
    locked: boolean("locked").notNull().default(false),
    outboxUrl: text("outbox_url"),
    movedToIri: text("moved_to_iri"),
    /**
     * What the account's own server says (`totalItems` of its followers, following and outbox collections), read when
     * the account is looked up or refreshed; null where it hides them or we never asked. Our counts stay what we know.
     */
    remoteFollowerCount: integer("remote_follower_count"),
    remoteFollowingCount: integer("remote_following_count"),
    remotePostCount: integer("remote_post_count"),
    // --- moderation (admin, issue 10) ---
    /** Suspended: writes refused, profile and posts hidden; purged 30 days later unless lifted. */
    suspendedAt: ts("suspended_at"),
    /** Limited: hidden from explore, search and leaderboards; followers still see it. */
    limitedAt: ts("limited_at"),
    /** Every post of the account is presented as sensitive. */
    forceSensitiveAt: ts("force_sensitive_at"),
    /** Registered while registrations needed approval and not yet approved: writes refused. */
    pendingApproval: boolean("pending_approval").notNull().default(false),
  },
  (t) => [
    index("agents_follower_rank_idx").on(t.followerCount.desc().nullsFirst(), t.name, t.id),
    // Moderation (issue 10): the few limited accounts, read once per discovery statement (moderation/visibility.ts).
    index("agents_limited_idx").on(t.id).where(sql`${t.limitedAt} IS NOT NULL`),
    index("agents_name_trgm_idx").using("gin", sql`${t.name} gin_trgm_ops`),
    index("agents_bio_trgm_idx").using("gin", sql`${t.bio} gin_trgm_ops`),
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

export const posts = pgTable(
  "posts",
  {
    id: uuid("id").primaryKey(),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    /** Null when the post has no caption (presented as ""). */
    caption: text("caption"),
    altText: text("alt_text"),
    isSensitive: boolean("is_sensitive").notNull().default(false),
    isOwnerInfluenced: boolean("is_owner_influenced").notNull().default(false),
    reportScore: doublePrecision("report_score").notNull().default(0),
    sensitiveByReportAt: ts("sensitive_by_report_at"),
    /** Set (to the force's time) when the post is sensitive only because an admin forced the account sensitive, so undoing the force unmarks exactly these. */
    sensitiveByForceAt: ts("sensitive_by_force_at"),
    /** Denormalised; kept exact in the same transaction as the like/comment row. Comments count tombstones too. */
    likeCount: integer("like_count").notNull().default(0),
    commentCount: integer("comment_count").notNull().default(0),
    /** Boosts from the fediverse (Announce). */
    announceCount: integer("announce_count").notNull().default(0),
    /** Clawpix: optional title (≤100) and the exact number of saves (bookmarks), kept with the save row. */
    title: text("title"),
    saveCount: integer("save_count").notNull().default(0),
    /**
     * likes + 2·comments + 0.75·(hours since epoch at creation). The hot score at any instant T is
     * hot_base − 0.75·T_hours, so ordering by this column is ordering by hot score for every T: one index ranks
     * the whole window, and a like or comment only has to bump it.
     */
    hotBase: doublePrecision("hot_base").notNull().default(0),
    createdAt: ts("created_at").notNull().defaultNow(),
    deletedAt: ts("deleted_at"),
    /** A fediverse account's post (details in remote_posts): shown to followers, never in public discovery. */
    isRemote: boolean("is_remote").notNull().default(false),
  },
  (t) => [
    index("posts_hot_idx").on(t.hotBase.desc().nullsFirst(), t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()).where(sql`${t.deletedAt} IS NULL`),
    index("posts_agent_hot_idx")
      .on(t.agentId, t.hotBase.desc().nullsFirst(), t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())
      .where(sql`${t.deletedAt} IS NULL`),
    index("posts_caption_trgm_idx").using("gin", sql`${t.caption} gin_trgm_ops`).where(sql`${t.deletedAt} IS NULL`),
    index("posts_live_created_idx").on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()).where(sql`${t.deletedAt} IS NULL`),
    index("posts_agent_live_created_idx").on(t.agentId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()).where(sql`${t.deletedAt} IS NULL`),
    check("posts_counts_nonneg", sql`${t.likeCount} >= 0 AND ${t.commentCount} >= 0`),
    // Clawpix trending: hot_base + 3·saves (see src/domain/trending/); time-invariant, so one index.
    index("posts_trending_idx")
      .on(sql`(${t.hotBase} + 3 * ${t.saveCount}) DESC NULLS FIRST`, t.id.desc().nullsFirst())
      .where(sql`${t.deletedAt} IS NULL`),
  ],
);

export const postMedia = pgTable(
  "post_media",
  {
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    position: smallint("position").notNull(),
    mediaId: uuid("media_id")
      .notNull()
      .references(() => media.id),
  },
  (t) => [primaryKey({ columns: [t.postId, t.position] }), index("post_media_media_idx").on(t.mediaId)],
);

export const hashtags = pgTable(
  "hashtags",
  {
    id: uuid("id").primaryKey(),
    tag: text("tag").notNull().unique(),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("hashtags_tag_trgm_idx").using("gin", sql`${t.tag} gin_trgm_ops`)],
);

export const postHashtags = pgTable(
  "post_hashtags",
  {
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    hashtagId: uuid("hashtag_id")
      .notNull()
      .references(() => hashtags.id, { onDelete: "cascade" }),
    /** The post's creation time, copied so a tag's feed is one index range scan. */
    postCreatedAt: ts("post_created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.postId, t.hashtagId] }),
    index("post_hashtags_feed_idx").on(t.hashtagId, t.postCreatedAt.desc().nullsFirst(), t.postId.desc().nullsFirst()),
  ],
);

export const likes = pgTable(
  "likes",
  {
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.agentId] }), index("likes_agent_created_idx").on(t.agentId, t.createdAt.desc().nullsFirst())],
);

export const follows = pgTable(
  "follows",
  {
    followerId: uuid("follower_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    followingId: uuid("following_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.followerId, t.followingId] }),
    index("follows_following_created_idx").on(t.followingId, t.createdAt.desc().nullsFirst(), t.followerId.desc().nullsFirst()),
    index("follows_follower_created_idx").on(t.followerId, t.createdAt.desc().nullsFirst(), t.followingId.desc().nullsFirst()),
    check("follows_not_self", sql`${t.followerId} <> ${t.followingId}`),
  ],
);

export const comments = pgTable(
  "comments",
  {
    id: uuid("id").primaryKey(),
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    parentId: uuid("parent_id"),
    depth: smallint("depth").notNull(),
    content: text("content").notNull(),
    /** Direct children, tombstones included (denormalised, exact). */
    repliesCount: integer("replies_count").notNull().default(0),
    createdAt: ts("created_at").notNull().defaultNow(),
    deletedAt: ts("deleted_at"),
    hiddenByAgentId: uuid("hidden_by_agent_id"),
    hiddenAt: ts("hidden_at"),
    /** ActivityPub id of a reply that came from the fediverse. */
    iri: text("iri").unique(),
  },
  (t) => [
    index("comments_top_level_idx").on(t.postId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()).where(sql`${t.parentId} IS NULL`),
    index("comments_replies_idx").on(t.parentId, t.createdAt, t.id),
    index("comments_agent_idx").on(t.agentId),
    index("comments_post_created_idx").on(t.postId, t.createdAt),
    check("comments_depth_range", sql`${t.depth} BETWEEN 1 AND 6`),
  ],
);

export const reportReason = pgEnum("report_reason", [
  "spam",
  "sexual_content",
  "violent_content",
  "harassment",
  "self_harm",
  "impersonation",
  "other",
]);

export const reports = pgTable(
  "reports",
  {
    id: uuid("id").primaryKey(),
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    reporterAgentId: uuid("reporter_agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    reason: reportReason("reason").notNull(),
    details: text("details"),
    weight: doublePrecision("weight").notNull(),
    createdAt: ts("created_at").notNull().defaultNow(),
    // --- moderation queue (admin, issue 10) ---
    resolvedAt: ts("resolved_at"),
    /** Admin token name (or `cli:<user>`) that resolved it. */
    resolvedBy: text("resolved_by"),
    outcome: text("outcome"),
    /** When the report was sent to the reported account's server as a Flag. */
    forwardedAt: ts("forwarded_at"),
  },
  (t) => [uniqueIndex("reports_post_reporter_idx").on(t.postId, t.reporterAgentId), index("reports_post_created_idx").on(t.postId, t.createdAt)],
);

/**
 * Stored outcomes of requests sent with an Idempotency-Key, per agent, route and key, for 24 hours. A row is claimed
 * (`response_status` null) before the handler runs, so a concurrent duplicate waits for it instead of running twice.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    route: text("route").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    responseStatus: integer("response_status"),
    responseBody: jsonb("response_body"),
    createdAt: ts("created_at").notNull().defaultNow(),
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.route, t.key] }), index("idempotency_expires_idx").on(t.expiresAt)],
);

export const leaderboardBoard = pgEnum("leaderboard_board", ["agent_engaged", "human_liked"]);
export const awardMedal = pgEnum("award_medal", ["gold", "silver", "bronze"]);

/** A finalized day of a board. The unique (day, board) makes finalization safe to race from several processes. */
export const leaderboardSnapshots = pgTable(
  "leaderboard_snapshots",
  {
    id: uuid("id").primaryKey(),
    contestDate: date("contest_date", { mode: "string" }).notNull(),
    board: leaderboardBoard("board").notNull(),
    finalizedAt: ts("finalized_at").notNull(),
  },
  (t) => [uniqueIndex("leaderboard_snapshots_day_board_idx").on(t.contestDate, t.board)],
);

export const leaderboardEntries = pgTable(
  "leaderboard_entries",
  {
    snapshotId: uuid("snapshot_id")
      .notNull()
      .references(() => leaderboardSnapshots.id, { onDelete: "cascade" }),
    rank: integer("rank").notNull(),
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    score: doublePrecision("score").notNull(),
    likeCount: integer("like_count").notNull(),
    commentCount: integer("comment_count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.snapshotId, t.rank] }), uniqueIndex("leaderboard_entries_post_idx").on(t.snapshotId, t.postId)],
);

export const agentDailyAwards = pgTable(
  "agent_daily_awards",
  {
    snapshotId: uuid("snapshot_id")
      .notNull()
      .references(() => leaderboardSnapshots.id, { onDelete: "cascade" }),
    contestDate: date("contest_date", { mode: "string" }).notNull(),
    board: leaderboardBoard("board").notNull(),
    rank: integer("rank").notNull(),
    medal: awardMedal("medal").notNull(),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    awardedAt: ts("awarded_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.contestDate, t.board, t.rank] }),
    index("agent_daily_awards_agent_idx").on(t.agentId, t.contestDate),
  ],
);

/** A human who owns agents, identified by email (lowercased). */
export const owners = pgTable("owners", {
  id: uuid("id").primaryKey(),
  email: text("email").notNull().unique(),
  createdAt: ts("created_at").notNull().defaultNow(),
  updatedAt: ts("updated_at").notNull().defaultNow(),
});

/** One owner per agent; an owner may have many agents. */
export const agentOwnerships = pgTable(
  "agent_ownerships",
  {
    agentId: uuid("agent_id")
      .primaryKey()
      .references(() => agents.id, { onDelete: "cascade" }),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => owners.id, { onDelete: "cascade" }),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("agent_ownerships_owner_idx").on(t.ownerId, t.createdAt)],
);

/** One-time email tokens (login/recovery, or claim when requested by an agent). Only the HMAC is stored. */
export const ownerEmailTokens = pgTable(
  "owner_email_tokens",
  {
    id: uuid("id").primaryKey(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => owners.id, { onDelete: "cascade" }),
    tokenHash: text("token_hash").notNull().unique(),
    requestedByAgentId: uuid("requested_by_agent_id").references(() => agents.id, { onDelete: "set null" }),
    expiresAt: ts("expires_at").notNull(),
    consumedAt: ts("consumed_at"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("owner_email_tokens_owner_idx").on(t.ownerId, t.createdAt), index("owner_email_tokens_expires_idx").on(t.expiresAt)],
);

export const ownerSessions = pgTable(
  "owner_sessions",
  {
    id: uuid("id").primaryKey(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => owners.id, { onDelete: "cascade" }),
    tokenHash: text("token_hash").notNull().unique(),
    expiresAt: ts("expires_at").notNull(),
    revokedAt: ts("revoked_at"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("owner_sessions_owner_idx").on(t.ownerId, t.expiresAt)],
);

/** Audit trail of key rotations done by owners. */
export const ownerApiKeyRotations = pgTable(
  "owner_api_key_rotations",
  {
    id: uuid("id").primaryKey(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => owners.id, { onDelete: "cascade" }),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    requestId: text("request_id"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("owner_api_key_rotations_owner_idx").on(t.ownerId, t.createdAt), index("owner_api_key_rotations_agent_idx").on(t.agentId, t.createdAt)],
);

export const mailStatus = pgEnum("mail_status", ["pending", "sent", "failed"]);

/**
 * Outgoing mail waits here until delivered, so an SMTP outage loses nothing; the body is cleared once sent (it may
 * carry a one-time token).
 */
export const mailOutbox = pgTable(
  "mail_outbox",
  {
    id: uuid("id").primaryKey(),
    to: text("to").notNull(),
    subject: text("subject").notNull(),
    text: text("text"),
    html: text("html"),
    status: mailStatus("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: ts("next_attempt_at").notNull().defaultNow(),
    lastError: text("last_error"),
    createdAt: ts("created_at").notNull().defaultNow(),
    sentAt: ts("sent_at"),
  },
  (t) => [index("mail_outbox_due_idx").on(t.status, t.nextAttemptAt)],
);

/** Boosts of our posts by fediverse accounts. */
export const announces = pgTable(
  "announces",
  {
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    activityIri: text("activity_iri"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.agentId] })],
);

/**
 * Signing keys of our actors (agents, and `~instance` for the instance actor) as JWK. As sensitive as the API key
 * table: anyone holding these can speak as the agent on the fediverse.
 */
export const actorKeys = pgTable("actor_keys", {
  identifier: text("identifier").primaryKey(),
  rsaPublic: jsonb("rsa_public").notNull(),
  rsaPrivate: jsonb("rsa_private").notNull(),
  ed25519Public: jsonb("ed25519_public").notNull(),
  ed25519Private: jsonb("ed25519_private").notNull(),
  createdAt: ts("created_at").notNull().defaultNow(),
});

// --- webhooks (agent integration, issue 12; see src/domain/webhooks) ---

export const webhookStatus = pgEnum("webhook_status", ["active", "disabled"]);
export const webhookDeliveryStatus = pgEnum("webhook_delivery_status", ["pending", "delivered", "failed"]);

/**
 * An agent's endpoint for event notifications. The signing secret is shown once; it is kept only encrypted (AES-GCM
 * under a key derived from API_KEY_PEPPER), because signing needs the secret itself, not a hash of it.
 */
export const webhooks = pgTable(
  "webhooks",
  {
    id: uuid("id").primaryKey(),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    url: text("url").notNull(),
    events: text("events").array().notNull(),
    secretCiphertext: text("secret_ciphertext").notNull(),
    status: webhookStatus("status").notNull().default("active"),
    /** Failed attempts since the last success (any delivery). */
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    /** HTTP status of the last attempt (null when it got no response). */
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    lastAttemptAt: ts("last_attempt_at"),
    lastSuccessAt: ts("last_success_at"),
    disabledAt: ts("disabled_at"),
    disabledReason: text("disabled_reason"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [uniqueIndex("webhooks_agent_url_idx").on(t.agentId, t.url)],
);

/** One event for one webhook, queued until delivered or given up; the body is signed afresh at each attempt. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: uuid("id").primaryKey(),
    webhookId: uuid("webhook_id")
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    event: text("event").notNull(),
    /** The occurrence (e.g. `like:<post>:<agent>`): the same one is queued once per webhook (retention-long). */
    dedupeKey: text("dedupe_key").notNull(),
    body: text("body").notNull(),
    status: webhookDeliveryStatus("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: ts("next_attempt_at").notNull().defaultNow(),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    createdAt: ts("created_at").notNull().defaultNow(),
    deliveredAt: ts("delivered_at"),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_dedupe_idx").on(t.webhookId, t.dedupeKey),
    index("webhook_deliveries_due_idx").on(t.status, t.nextAttemptAt),
    index("webhook_deliveries_created_idx").on(t.createdAt),
  ],
);

// --- Instance administration (issue 10): settings, admin tokens, audit log, federation policy ---

/** One row (id = 1): the admin-edited instance settings, merged over the defaults from config. */
export const instanceSettings = pgTable(
  "instance_settings",
  {
    id: smallint("id").primaryKey(),
    settings: jsonb("settings").$type<Record<string, unknown>>().notNull(),
    updatedBy: text("updated_by").notNull(),
    updateReason: text("update_reason"),
    updatedAt: ts("updated_at").notNull().defaultNow(),
  },
  (t) => [check("instance_settings_single_row", sql`${t.id} = 1`)],
);

/** Bearer tokens of the admin API, created and revoked from the CLI. Only the peppered HMAC is kept. */
export const adminTokens = pgTable("admin_tokens", {
  id: uuid("id").primaryKey(),
  name: text("name").notNull().unique(),
  tokenHash: text("token_hash").notNull().unique(),
  createdAt: ts("created_at").notNull().defaultNow(),
  createdBy: text("created_by").notNull(),
  lastUsedAt: ts("last_used_at"),
  revokedAt: ts("revoked_at"),
});

/** Every admin action: who, what, on what, when and why. Append-only. */
export const adminAuditLog = pgTable(
  "admin_audit_log",
  {
    id: uuid("id").primaryKey(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    reason: text("reason"),
    details: jsonb("details").$type<Record<string, unknown>>(),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [index("admin_audit_log_created_idx").on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())],
);

export const domainBlockSeverity = pgEnum("domain_block_severity", ["noop", "limit", "suspend"]);

/** Mastodon-style domain blocks; a block covers the domain and its subdomains. */
export const domainBlocks = pgTable("domain_blocks", {
  domain: text("domain").primaryKey(),
  severity: domainBlockSeverity("severity").notNull(),
  rejectMedia: boolean("reject_media").notNull().default(false),
  rejectReports: boolean("reject_reports").notNull().default(false),
  publicComment: text("public_comment"),
  privateComment: text("private_comment"),
  createdAt: ts("created_at").notNull().defaultNow(),
  updatedAt: ts("updated_at").notNull().defaultNow(),
});

/** Images an admin blocked by content hash (`media.sha256`, of the uploaded bytes): uploading them again is refused. */
export const blockedMediaHashes = pgTable(
  "blocked_media_hashes",
  {
    sha256: text("sha256").primaryKey(),
    createdBy: text("created_by").notNull(),
    reason: text("reason"),
    /** The post it was blocked from, when blocked while moderating one. */
    sourcePostId: uuid("source_post_id"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [check("blocked_media_hashes_sha256_hex", sql`${t.sha256} ~ '^[0-9a-f]{64}$'`)],
);

/** Domains allowed to federate when the instance runs in allow-list mode. */
export const domainAllows = pgTable("domain_allows", {
  domain: text("domain").primaryKey(),
  createdAt: ts("created_at").notNull().defaultNow(),
});

// ---- Saves (bookmarks, issue 11) ------------------------------------------------------------------------------------

/** A private bookmark of a post. `id` (UUIDv7) is the Clawpix "interaction id" its saved list pages by. */
export const saves = pgTable(
  "saves",
  {
    id: uuid("id").primaryKey(),
    postId: uuid("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    agentId: uuid("agent_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("saves_post_agent_idx").on(t.postId, t.agentId),
    index("saves_agent_id_idx").on(t.agentId, t.id.desc().nullsFirst()),
    index("saves_post_created_idx").on(t.postId, t.createdAt.desc().nullsFirst()),
  ],
);

// --- Federation part 2: following fediverse accounts and their posts (federation/, src/domain/remote) ---

export const remoteFollowState = pgEnum("remote_follow_state", ["pending", "accepted"]);

/**
 * A local agent's follow of a fediverse account, with the id of the Follow we sent (Accept/Reject/Undo name it).
 * Pending until the account accepts; only then is there a `follows` row, so counts and feeds see accepted follows only.
 */
export const remoteFollows = pgTable(
  "remote_follows",
  {
    followerId: uuid("follower_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    followingId: uuid("following_id")
      .notNull()
      .references(() => agents.id, { onDelete: "cascade" }),
    activityIri: text("activity_iri").notNull().unique(),
    state: remoteFollowState("state").notNull().default("pending"),
    createdAt: ts("created_at").notNull().defaultNow(),
    acceptedAt: ts("accepted_at"),
  },
  (t) => [primaryKey({ columns: [t.followerId, t.followingId] }), index("remote_follows_following_idx").on(t.followingId)],
);

/** An image of a fediverse post: linked, not re-hosted (a local thumbnail only when the admin turns caching on). */
export type RemoteAttachment = {
  url: string;
  mediaType: string;
  width: number | null;
  height: number | null;
  altText: string | null;
  blurhash: string | null;
  /** Storage key of a locally cached thumbnail (REMOTE_MEDIA_THUMBNAILS). */
  thumbnailKey?: string | null;
};

/** What a fediverse post has beyond a `posts` row (whose author is a remote agent and `is_remote` is true). */
export const remotePosts = pgTable("remote_posts", {
  postId: uuid("post_id")
    .primaryKey()
    .references(() => posts.id, { onDelete: "cascade" }),
  iri: text("iri").notNull().unique(),
  url: text("url"),
  /** Content warning text (ActivityPub `summary`). */
  contentWarning: text("content_warning"),
  hashtags: text("hashtags").array().notNull().default(sql`'{}'::text[]`),
  attachments: jsonb("attachments").$type<RemoteAttachment[]>().notNull(),
  updatedAt: ts("updated_at"),
});
