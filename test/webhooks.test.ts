import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebhookService } from "../src/domain/webhooks/service.ts";
import { housekeepingJobs } from "../src/jobs/housekeeping.ts";
import { startJobs } from "../src/jobs/scheduler.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";
import { serveHttps } from "./helpers/tls.ts";

// A real receiver on loopback (the development allowance is on for `t`), real signed POSTs, the real queue tables.
// Retries are driven by calling the delivery job with a later `asOf` clock: no sleeping through backoff.

type Hit = { path: string; headers: http.IncomingHttpHeaders; body: string };
type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function startReceiver() {
  const hits: Hit[] = [];
  const behaviours = new Map<string, Behaviour>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      hits.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const behave = behaviours.get(path);
      if (behave) behave(req, res);
      else res.writeHead(204).end();
    });
  });
  return new Promise<{
    url: (path: string) => string;
    hits: Hit[];
    at: (path: string) => Hit[];
    behave: (path: string, b: Behaviour) => void;
    close: () => Promise<void>;
  }>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: (path) => `http://127.0.0.1:${port}${path}`,
        hits,
        at: (path) => hits.filter((h) => h.path === path),
        behave: (path, b) => behaviours.set(path, b),
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * What a receiver does, written independently of the server's code: parse `t=…,v1=…`, refuse stale timestamps
 * (5 minutes), recompute HMAC-SHA256 over "<t>.<raw body>" with the secret and compare in constant time.
 */
function verifySignature(secret: string, header: string | undefined, rawBody: string, nowSeconds = Date.now() / 1000): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(",").map((kv) => kv.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(nowSeconds - t) > 300) return false;
  const expected = createHmac("sha256", Buffer.from(secret, "utf8")).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let t: TestApp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
type Agent = Awaited<ReturnType<typeof agentWithAvatar>>;
let alice: Agent;
let bob: Agent;
let carol: Agent;
const png = () => makeImage("png", 16, 16);

beforeAll(async () => {
  [t, receiver] = await Promise.all([createTestApp({ ALLOW_PRIVATE_ADDRESS: "true" }), startReceiver()]);
  [alice, bob, carol] = await Promise.all([agentWithAvatar(t, png), agentWithAvatar(t, png), agentWithAvatar(t, png)]);
});
afterAll(async () => {
  await t?.services.webhooks.settled();
  await receiver?.close();
  await t?.close();
});

const settled = () => t.services.webhooks.settled();

async function register(agent: { key: string }, path: string, events?: string[]) {
  const res = await t.call("POST", "/api/v1/agents/me/webhooks", { key: agent.key, body: { url: receiver.url(path), ...(events ? { events } : {}) } });
  if (res.status !== 201) throw new Error(`register webhook failed: ${res.status} ${res.text}`);
  return { id: res.json.data.webhook.id as string, secret: res.json.data.secret as string };
}

async function newPost(a: Agent, caption?: string): Promise<string> {
  const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }], ...(caption ? { caption } : {}) } });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.json.data.id;
}

async function newComment(a: Agent, postId: string, content: string, parentId?: string): Promise<string> {
  const res = await t.call("POST", `/api/v1/posts/${postId}/comments`, { key: a.key, body: { content, ...(parentId ? { parent_id: parentId } : {}) } });
  if (res.status !== 201) throw new Error(`comment failed: ${res.status} ${res.text}`);
  return res.json.data.id;
}

const webhookView = async (agent: { key: string }, id: string) =>
  (await t.call("GET", "/api/v1/agents/me/webhooks", { key: agent.key })).json.data.webhooks.find((w: { id: string }) => w.id === id);

describe("registering webhooks", () => {
  it("shows the secret once: never in the list, never stored in plain text", async () => {
    const res = await t.call("POST", "/api/v1/agents/me/webhooks", { key: carol.key, body: { url: receiver.url("/once"), events: ["like", "follow"] } });
    expect(res.status).toBe(201);
    const { webhook, secret, important } = res.json.data;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(important).toBe("SAVE YOUR WEBHOOK SECRET");
    expect(webhook).toMatchObject({ url: receiver.url("/once"), events: ["like", "follow"], status: "active", pending_deliveries: 0, disabled_reason: null });

    const list = await t.call("GET", "/api/v1/agents/me/webhooks", { key: carol.key });
    expect(list.status).toBe(200);
    expect(list.json.data.webhooks.map((w: { id: string }) => w.id)).toContain(webhook.id);
    expect(list.json.data.events).toContain("leaderboard.finalized");
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toContain("secret");
    const [row] = await t.db.sql<[{ secret_ciphertext: string }]>`SELECT secret_ciphertext FROM webhooks WHERE id = ${webhook.id}`;
    expect(row.secret_ciphertext).not.toContain(secret.slice(6));
    // Another agent sees none of it and cannot delete it.
    const other = await t.call("GET", "/api/v1/agents/me/webhooks", { key: bob.key });
    expect(other.text).not.toContain(webhook.id);
    expect((await t.call("DELETE", `/api/v1/agents/me/webhooks/${webhook.id}`, { key: bob.key })).status).toBe(404);
    // The owner can.
    const del = await t.call("DELETE", `/api/v1/agents/me/webhooks/${webhook.id}`, { key: carol.key });
    expect(del.status).toBe(200);
    expect(del.json.data).toEqual({ deleted: 1 });
    expect((await t.call("DELETE", `/api/v1/agents/me/webhooks/${webhook.id}`, { key: carol.key })).json.code).toBe("not_found");
  });

  it("validates the body, refuses duplicates and caps webhooks per agent", async () => {
    const agent = await t.registerAgent();
    const post = (body: unknown) => t.call("POST", "/api/v1/agents/me/webhooks", { key: agent.key, body });
    for (const body of [{}, { url: "not a url" }, { url: receiver.url("/v"), events: ["likes"] }, { url: receiver.url("/v"), events: [] }, { url: "ftp://example.com/x" }]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    expect((await t.call("POST", "/api/v1/agents/me/webhooks", { body: { url: receiver.url("/v") } })).status).toBe(401);
    expect((await post({ url: receiver.url("/v0") })).status).toBe(201);
    const dup = await post({ url: receiver.url("/v0") });
    expect(dup.status).toBe(409);
    expect(dup.json.code).toBe("webhook_exists");
    for (let i = 1; i < 5; i++) expect((await post({ url: receiver.url(`/v${i}`) })).status).toBe(201);
    const over = await post({ url: receiver.url("/v5") });
    expect(over.status).toBe(409);
    expect(over.json.code).toBe("webhook_limit_reached");
    const all = await t.call("DELETE", "/api/v1/agents/me/webhooks", { key: agent.key });
    expect(all.json.data).toEqual({ deleted: 5 });
    expect((await t.call("GET", "/api/v1/agents/me/webhooks", { key: agent.key })).json.data.webhooks).toEqual([]);
  });
});

describe("SSRF protection", () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await createTestApp({}, t.db);
  });

  it("without the development allowance: https only, and no private, loopback or link-local targets", async () => {
    const agent = await strict.registerAgent();
    const post = (url: string) => strict.call("POST", "/api/v1/agents/me/webhooks", { key: agent.key, body: { url } });
    for (const url of [receiver.url("/x"), "http://example.com/hook"]) {
      const res = await post(url);
      expect(res.status, url).toBe(400);
      expect(res.json.code, url).toBe("webhook_url_insecure");
    }
    for (const url of [
      "https://127.0.0.1/hook",
      "https://10.1.2.3/hook",
      "https://192.168.0.10/hook",
      "https://172.16.5.5/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/hook",
      "https://0.0.0.0/hook",
      "https://[::1]/hook",
      "https://[fd00::1]/hook",
      "https://[fe80::1]/hook",
      "https://[::ffff:127.0.0.1]/hook",
      "https://[::ffff:a9fe:a9fe]/hook",
      "https://localhost/hook",
    ]) {
      const res = await post(url);
      expect(res.status, url).toBe(400);
      expect(res.json.code, url).toBe("webhook_url_private");
    }
    expect((await strict.call("GET", "/api/v1/agents/me/webhooks", { key: agent.key })).json.data.webhooks).toEqual([]);
  });

  it("with the allowance, plain http is still refused except to loopback; unknown hosts are refused", async () => {
    const res = await t.call("POST", "/api/v1/agents/me/webhooks", { key: carol.key, body: { url: "http://10.0.0.1/hook" } });
    expect(res.status).toBe(400);
    expect(res.json.code).toBe("webhook_url_insecure");
    const unknown = await t.call("POST", "/api/v1/agents/me/webhooks", { key: carol.key, body: { url: "https://no-such-host.invalid/hook" } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.code).toBe("webhook_url_unresolvable");
    const credentials = await t.call("POST", "/api/v1/agents/me/webhooks", { key: carol.key, body: { url: "https://user:pw@127.0.0.1/hook" } });
    expect(credentials.status).toBe(400);
    expect(credentials.json.code).toBe("validation_error");
  });

  it("checks again at delivery time: a process without the allowance never connects to a loopback target", async () => {
    const victim = await agentWithAvatar(t, png);
    const hook = await register(victim, "/internal", ["follow"]);
    // Queue through the strict process (it handles the follow), deliver from it too.
    await strict.call("POST", `/api/v1/agents/${victim.name}/follow`, { key: (await agentWithAvatar(strict, png)).key });
    await strict.services.webhooks.settled();
    await settled();
    const [row] = await t.db.sql<[{ status: string; last_error: string; attempts: number }]>`
      SELECT d.status, d.last_error, d.attempts FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE w.agent_id = ${victim.id}`;
    expect(row.attempts).toBe(1);
    expect(row.status).toBe("pending");
    expect(row.last_error).toMatch(/not publicly routable|disallowed/);
    expect(receiver.at("/internal")).toEqual([]);
    // Leave no pending delivery behind for the tests that drive the queue's clock.
    expect((await t.call("DELETE", `/api/v1/agents/me/webhooks/${hook.id}`, { key: victim.key })).status).toBe(200);
  });
});

describe("events", () => {
  let secret: string;
  let webhookId: string;
  const path = "/alice";
  const events = () => receiver.at(path).map((h) => JSON.parse(h.body));
  const last = () => {
    const hits = receiver.at(path);
    const hit = hits[hits.length - 1]!;
    return { hit, body: JSON.parse(hit.body) };
  };

  beforeAll(async () => {
    ({ id: webhookId, secret } = await register(alice, path));
  });

  /** Runs `action`, waits for queueing and the in-process delivery, and returns the one new hit. */
  async function expectOne(action: () => Promise<unknown>, event: string) {
    const before = receiver.at(path).length;
    await action();
    await settled();
    const hits = receiver.at(path);
    expect(hits.length - before, `one ${event} delivery`).toBe(1);
    const { hit, body } = last();
    expect(hit.headers["x-clawgram-event"]).toBe(event);
    expect(hit.headers["x-clawgram-delivery"]).toBe(body.id);
    expect(hit.headers["x-clawgram-webhook"]).toBe(webhookId);
    expect(hit.headers["content-type"]).toBe("application/json");
    expect(verifySignature(secret, hit.headers["x-clawgram-signature"] as string, hit.body)).toBe(true);
    expect(body).toMatchObject({ event, webhook_id: webhookId, agent: { name: alice.name } });
    return body;
  }

  it("like: signed, with the liker", async () => {
    const postId = await newPost(alice);
    const body = await expectOne(() => t.call("POST", `/api/v1/posts/${postId}/like`, { key: bob.key }), "like");
    expect(body.data).toEqual({ post_id: postId, liker: { name: bob.name, remote: false, url: `http://clawgram.test/@${bob.name}` } });
    // Unlike + like again is the same occurrence: not sent twice.
    await t.call("DELETE", `/api/v1/posts/${postId}/like`, { key: bob.key });
    await t.call("POST", `/api/v1/posts/${postId}/like`, { key: bob.key });
    await settled();
    expect(events().filter((e) => e.event === "like" && e.data.post_id === postId)).toHaveLength(1);
  });

  it("the signature covers body and timestamp: tampering or replaying late fails verification", () => {
    const { hit } = last();
    const header = hit.headers["x-clawgram-signature"] as string;
    expect(verifySignature(secret, header, hit.body.replace(alice.name, bob.name))).toBe(false);
    expect(verifySignature("whsec_wrong", header, hit.body)).toBe(false);
    expect(verifySignature(secret, header, hit.body, Date.now() / 1000 + 301)).toBe(false);
  });

  it("comment on my post, reply to my comment, mention in a comment and in a caption", async () => {
    const mine = await newPost(alice);
    const commentBody = await expectOne(async () => newComment(bob, mine, "lovely"), "comment");
    expect(commentBody.data).toMatchObject({ post_id: mine, parent_id: null, content: "lovely", author: { name: bob.name, remote: false } });

    const carols = await newPost(carol);
    const aliceComment = await newComment(alice, carols, "my take");
    await settled();
    const before = receiver.at(path).length;
    const replyId = await newComment(bob, carols, "answering you", aliceComment);
    await settled();
    expect(receiver.at(path).length - before).toBe(1);
    expect(last().body).toMatchObject({ event: "reply", data: { comment_id: replyId, parent_id: aliceComment, content: "answering you" } });

    const mention = await expectOne(() => newComment(bob, carols, `cc @${alice.name.toUpperCase()} and @nobody_here, mail a@b.example`), "mention");
    expect(mention.data).toMatchObject({ post_id: carols, author: { name: bob.name } });
    expect(mention.data.comment_id).toEqual(expect.any(String));

    const captioned = await expectOne(() => newPost(bob, `shot for @${alice.name}!`), "mention");
    expect(captioned.data).toMatchObject({ comment_id: null, content: `shot for @${alice.name}!`, author: { name: bob.name } });
    // A fediverse handle names someone elsewhere, not our agent.
    const n = receiver.at(path).length;
    await newPost(bob, `hi @${alice.name}@elsewhere.example`);
    await settled();
    expect(receiver.at(path).length).toBe(n);
  });

  it("follow", async () => {
    const body = await expectOne(() => t.call("POST", `/api/v1/agents/${alice.name}/follow`, { key: carol.key }), "follow");
    expect(body.data).toEqual({ follower: { name: carol.name, remote: false, url: `http://clawgram.test/@${carol.name}` } });
  });

  it("leaderboard.finalized: every agent whose post placed, with rank and medal", async () => {
    const winner = await newPost(alice);
    const runnerUp = await newPost(bob);
    await t.call("POST", `/api/v1/posts/${winner}/like`, { key: bob.key });
    await t.call("POST", `/api/v1/posts/${winner}/like`, { key: carol.key });
    await t.call("POST", `/api/v1/posts/${runnerUp}/like`, { key: carol.key });
    await settled();
    const bobHook = await register(bob, "/bob-board", ["leaderboard.finalized"]);
    const day = new Date(Date.now() - 5 * 86_400_000).toISOString().slice(0, 10);
    await t.db.sql`UPDATE posts SET created_at = ${`${day}T08:00:00.000Z`}::timestamptz WHERE id IN (${winner}, ${runnerUp})`;
    await t.db.sql`UPDATE likes SET created_at = ${`${day}T09:00:00.000Z`}::timestamptz WHERE post_id IN (${winner}, ${runnerUp})`;
    const body = await expectOne(() => t.services.leaderboard.finalizeDue(), "leaderboard.finalized");
    expect(body.data).toEqual({ board: "agent_engaged", date: day, post_id: winner, rank: 1, medal: "gold", score: 2, like_count: 2, comment_count: 0 });
    const [bobHit] = receiver.at("/bob-board");
    expect(verifySignature(bobHook.secret, bobHit!.headers["x-clawgram-signature"] as string, bobHit!.body)).toBe(true);
    expect(JSON.parse(bobHit!.body).data).toMatchObject({ post_id: runnerUp, rank: 2, medal: "silver", score: 1 });
    // Finalizing again is a no-op, and so are its notifications.
    await t.services.leaderboard.finalizeDue();
    await settled();
    expect(receiver.at("/bob-board")).toHaveLength(1);
  });

  it("report.resolved: the reporter hears the outcome", async () => {
    const bobs = await newPost(bob);
    const report = await t.call("POST", `/api/v1/posts/${bobs}/report`, { key: alice.key, body: { reason: "spam" } });
    expect(report.status).toBe(201);
    const reportId = report.json.data.id ?? report.json.data.report_id;
    // The moderation tools emit this once a moderator decides.
    const body = await expectOne(
      async () => t.services.events.emit("report.resolved", { reportId, postId: bobs, reporterId: alice.id, outcome: "delete_post" }),
      "report.resolved",
    );
    expect(body.data).toEqual({ report_id: reportId, post_id: bobs, outcome: "delete_post" });
  });

  it("subscriptions filter events, and one's own actions notify nobody", async () => {
    const only = await register(carol, "/carol-follows", ["follow"]);
    const carols = await newPost(carol);
    await t.call("POST", `/api/v1/posts/${carols}/like`, { key: bob.key });
    await newComment(carol, carols, "talking to myself @" + carol.name);
    await t.call("POST", `/api/v1/agents/${carol.name}/follow`, { key: bob.key });
    await settled();
    const hits = receiver.at("/carol-follows");
    expect(hits.map((h) => h.headers["x-clawgram-event"])).toEqual(["follow"]);
    expect(verifySignature(only.secret, hits[0]!.headers["x-clawgram-signature"] as string, hits[0]!.body)).toBe(true);
  });
});

describe("https and host names", () => {
  it("delivers over TLS to a host name, connecting only to the addresses the guard checked", async () => {
    const received: { headers: Headers; body: string }[] = [];
    const tls = await serveHttps(() => async (request) => {
      received.push({ headers: request.headers, body: await request.text() });
      return new Response(null, { status: 204 });
    });
    try {
      const gina = await agentWithAvatar(t, png);
      const res = await t.call("POST", "/api/v1/agents/me/webhooks", { key: gina.key, body: { url: `${tls.origin}/tls`, events: ["follow"] } });
      expect(res.status).toBe(201);
      expect(res.json.data.webhook.url).toBe(`https://localhost:${tls.port}/tls`);
      await t.call("POST", `/api/v1/agents/${gina.name}/follow`, { key: bob.key });
      await settled();
      expect(received).toHaveLength(1);
      expect(verifySignature(res.json.data.secret, received[0]!.headers.get("x-clawgram-signature") ?? undefined, received[0]!.body)).toBe(true);
      expect(JSON.parse(received[0]!.body).data.follower.name).toBe(bob.name);

      // Without the allowance, the same host name is refused when connecting (its addresses are loopback).
      const strict = await createTestApp({}, t.db);
      await strict.call("POST", `/api/v1/agents/${gina.name}/follow`, { key: (await agentWithAvatar(strict, png)).key });
      await strict.services.webhooks.settled();
      expect(received).toHaveLength(1);
      expect((await webhookView(gina, res.json.data.webhook.id)).last_error).toMatch(/localhost resolves to a disallowed address/);
      await t.call("DELETE", "/api/v1/agents/me/webhooks", { key: gina.key });
    } finally {
      await tls.close();
    }
  });
});

describe("failures, retries and disabling", () => {
  it("retries with exponential backoff (same delivery id), then disables the webhook with the reason", async () => {
    const dave = await agentWithAvatar(t, png);
    receiver.behave("/down", (_req, res) => res.writeHead(503).end("maintenance"));
    const hook = await register(dave, "/down", ["follow"]);
    await t.call("POST", `/api/v1/agents/${dave.name}/follow`, { key: bob.key });
    await settled(); // the immediate attempt (1) failed
    const due = async () =>
      (await t.db.sql<[{ next: Date; attempts: number; status: string }]>`
        SELECT next_attempt_at AS next, attempts, status FROM webhook_deliveries WHERE webhook_id = ${hook.id}`)[0];
    let state = await due();
    expect(state).toMatchObject({ attempts: 1, status: "pending" });
    const delays: number[] = [];
    let clock = new Date();
    for (let attempt = 2; attempt <= 8; attempt++) {
      // Just before it is due nothing happens.
      const early = await t.services.webhooks.deliverDue({ asOf: new Date(new Date(state.next).getTime() - 1000) });
      expect(early).toEqual({ delivered: 0, retrying: 0, failed: 0 });
      delays.push(Math.round((new Date(state.next).getTime() - clock.getTime()) / 1000));
      clock = new Date(state.next);
      const report = await t.services.webhooks.deliverDue({ asOf: clock });
      expect(report).toEqual(attempt < 8 ? { delivered: 0, retrying: 1, failed: 0 } : { delivered: 0, retrying: 0, failed: 1 });
      state = await due();
      expect(state.attempts).toBe(attempt);
    }
    expect(delays.slice(1)).toEqual([60, 120, 240, 480, 960, 1920]);
    expect(state.status).toBe("failed");
    const hits = receiver.at("/down");
    expect(hits).toHaveLength(8);
    expect(new Set(hits.map((h) => h.headers["x-clawgram-delivery"])).size).toBe(1);
    for (const h of hits) expect(verifySignature(hook.secret, h.headers["x-clawgram-signature"] as string, h.body)).toBe(true);

    const view = await webhookView(dave, hook.id);
    expect(view).toMatchObject({ status: "disabled", last_status: 503, last_error: "HTTP 503", consecutive_failures: 8, pending_deliveries: 0 });
    expect(view.disabled_reason).toMatch(/failed 8 times; last: HTTP 503/);
    expect(view.disabled_at).toEqual(expect.any(String));

    // Disabled: new events are not queued, and nothing more is sent.
    await t.call("POST", `/api/v1/agents/${dave.name}/follow`, { key: carol.key });
    await settled();
    await t.services.webhooks.deliverDue({ asOf: new Date(Date.now() + 86_400_000) });
    expect(receiver.at("/down")).toHaveLength(8);
  });

  it("a receiver that recovers gets the delivery; failures reset", async () => {
    const erin = await agentWithAvatar(t, png);
    let fails = 2;
    receiver.behave("/flaky", (_req, res) => res.writeHead(fails-- > 0 ? 500 : 200).end());
    const hook = await register(erin, "/flaky", ["follow"]);
    await t.call("POST", `/api/v1/agents/${erin.name}/follow`, { key: bob.key });
    await settled();
    expect((await webhookView(erin, hook.id)).consecutive_failures).toBe(1);
    expect(await t.services.webhooks.deliverDue({ asOf: new Date(Date.now() + 31_000) })).toEqual({ delivered: 0, retrying: 1, failed: 0 });
    expect(await t.services.webhooks.deliverDue({ asOf: new Date(Date.now() + 120_000) })).toEqual({ delivered: 1, retrying: 0, failed: 0 });
    const view = await webhookView(erin, hook.id);
    expect(view).toMatchObject({ status: "active", consecutive_failures: 0, last_status: 200, last_error: null, pending_deliveries: 0 });
    expect(view.last_success_at).toEqual(expect.any(String));
    expect(receiver.at("/flaky")).toHaveLength(3);
  });

  it("410 Gone disables at once; redirects are not followed; a hanging receiver times out", async () => {
    const gone = await agentWithAvatar(t, png);
    receiver.behave("/gone", (_req, res) => res.writeHead(410).end());
    const goneHook = await register(gone, "/gone", ["follow"]);
    await t.call("POST", `/api/v1/agents/${gone.name}/follow`, { key: bob.key });
    await settled();
    expect(await webhookView(gone, goneHook.id)).toMatchObject({ status: "disabled", last_status: 410 });

    const moved = await agentWithAvatar(t, png);
    receiver.behave("/moved", (_req, res) => res.writeHead(302, { location: receiver.url("/target") }).end());
    const movedHook = await register(moved, "/moved", ["follow"]);
    await t.call("POST", `/api/v1/agents/${moved.name}/follow`, { key: bob.key });
    await settled();
    expect(await webhookView(moved, movedHook.id)).toMatchObject({ status: "active", last_status: 302, last_error: "HTTP 302 (redirects are not followed)" });
    expect(receiver.at("/target")).toEqual([]);
    await t.call("DELETE", "/api/v1/agents/me/webhooks", { key: moved.key }); // only the next one is due below

    // A sender with a short timeout (same database and queue) against a receiver that never answers.
    const slow = await agentWithAvatar(t, png);
    receiver.behave("/hang", () => {});
    const hangHook = await register(slow, "/hang", ["follow"]);
    // Queued directly (not through an event), so the app's own immediate attempt with its 10 s timeout never runs.
    const quick = createWebhookService({
      database: t.db,
      pepper: t.config.apiKeyPepper,
      allowPrivate: true,
      deliverInProcess: false,
      userAgent: "test",
      timeoutMs: 200,
    });
    expect(await quick.notify([{ agentId: slow.id, event: "follow", dedupeKey: "hang", data: {} }])).toHaveLength(1);
    await quick.deliverDue({ asOf: new Date(Date.now() + 3_600_000) });
    expect((await webhookView(slow, hangHook.id)).last_error).toBe("timed out after 200 ms");
    await t.call("DELETE", "/api/v1/agents/me/webhooks", { key: slow.key });
  });
});

describe("the delivery job and split roles", () => {
  it("web processes only queue; the worker's lease-based job delivers", async () => {
    const shared = { DATABASE_URL: "postgres://unused@127.0.0.1:1/unused", ALLOW_PRIVATE_ADDRESS: "true" };
    const [web, worker] = await Promise.all([createTestApp({ ...shared, NODE_ROLE: "web" }, t.db), createTestApp({ ...shared, NODE_ROLE: "worker" }, t.db)]);
    expect(housekeepingJobs(web.services).map((j) => j.name)).not.toContain("deliver-webhooks");
    const job = housekeepingJobs(worker.services).find((j) => j.name === "deliver-webhooks");
    expect(job).toBeDefined();

    const frank = await agentWithAvatar(web, png);
    const hook = await (async () => {
      const res = await web.call("POST", "/api/v1/agents/me/webhooks", { key: frank.key, body: { url: receiver.url("/split"), events: ["follow"] } });
      return { id: res.json.data.webhook.id as string, secret: res.json.data.secret as string };
    })();
    const follow = await web.call("POST", `/api/v1/agents/${frank.name}/follow`, { key: (await agentWithAvatar(web, png)).key });
    expect(follow.status).toBe(200);
    await web.services.webhooks.settled();
    expect(receiver.at("/split")).toEqual([]);
    expect((await webhookView(frank, hook.id)).pending_deliveries).toBe(1);

    await t.db.sql`DELETE FROM job_leases WHERE name = 'deliver-webhooks'`;
    const jobs = startJobs(t.db.sql, [job!], { tickMs: 3_600_000, firstTickMs: 3_600_000 });
    try {
      await jobs.tick();
      const hits = receiver.at("/split");
      expect(hits).toHaveLength(1);
      expect(verifySignature(hook.secret, hits[0]!.headers["x-clawgram-signature"] as string, hits[0]!.body)).toBe(true);
      expect((await webhookView(frank, hook.id)).pending_deliveries).toBe(0);

      // Another event: while the lease is held (by this or any other worker), a tick does not run the job again.
      await web.call("POST", `/api/v1/agents/${frank.name}/follow`, { key: (await agentWithAvatar(web, png)).key });
      await web.services.webhooks.settled();
      await jobs.tick();
      expect(receiver.at("/split")).toHaveLength(1);
      expect((await webhookView(frank, hook.id)).pending_deliveries).toBe(1);
      // Once the lease runs out, the next tick delivers.
      await t.db.sql`UPDATE job_leases SET locked_until = now() WHERE name = 'deliver-webhooks'`;
      await jobs.tick();
      expect(receiver.at("/split")).toHaveLength(2);
    } finally {
      jobs.stop();
    }
    expect((await webhookView(frank, hook.id)).pending_deliveries).toBe(0);
  });
});
