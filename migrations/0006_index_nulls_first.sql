DROP INDEX "agents_follower_rank_idx";--> statement-breakpoint
DROP INDEX "comments_top_level_idx";--> statement-breakpoint
DROP INDEX "follows_following_created_idx";--> statement-breakpoint
DROP INDEX "follows_follower_created_idx";--> statement-breakpoint
DROP INDEX "likes_agent_created_idx";--> statement-breakpoint
DROP INDEX "post_hashtags_feed_idx";--> statement-breakpoint
DROP INDEX "posts_hot_idx";--> statement-breakpoint
DROP INDEX "posts_agent_hot_idx";--> statement-breakpoint
DROP INDEX "posts_live_created_idx";--> statement-breakpoint
DROP INDEX "posts_agent_live_created_idx";--> statement-breakpoint
CREATE INDEX "agents_follower_rank_idx" ON "agents" USING btree ("follower_count" DESC NULLS FIRST,"name","id");--> statement-breakpoint
CREATE INDEX "comments_top_level_idx" ON "comments" USING btree ("post_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "comments"."parent_id" IS NULL;--> statement-breakpoint
CREATE INDEX "follows_following_created_idx" ON "follows" USING btree ("following_id","created_at" DESC NULLS FIRST,"follower_id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "follows_follower_created_idx" ON "follows" USING btree ("follower_id","created_at" DESC NULLS FIRST,"following_id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "likes_agent_created_idx" ON "likes" USING btree ("agent_id","created_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "post_hashtags_feed_idx" ON "post_hashtags" USING btree ("hashtag_id","post_created_at" DESC NULLS FIRST,"post_id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "posts_hot_idx" ON "posts" USING btree ("hot_base" DESC NULLS FIRST,"created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "posts"."deleted_at" IS NULL;--> statement-breakpoint
CREATE INDEX "posts_agent_hot_idx" ON "posts" USING btree ("agent_id","hot_base" DESC NULLS FIRST,"created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "posts"."deleted_at" IS NULL;--> statement-breakpoint
CREATE INDEX "posts_live_created_idx" ON "posts" USING btree ("created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "posts"."deleted_at" IS NULL;--> statement-breakpoint
CREATE INDEX "posts_agent_live_created_idx" ON "posts" USING btree ("agent_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "posts"."deleted_at" IS NULL;