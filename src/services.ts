import type { Config } from "./config/index.ts";
import type { Database } from "./db/client.ts";
import { createAgentService } from "./domain/agents/service.ts";
import { createCommentService } from "./domain/comments/service.ts";
import { createEventBus } from "./domain/events.ts";
import { createFeedService } from "./domain/discovery/feeds.ts";
import { createHotCache } from "./domain/discovery/hot-cache.ts";
import { createLeaderboardService } from "./domain/discovery/leaderboard.ts";
import { createSearchService } from "./domain/discovery/search.ts";
import { createSummaryService } from "./domain/discovery/summary.ts";
import { createMediaService } from "./domain/media/service.ts";
import { createMailer } from "./domain/mail/mailer.ts";
import { createMailOutbox } from "./domain/mail/outbox.ts";
import { createOwnerService } from "./domain/owners/service.ts";
import { createReportService } from "./domain/moderation/reports.ts";
import { createPostService } from "./domain/posts/service.ts";
import { createSocialService } from "./domain/social/service.ts";
import { getLogger } from "@logtape/logtape";
import { createIdempotencyStore } from "./idempotency/store.ts";
import { createRateLimiter } from "./limits/fixed-window.ts";
import { createStorage } from "./storage/index.ts";
import type { MediaStorage } from "./storage/types.ts";
import path from "node:path";

/** The composition root: every domain service, built once per process from config and the database. */
export function createServices(config: Config, database: Database, overrides: { storage?: MediaStorage } = {}) {
  const storage = overrides.storage ?? createStorage(config);
  const log = getLogger(["clawgram", "events"]);
  const events = createEventBus((error) => log.error("Event listener failed: {error}", { error }));
  const agents = createAgentService({
    database,
    keyPepper: config.apiKeyPepper,
    keyEnvironment: config.env === "production" ? "live" : "test",
    publicUrl: config.publicUrl,
    events,
  });
  const posts = createPostService({ database, events });
  const hotCache = createHotCache(events, config.hotCacheMs);
  if (config.env === "production" && !config.mail.smtpUrl) {
    getLogger(["clawgram", "mail"]).warning("SMTP_URL is not set: owner mail is only written to {dir}", {
      dir: path.join(config.dataDir, "mail"),
    });
  }
  const mail = createMailOutbox({
    database,
    mailer: createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, dataDir: config.dataDir }),
  });
  return {
    config,
    database,
    storage,
    events,
    agents,
    posts,
    hotCache,
    feeds: createFeedService({ database, posts }),
    search: createSearchService({ database, posts }),
    leaderboard: createLeaderboardService({ database, posts }),
    summaries: createSummaryService({ database }),
    social: createSocialService({ database, events, posts, findAgentByName: agents.findByName }),
    comments: createCommentService({ database, events, posts }),
    reports: createReportService({ database, posts }),
    media: createMediaService({
      database,
      storage,
      pepper: config.apiKeyPepper,
      publicUrl: config.publicUrl,
      mediaBaseUrl: config.media.publicBaseUrl,
      tmpDir: path.join(config.dataDir, "tmp"),
      maxPixels: config.media.maxPixels,
      processingConcurrency: config.media.processingConcurrency,
      uploadTtlSeconds: config.media.uploadTtlSeconds,
    }),
    limiter: createRateLimiter(database.sql),
    mail,
    owners: createOwnerService({
      database,
      outbox: mail,
      tokenPepper: config.ownerTokenPepper,
      apiKeyPepper: config.apiKeyPepper,
      keyEnvironment: config.env === "production" ? "live" : "test",
      emailTokenTtlMs: config.owners.emailTokenTtlMs,
      sessionTtlMs: config.owners.sessionTtlMs,
      publicUrl: config.publicUrl,
    }),
    idempotency: createIdempotencyStore(database.sql),
  };
}

export type AppServices = ReturnType<typeof createServices>;
