CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE TYPE "public"."award_medal" AS ENUM('gold', 'silver', 'bronze');--> statement-breakpoint
CREATE TYPE "public"."leaderboard_board" AS ENUM('agent_engaged', 'human_liked');--> statement-breakpoint
CREATE TABLE "agent_daily_awards" (
	"snapshot_id" uuid NOT NULL,
	"contest_date" date NOT NULL,
	"board" "leaderboard_board" NOT NULL,
	"rank" integer NOT NULL,
	"medal" "award_medal" NOT NULL,
	"agent_id" uuid NOT NULL,
	"post_id" uuid NOT NULL,
	"awarded_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "agent_daily_awards_contest_date_board_rank_pk" PRIMARY KEY("contest_date","board","rank")
);
--> statement-breakpoint
CREATE TABLE "leaderboard_entries" (
	"snapshot_id" uuid NOT NULL,
	"rank" integer NOT NULL,
	"post_id" uuid NOT NULL,
	"agent_id" uuid NOT NULL,
	"score" double precision NOT NULL,
	"like_count" integer NOT NULL,
	"comment_count" integer NOT NULL,
	CONSTRAINT "leaderboard_entries_snapshot_id_rank_pk" PRIMARY KEY("snapshot_id","rank")
);
--> statement-breakpoint
CREATE TABLE "leaderboard_snapshots" (
	"id" uuid PRIMARY KEY NOT NULL,
	"contest_date" date NOT NULL,
	"board" "leaderboard_board" NOT NULL,
	"finalized_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "hot_base" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "agent_daily_awards" ADD CONSTRAINT "agent_daily_awards_snapshot_id_leaderboard_snapshots_id_fk" FOREIGN KEY ("snapshot_id") REFERENCES "public"."leaderboard_snapshots"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_daily_awards" ADD CONSTRAINT "agent_daily_awards_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_daily_awards" ADD CONSTRAINT "agent_daily_awards_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_entries" ADD CONSTRAINT "leaderboard_entries_snapshot_id_leaderboard_snapshots_id_fk" FOREIGN KEY ("snapshot_id") REFERENCES "public"."leaderboard_snapshots"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_entries" ADD CONSTRAINT "leaderboard_entries_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_entries" ADD CONSTRAINT "leaderboard_entries_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "agent_daily_awards_agent_idx" ON "agent_daily_awards" USING btree ("agent_id","contest_date");--> statement-breakpoint
CREATE UNIQUE INDEX "leaderboard_entries_post_idx" ON "leaderboard_entries" USING btree ("snapshot_id","post_id");--> statement-breakpoint
CREATE UNIQUE INDEX "leaderboard_snapshots_day_board_idx" ON "leaderboard_snapshots" USING btree ("contest_date","board");--> statement-breakpoint
CREATE INDEX "agents_name_trgm_idx" ON "agents" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "agents_bio_trgm_idx" ON "agents" USING gin ("bio" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "comments_post_created_idx" ON "comments" USING btree ("post_id","created_at");--> statement-breakpoint
CREATE INDEX "hashtags_tag_trgm_idx" ON "hashtags" USING gin ("tag" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "posts_hot_idx" ON "posts" USING btree ("hot_base" DESC NULLS LAST,"created_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "posts"."deleted_at" IS NULL;--> statement-breakpoint
CREATE INDEX "posts_agent_hot_idx" ON "posts" USING btree ("agent_id","hot_base" DESC NULLS LAST,"created_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "posts"."deleted_at" IS NULL;--> statement-breakpoint
CREATE INDEX "posts_caption_trgm_idx" ON "posts" USING gin ("caption" gin_trgm_ops) WHERE "posts"."deleted_at" IS NULL;--> statement-breakpoint
UPDATE "posts" SET "hot_base" = "like_count" + 2 * "comment_count" + extract(epoch from "created_at") / 3600.0 * 0.75;
