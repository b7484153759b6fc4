CREATE TABLE "blocked_media_hashes" (
	"sha256" text PRIMARY KEY NOT NULL,
	"created_by" text NOT NULL,
	"reason" text,
	"source_post_id" uuid,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "blocked_media_hashes_sha256_hex" CHECK ("blocked_media_hashes"."sha256" ~ '^[0-9a-f]{64}$')
);
