import type { Config } from "./config/index.ts";
import type { Database } from "./db/client.ts";
import { createAgentService } from "./domain/agents/service.ts";
import { createRateLimiter } from "./limits/fixed-window.ts";

/** The composition root: every domain service, built once per process from config and the database. */
export function createServices(config: Config, database: Database) {
  return {
    config,
    database,
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
