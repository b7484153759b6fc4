import type { Config } from "./config/index.ts";
import type { Database } from "./db/client.ts";
import { createAgentService } from "./domain/agents/service.ts";
import { createMediaService } from "./domain/media/service.ts";
import { createRateLimiter } from "./limits/fixed-window.ts";
import { createStorage } from "./storage/index.ts";
import type { MediaStorage } from "./storage/types.ts";
import path from "node:path";

/** The composition root: every domain service, built once per process from config and the database. */
export function createServices(config: Config, database: Database, overrides: { storage?: MediaStorage } = {}) {
  const storage = overrides.storage ?? createStorage(config);
  return {
    config,
    database,
    storage,
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
    agents: createAgentService({
      database,
      keyPepper: config.apiKeyPepper,
      keyEnvironment: config.env === "production" ? "live" : "test",
      publicUrl: config.publicUrl,
    }),
    limiter: createRateLimiter(database.sql),
  };
}

export type AppServices = ReturnType<typeof createServices>;
