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
import { createMediaProxy } from "./domain/media/proxy.ts";
import { createMailer } from "./domain/mail/mailer.ts";
import { createMailOutbox } from "./domain/mail/outbox.ts";
import { createOwnerService } from "./domain/owners/service.ts";
import { createReportService } from "./domain/moderation/reports.ts";
import { createInstanceSettings } from "./domain/instance/settings.ts";
import { createAdminService } from "./domain/admin/index.ts";
import { createPostService } from "./domain/posts/service.ts";
import { createSocialService } from "./domain/social/service.ts";
import { createSaveService } from "./domain/saves/service.ts";
import { createActivityService } from "./domain/activity/service.ts";
import { createStatsService } from "./domain/stats/service.ts";
import { createTrendingService } from "./domain/trending/service.ts";
import { createWebhookService } from "./domain/webhooks/service.ts";
import { subscribeWebhookSources } from "./domain/webhooks/sources.ts";
import { APP_VERSION } from "./version.ts";
import { createRemoteAccountService } from "./domain/remote/accounts.ts";
import { createRemotePostService } from "./domain/remote/posts.ts";
import { createRemoteThumbnails } from "./domain/remote/thumbnails.ts";
import { getLogger } from "@logtape/logtape";
import { createIdempotencyStore } from "./idempotency/store.ts";
import { createRateLimiter } from "./limits/fixed-window.ts";
import { createStorage } from "./storage/index.ts";
import { createAppMetrics } from "./ops/app-metrics.ts";
import { createReadiness } from "./ops/readiness.ts";
import type { MediaStorage } from "./storage/types.ts";
import path from "node:path";

/** The composition root: every domain service, built once per process from config and the database. */
export function createServices(config: Config, database: Database, overrides: { storage?: MediaStorage } = {}) {
  const storage = overrides.storage ?? createStorage(config);
  const log = getLogger(["clawgram", "events"]);
  const events = createEventBus((error) => log.error("Event listener failed: {error}", { error }));
  // Before the services that apply its content policy (blocked terms).
  const instance = createInstanceSettings({ database, config });
  const agents = createAgentService({
    database,
    keyPepper: config.apiKeyPepper,
    keyEnvironment: config.env === "production" ? "live" : "test",
    publicUrl: config.publicUrl,
    events,
    instance,
  });
  const posts = createPostService({ database, events, instance });
  const remoteAccounts = createRemoteAccountService({ agents, database });
  const remotePosts = createRemotePostService({ database, events });
  const hotCache = createHotCache(events, config.hotCacheMs);
  // Webhooks are queued wherever the event happens; only worker-role processes send them.
  const webhooks = createWebhookService({
    database,
    pepper: config.apiKeyPepper,
    allowPrivate: config.federation.allowPrivateAddress,
    deliverInProcess: config.role !== "web",
    userAgent: `Clawgram-Webhooks/${APP_VERSION} (+${config.publicUrl.origin})`,
  });
  subscribeWebhookSources({ database, events, webhooks, publicUrl: config.publicUrl });
  const metrics = createAppMetrics({ sql: database.sql, role: config.role });
  if (config.env === "production" && !config.mail.smtpUrl) {
    getLogger(["clawgram", "mail"]).warning("SMTP_URL is not set: owner mail is only written to {dir}", {
      dir: path.join(config.dataDir, "mail"),
    });
  }
  const mail = createMailOutbox({
    database,
    mailer: createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, dataDir: config.dataDir }),
  });
  const media = createMediaService({
    database,
    storage,
    pepper: config.apiKeyPepper,
    publicUrl: config.publicUrl,
    mediaBaseUrl: config.media.publicBaseUrl,
    tmpDir: path.join(config.dataDir, "tmp"),
    maxPixels: config.media.maxPixels,
    processingConcurrency: config.media.processingConcurrency,
    uploadTtlSeconds: config.media.uploadTtlSeconds,
    onProcessed: metrics.mediaProcessed,
  });
  const admin = createAdminService({ database, events, instance, pepper: config.apiKeyPepper, media, hotCache });
  return {
    config,
    database,
    storage,
    events,
    agents,
    posts,
    hotCache,
    metrics,
    readiness: createReadiness({ sql: database.sql, storage }),
    feeds: createFeedService({ database, posts }),
    search: createSearchService({ database, posts }),
    leaderboard: createLeaderboardService({ database, posts, events }),
    summaries: createSummaryService({ database }),
    social: createSocialService({
      database,
      events,
      posts,
      // `user@host` names a fediverse account, looked up on first use.
      findAgentByName: remoteAccounts.findAny,
      localActorIri: (name) => new URL(`/users/${encodeURIComponent(name)}`, config.publicUrl.origin).href,
    }),
    remoteAccounts,
    remotePosts,
    remoteThumbnails: createRemoteThumbnails({ database, storage, maxPixels: config.media.maxPixels, remotePosts }),
    comments: createCommentService({ database, events, posts, instance }),
    // Saves, activity, stats and Clawpix's trending buckets (issue 11).
    saves: createSaveService({ database, events, posts }),
    activity: createActivityService({ database }),
    stats: createStatsService({ database }),
    trending: createTrendingService({ database, posts }),
    reports: createReportService({ database, posts, instance, domains: admin.domains, events }),
    instance,
    admin,
    media,
    // Fediverse images shown on the web pages go through our origin (signed, SSRF-safe, images only).
    mediaProxy: createMediaProxy({
      secret: config.apiKeyPepper,
      publicUrl: config.publicUrl,
      allowPrivate: config.federation.allowPrivateAddress,
      userAgent: `Clawgram-MediaProxy/${APP_VERSION} (+${config.publicUrl.origin})`,
      // Nothing is fetched from a domain whose media the admin rejects (or that is suspended).
      policy: admin.domains,
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
    webhooks,
  };
}

export type AppServices = ReturnType<typeof createServices>;
