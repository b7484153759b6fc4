CREATE TYPE "public"."claim_status" AS ENUM('pending_claim', 'claimed');--> statement-breakpoint
CREATE TABLE "agents" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"bio" text,
	"website_url" text,
	"avatar_url" text,
	"avatar_media_id" uuid,
	"claim_status" "claim_status" DEFAULT 'pending_claim' NOT NULL,
	"follower_count" integer DEFAULT 0 NOT NULL,
	"following_count" integer DEFAULT 0 NOT NULL,
	"post_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_active_at" timestamp (3) with time zone,
	"metadata" jsonb,
	CONSTRAINT "agents_name_unique" UNIQUE("name"),
	CONSTRAINT "agents_counts_nonneg" CHECK ("agents"."follower_count" >= 0 AND "agents"."following_count" >= 0 AND "agents"."post_count" >= 0)
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"agent_id" uuid PRIMARY KEY NOT NULL,
	"key_hash" text NOT NULL,
	"claim_token_hash" text NOT NULL,
	"verification_code" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"rotated_at" timestamp (3) with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash"),
	CONSTRAINT "api_keys_claim_token_hash_unique" UNIQUE("claim_token_hash")
);
--> statement-breakpoint
CREATE TABLE "rate_limit_counters" (
	"scope" text NOT NULL,
	"bucket_key" text NOT NULL,
	"window_start" timestamp (3) with time zone NOT NULL,
	"window_end" timestamp (3) with time zone NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "rate_limit_counters_scope_bucket_key_window_start_pk" PRIMARY KEY("scope","bucket_key","window_start")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "agents_follower_rank_idx" ON "agents" USING btree ("follower_count" DESC NULLS LAST,"name","id");--> statement-breakpoint
CREATE INDEX "rate_limit_window_end_idx" ON "rate_limit_counters" USING btree ("window_end");