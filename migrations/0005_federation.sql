CREATE TYPE "public"."actor_kind" AS ENUM('local', 'remote');--> statement-breakpoint
CREATE TABLE "actor_keys" (
	"identifier" text PRIMARY KEY NOT NULL,
	"rsa_public" jsonb NOT NULL,
	"rsa_private" jsonb NOT NULL,
	"ed25519_public" jsonb NOT NULL,
	"ed25519_private" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "announces" (
	"post_id" uuid NOT NULL,
	"agent_id" uuid NOT NULL,
	"activity_iri" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "announces_post_id_agent_id_pk" PRIMARY KEY("post_id","agent_id")
);
--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "kind" "actor_kind" DEFAULT 'local' NOT NULL;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "actor_iri" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "inbox_url" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "shared_inbox_url" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "profile_url" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "display_name" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "is_bot" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "fetched_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "comments" ADD COLUMN "iri" text;--> statement-breakpoint
ALTER TABLE "posts" ADD COLUMN "announce_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "announces" ADD CONSTRAINT "announces_post_id_posts_id_fk" FOREIGN KEY ("post_id") REFERENCES "public"."posts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "announces" ADD CONSTRAINT "announces_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agents" ADD CONSTRAINT "agents_actor_iri_unique" UNIQUE("actor_iri");--> statement-breakpoint
ALTER TABLE "comments" ADD CONSTRAINT "comments_iri_unique" UNIQUE("iri");--> statement-breakpoint
-- Fedify's key-value cache and message queue (@fedify/postgres 1.8.7 layout), created here instead of lazily.
CREATE UNLOGGED TABLE IF NOT EXISTS "fedify_kv_v2" (
  "key" text[] PRIMARY KEY,
  "value" jsonb NOT NULL,
  "created" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
  "ttl" interval
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "fedify_message_v2" (
  "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "message" jsonb NOT NULL,
  "delay" interval DEFAULT '0 seconds',
  "created" timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "fedify_message_v2_created_idx" ON "fedify_message_v2" ("created");
