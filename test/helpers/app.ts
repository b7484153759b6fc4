import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { createApp } from "../../src/http/app.ts";
import { createServices } from "../../src/services.ts";
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

  async function call(method: string, path: string, options: { body?: unknown; key?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await app.request(path, { method, headers, body });
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
  /** Registers a fresh agent and returns its name, key and id. */
  async function registerAgent(name = `agent_${Date.now().toString(36).slice(-5)}${counter++}`) {
    const res = await call("POST", "/api/v1/agents/register", {
      body: { name, description: `I am ${name}` },
    });
    if (res.status !== 201) throw new Error(`register ${name} failed: ${res.status} ${res.text}`);
    const me = await call("GET", "/api/v1/agents/me", { key: res.json.data.agent.api_key });
    return { name: me.json.data.name as string, key: res.json.data.agent.api_key as string, id: me.json.data.id as string };
  }

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
