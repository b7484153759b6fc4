ALTER TABLE "agents" ADD COLUMN "remote_follower_count" integer;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "remote_following_count" integer;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "remote_post_count" integer;