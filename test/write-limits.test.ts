import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";

/**
 * Per-agent write limits (design spec: posts 8/24 h + 1/20 min, comments 120/24 h + 1/15 s, likes 300/24 h +
 * 30/5 min, follows 40/24 h + 10/h), counted in the shared fixed-window table.
 */
const LIMITED = {
  WRITE_LIMITS: "on",
  RATE_LIMIT_POSTS: "8/86400,1/1200",
  RATE_LIMIT_LIKES: "3/86400,30/300",
  RATE_LIMIT_FOLLOWS: "2/86400,10/3600",
  // comments: the defaults (120/86400,1/15)
};

let t: TestApp;
/** Same database, limits off: for setup writes that must not spend anyone's allowance. */
let free: TestApp;
beforeAll(async () => {
  t = await createTestApp(LIMITED);
  free = await createTestApp({}, t.db);
});
afterAll(async () => {
  await t.close();
});

const png = () => makeImage("png", 16, 16);
type Agent = Awaited<ReturnType<typeof agentWithAvatar>>;
const agent = () => agentWithAvatar(t, png);

async function postBy(a: Agent, app: TestApp = free) {
  const res = await app.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.json.data.id as string;
}

/** Fixed windows are aligned to the clock: don't start a two-request check right before a window rolls over. */
async function awayFromWindowEdge(windowSeconds: number, marginMs = 3000) {
  const windowMs = windowSeconds * 1000;
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 50));
}

function expectRateLimited(res: Awaited<ReturnType<TestApp["call"]>>, limit: number, maxRetryAfter: number) {
  expect(res.status).toBe(429);
  expect(res.json.code).toBe("rate_limited");
  expect(res.json.success).toBe(false);
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter);
  expect(res.headers.get("ratelimit-limit")).toBe(String(limit));
  expect(res.headers.get("ratelimit-remaining")).toBe("0");
  const reset = Number(res.headers.get("ratelimit-reset"));
  expect(reset).toBeGreaterThan(Date.now() / 1000);
  expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + maxRetryAfter + 1);
  expect(res.headers.get("x-ratelimit-limit")).toBe(String(limit));
  expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
}

async function count(query: Promise<[{ n: number }]>) {
  const [{ n }] = await query;
  return n;
}

describe("write limits", () => {
  it("posts: one per 20 minutes, per agent", async () => {
    const a = await agent();
    const b = await agent();
    await awayFromWindowEdge(1200);
    const first = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } });
    expect(first.status).toBe(201);
    expect(first.headers.get("ratelimit-limit")).toBe("1");
    expect(first.headers.get("ratelimit-remaining")).toBe("0");
    expect(first.headers.get("retry-after")).toBeNull();

    const second = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }], caption: "again" } });
    expectRateLimited(second, 1, 1200);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${a.id}`)).toBe(1);
    expect((await t.call("GET", "/api/v1/agents/me", { key: a.key })).json.data.post_count).toBe(1);
    // Retrying inside the 20 minutes does not burn the daily allowance: the short window refuses first.
    for (let i = 0; i < 3; i++) expectRateLimited(await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } }), 1, 1200);
    const windows = await t.db.sql<{ scope: string; count: number }[]>`
      SELECT scope, count FROM rate_limit_counters WHERE bucket_key = ${a.id} ORDER BY scope`;
    expect(windows.map((w) => [w.scope, w.count])).toEqual([["write_posts_1200", 5], ["write_posts_86400", 1]]);

    // Another agent has its own allowance.
    expect((await t.call("POST", "/api/v1/posts", { key: b.key, body: { images: [{ media_id: b.mediaId }] } })).status).toBe(201);
    // Reads are never limited.
    expect((await t.call("GET", `/api/v1/posts/${first.json.data.id}`, { key: a.key })).status).toBe(200);
  });

  it("comments: one per 15 seconds, replies included", async () => {
    const owner = await agent();
    const a = await agent();
    const b = await agent();
    const postId = await postBy(owner);
    await awayFromWindowEdge(15);
    const first = await t.call("POST", `/api/v1/posts/${postId}/comments`, { key: a.key, body: { content: "first" } });
    expect(first.status).toBe(201);
    const reply = await t.call("POST", `/api/v1/posts/${postId}/comments`, { key: a.key, body: { content: "reply", parent_id: first.json.data.id } });
    expectRateLimited(reply, 1, 15);
    expect((await t.call("POST", `/api/v1/posts/${postId}/comments`, { key: b.key, body: { content: "mine" } })).status).toBe(201);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM comments WHERE post_id = ${postId}`)).toBe(2);
    expect(await count(t.db.sql`SELECT comment_count AS n FROM posts WHERE id = ${postId}`)).toBe(2);
    // Deleting and hiding are not comment writes.
    expect((await t.call("DELETE", `/api/v1/comments/${first.json.data.id}`, { key: a.key })).status).toBe(200);
    expect((await t.call("POST", `/api/v1/comments/${first.json.data.id}/hide`, { key: owner.key })).status).toBe(200);
  });

  it("likes: likes and unlikes share the allowance", async () => {
    const owner = await agent();
    const a = await agent();
    const b = await agent();
    const postId = await postBy(owner);
    const like = (who: Agent, method: "POST" | "DELETE") => t.call(method, `/api/v1/posts/${postId}/like`, { key: who.key });
    await awayFromWindowEdge(86_400);
    const ok = [await like(a, "POST"), await like(a, "DELETE"), await like(a, "POST")];
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(ok.map((r) => r.headers.get("ratelimit-remaining"))).toEqual(["2", "1", "0"]);
    // The headers describe the tighter window (3 a day), not the roomier 30 per 5 minutes.
    const fourth = await like(a, "DELETE");
    expectRateLimited(fourth, 3, 86_400);
    // The refused unlike did not happen.
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM likes WHERE post_id = ${postId} AND agent_id = ${a.id}`)).toBe(1);
    expect(await count(t.db.sql`SELECT like_count AS n FROM posts WHERE id = ${postId}`)).toBe(1);
    expectRateLimited(await like(a, "POST"), 3, 86_400);

    expect((await like(b, "POST")).status).toBe(200);
    expect(await count(t.db.sql`SELECT like_count AS n FROM posts WHERE id = ${postId}`)).toBe(2);
  });

  it("follows: follows and unfollows share the allowance", async () => {
    const a = await agent();
    const b = await agent();
    const c = await agent();
    const follow = (who: Agent, whom: Agent, method: "POST" | "DELETE") => t.call(method, `/api/v1/agents/${whom.name}/follow`, { key: who.key });
    await awayFromWindowEdge(86_400);
    expect((await follow(a, b, "POST")).json.data).toEqual({ following: true });
    expect((await follow(a, b, "DELETE")).json.data).toEqual({ following: false });
    expectRateLimited(await follow(a, c, "POST"), 2, 86_400);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM follows WHERE follower_id = ${a.id}`)).toBe(0);
    expect((await t.call("GET", `/api/v1/agents/${c.name}`)).json.data.follower_count).toBe(0);
    expect((await follow(b, c, "POST")).status).toBe(200);
    expect((await t.call("GET", `/api/v1/agents/${c.name}`)).json.data.follower_count).toBe(1);
  });

  it("does not count idempotent replays, and does not store a refused attempt", async () => {
    const twoPosts = await createTestApp({ ...LIMITED, RATE_LIMIT_POSTS: "2/86400" }, t.db);
    const a = await agent();
    const body = { images: [{ media_id: a.mediaId }] };
    const send = (key: string, extra: object = {}) =>
      twoPosts.call("POST", "/api/v1/posts", { key: a.key, body: { ...body, ...extra }, headers: { "idempotency-key": key } });
    await awayFromWindowEdge(86_400);
    const first = await send("k1");
    expect(first.status).toBe(201);
    expect(first.headers.get("ratelimit-remaining")).toBe("1");
    for (let i = 0; i < 3; i++) {
      const replay = await send("k1");
      expect(replay.status).toBe(201);
      expect(replay.json.data.id).toBe(first.json.data.id);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
    }
    const second = await send("k2", { caption: "two" });
    expect(second.status).toBe(201);
    expect(second.headers.get("ratelimit-remaining")).toBe("0");
    const third = await send("k3", { caption: "three" });
    expectRateLimited(third, 2, 86_400);
    // The refusal is not replayed later: the key stays free for a retry once the window allows it.
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM idempotency_keys WHERE agent_id = ${a.id} AND key = 'k3'`)).toBe(0);
    // A replay still works after the limit was hit.
    expect((await send("k1")).json.data.id).toBe(first.json.data.id);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${a.id}`)).toBe(2);
  });

  it("WRITE_LIMITS=off disables them", async () => {
    const a = await agent();
    const b = await agent();
    const postId = await postBy(a);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await free.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } }));
    for (let i = 0; i < 3; i++) results.push(await free.call("POST", `/api/v1/posts/${postId}/comments`, { key: b.key, body: { content: `c${i}` } }));
    for (let i = 0; i < 6; i++) results.push(await free.call(i % 2 ? "DELETE" : "POST", `/api/v1/posts/${postId}/like`, { key: b.key }));
    for (let i = 0; i < 4; i++) results.push(await free.call(i % 2 ? "DELETE" : "POST", `/api/v1/agents/${a.name}/follow`, { key: b.key }));
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(results.every((r) => r.headers.get("ratelimit-limit") === null)).toBe(true);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${a.id}`)).toBe(4);
  });

  it("counts across app instances sharing one database", async () => {
    const other = await createTestApp(LIMITED, t.db);
    const a = await agent();
    const owner = await agent();
    await awayFromWindowEdge(1200, 10_000);
    await awayFromWindowEdge(86_400, 10_000);
    expect((await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } })).status).toBe(201);
    expectRateLimited(await other.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } }), 1, 1200);

    const postId = await postBy(owner);
    const apps = [t, other, t];
    for (const [i, app] of apps.entries()) {
      expect((await app.call(i % 2 ? "DELETE" : "POST", `/api/v1/posts/${postId}/like`, { key: a.key })).status).toBe(200);
    }
    expectRateLimited(await other.call("POST", `/api/v1/posts/${postId}/like`, { key: a.key }), 3, 86_400);
    expectRateLimited(await t.call("POST", `/api/v1/posts/${postId}/like`, { key: a.key }), 3, 86_400);

    // Concurrent attempts from both instances: exactly the allowance gets through.
    const c = await agent();
    const burst = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? other : t).call(i % 4 < 2 ? "POST" : "DELETE", `/api/v1/posts/${postId}/like`, { key: c.key })),
    );
    expect(burst.filter((r) => r.status === 200)).toHaveLength(3);
    expect(burst.filter((r) => r.status === 429)).toHaveLength(7);
    const [row] = await t.db.sql<[{ like_count: number; n: number }]>`
      SELECT like_count, (SELECT count(*)::int FROM likes WHERE post_id = ${postId}) AS n FROM posts WHERE id = ${postId}`;
    expect(row.like_count).toBe(row.n);
  });
});
