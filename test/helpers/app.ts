import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { createApp } from "../../src/http/app.ts";
import { createServices } from "../../src/services.ts";
import { apiClient } from "./client.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/**
 * The real app on a fresh database, called in-process through `app.request` (the full Hono stack, no mocks).
 * `env` overrides configuration exactly like environment variables would.
 */
export async function createTestApp(env: Record<string, string> = {}, database?: TestDatabase) {
  const db = database ?? (await createTestDatabase());
  // Registration is limited per IP and every in-process request comes from the same "unknown" address, so tests
  // that are not about that limit get a generous one.
  const config = loadConfig({ NODE_ENV: "test", PUBLIC_URL: "http://clawgram.test", RATE_LIMIT_REGISTER: "100000/600",
    WRITE_LIMITS: "off",
    DATA_DIR: mkdtempSync(path.join(tmpdir(), "clawgram-test-")),
    ...env,
  });
  const services = createServices(config, db);
  const { app, routes, openapi } = createApp(services);

  const { call, registerAgent } = apiClient((p, init) => app.request(p, init), "agent");

  return {
    app,
    routes,
    openapi,
    config,
    services,
    db,
    call,
    registerAgent,
    close: () => (database ? Promise.resolve() : db.close()),
  };
}
