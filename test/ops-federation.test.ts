import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Actor } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFederationQueue } from "../federation/index.ts";
import { loadConfig } from "../src/config/index.ts";
import { createApp } from "../src/http/app.ts";
import { createServices } from "../src/services.ts";
import type { TestApp } from "./helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";
import { startPeer, type Peer } from "./helpers/peer.ts";
import { serveHttps, type HttpsServer } from "./helpers/tls.ts";

// Delivery outcomes in /metrics: our app over HTTPS with its federation queue running, and a real Fedify peer.

let server: HttpsServer;
let db: TestDatabase;
let peer: Peer;
let t: TestApp;
let dataDir: string;
let stopQueue: () => Promise<void>;

beforeAll(async () => {
  let handler: (request: Request) => Response | Promise<Response> = () => new Response("starting", { status: 503 });
  [server, peer, db] = await Promise.all([serveHttps(() => handler), startPeer(), createTestDatabase()]);
  dataDir = mkdtempSync(path.join(tmpdir(), "clawgram-opsfed-"));
  const config = loadConfig({
    NODE_ENV: "test",
    PUBLIC_URL: server.origin,
    ALLOW_PRIVATE_ADDRESS: "true",
    WRITE_LIMITS: "off",
    RATE_LIMIT_REGISTER: "100000/600",
    DATA_DIR: dataDir,
  });
  const services = createServices(config, db);
  const { app, federation } = createApp(services);
  handler = (request) => app.fetch(request);
  const abort = new AbortController();
  const queue = startFederationQueue(federation, services, abort.signal);
  stopQueue = async () => {
    abort.abort();
    await Promise.race([queue.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
  };
  async function call(method: string, p: string, options: { body?: unknown; key?: string } = {}) {
    const headers: Record<string, string> = {};
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(new URL(p, server.origin), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
  }
  let counter = 0;
  async function registerAgent() {
    const name = `opsfed_${Date.now().toString(36).slice(-5)}${counter++}`;
    const res = await call("POST", "/api/v1/agents/register", { body: { name, description: `I am ${name}` } });
    const me = await call("GET", "/api/v1/agents/me", { key: res.json.data.agent.api_key });
    return { name, key: res.json.data.agent.api_key as string, id: me.json.data.id as string };
  }
  t = { app, call, registerAgent, services, config } as unknown as TestApp;
});

afterAll(async () => {
  await stopQueue?.();
  await server?.close();
  await peer?.close();
  await new Promise((r) => setTimeout(r, 50));
  await db?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function metric(prefix: string, ...must: string[]): Promise<number> {
  const text = await t.services.metrics.render();
  return text
    .split("\n")
    .filter((l) => l.startsWith(prefix) && must.every((m) => l.includes(m)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("federation metrics", () => {
  it("counts successful and failed deliveries, queue tasks and inbox activities", async () => {
    const agent = await agentWithAvatar(t, () => makeImage("png", 32, 32));
    const actor = (await peer.lookup(`${agent.name}@${new URL(server.origin).host}`)) as Actor;
    const follow = await peer.follow(actor);
    // Our queue processes the Follow and delivers the Accept to the peer.
    await waitFor("Accept at the peer", async () => peer.receivedOf("Accept", (r) => (r.json.object?.id ?? r.json.object) === follow.id!.href).length > 0);
    await waitFor("the delivery counted", async () => (await metric("fedify_activitypub_delivery_sent_total", 'activitypub_delivery_success="true"')) >= 1);
    expect(await metric("fedify_activitypub_delivery_duration_seconds_count", 'activitypub_delivery_success="true"')).toBeGreaterThanOrEqual(1);
    expect(await metric("fedify_queue_task_completed_total", 'fedify_queue_role="inbox"')).toBeGreaterThanOrEqual(1);
    expect(await metric("fedify_activitypub_inbox_activity_total", "Follow")).toBeGreaterThanOrEqual(1);
    // No per-host series.
    expect(await t.services.metrics.render()).not.toContain(new URL(peer.origin).host);

    // The peer's inboxes go down: the next delivery (the agent's new post) fails and is counted as such.
    for (const inbox of ["/inbox", "/users/alice/inbox"]) peer.serve(inbox, "down for maintenance", "text/plain", 503);
    const { mediaId } = await uploadImage(t, agent.key, await makeImage("png", 40, 30), "image/png", "p.png");
    const post = await t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: mediaId }], caption: "hello" } });
    expect(post.status, post.text).toBe(201);
    await waitFor("the failed delivery counted", async () => (await metric("fedify_activitypub_delivery_sent_total", 'activitypub_delivery_success="false"')) >= 1);
    // The retry waits in the queue, delayed.
    await waitFor("a delayed retry in the queue", async () => (await metric('clawgram_federation_queue_depth{state="delayed"}')) >= 1);
  });
});
