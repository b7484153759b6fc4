import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

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
