import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { createApp } from "../../src/http/app.ts";
import { createServices } from "../../src/services.ts";
import { startFederationQueue, type ClawgramFederation } from "../../federation/index.ts";
import type { TestApp } from "./app.ts";
import { apiClient } from "./client.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { serveHttps, type HttpsServer } from "./tls.ts";

/**
 * Our app served over HTTPS on a loopback port with its Postgres-backed federation queue running, for exchanges with
 * the test peer (test/helpers/peer.ts). `env` overrides configuration like environment variables.
 */
export type Ours = {
  server: HttpsServer;
  services: ReturnType<typeof createServices>;
  federation: ClawgramFederation;
  db: TestDatabase;
  /** Enough of the TestApp shape for the media helpers. */
  t: TestApp;
  stop(): Promise<void>;
};

export async function startOurs(env: Record<string, string> = {}): Promise<Ours> {
  let handler: (request: Request) => Response | Promise<Response> = () => new Response("starting", { status: 503 });
  const server = await serveHttps(() => handler);
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(tmpdir(), "clawgram-fed-"));
  const config = loadConfig({
    NODE_ENV: "test",
    PUBLIC_URL: server.origin,
    ALLOW_PRIVATE_ADDRESS: "true",
    WRITE_LIMITS: "off",
    RATE_LIMIT_REGISTER: "100000/600",
    DATA_DIR: dataDir,
    ...env,
  });
  const services = createServices(config, db);
  const { app, federation } = createApp(services);
  handler = (request) => app.fetch(request);
  const abort = new AbortController();
  const queue = startFederationQueue(federation, services, abort.signal);

  const { call, registerAgent } = apiClient((p, init) => fetch(new URL(p, server.origin), init), "fed");
  const t = { app, call, registerAgent, services, config } as unknown as TestApp;
  return {
    server,
    services,
    federation,
    db,
    t,
    async stop() {
      abort.abort();
      // Bounded: a delivery stuck in flight must not hold the test run up.
      await Promise.race([queue.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
      // Webhook deliveries started by inbox activities finish before their database goes away.
      await services.webhooks.settled();
      await server.close();
      // Let the queue's LISTEN connection unwind before the pool closes.
      await new Promise((r) => setTimeout(r, 50));
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns something truthy (and returns that), failing with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
