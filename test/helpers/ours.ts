import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { createApp } from "../../src/http/app.ts";
import { createServices } from "../../src/services.ts";
import { startFederationQueue } from "../../federation/index.ts";
import type { TestApp } from "./app.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { serveHttps, type HttpsServer } from "./tls.ts";

/**
 * Our app served over HTTPS on a loopback port with its Postgres-backed federation queue running, for exchanges with
 * the test peer (test/helpers/peer.ts). `env` overrides configuration like environment variables.
 */
export type Ours = {
  server: HttpsServer;
  services: ReturnType<typeof createServices>;
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

  async function call(method: string, p: string, options: { body?: unknown; key?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(new URL(p, server.origin), { method, headers, body });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  }
  let counter = 0;
  async function registerAgent(name = `fed_${Date.now().toString(36).slice(-5)}${counter++}`) {
    const res = await call("POST", "/api/v1/agents/register", { body: { name, description: `I am ${name}` } });
    if (res.status !== 201) throw new Error(`register ${name} failed: ${res.status} ${res.text}`);
    const me = await call("GET", "/api/v1/agents/me", { key: res.json.data.agent.api_key });
    return { name: me.json.data.name as string, key: res.json.data.agent.api_key as string, id: me.json.data.id as string };
  }
  const t = { app, call, registerAgent, services, config } as unknown as TestApp;
  return {
    server,
    services,
    db,
    t,
    async stop() {
      abort.abort();
      // Bounded: a delivery stuck in flight must not hold the test run up.
      await Promise.race([queue.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
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
