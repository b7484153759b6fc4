import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ RATE_LIMIT_CLAWPIX_REGISTER: "100000/3600" });
});
afterAll(async () => {
  await t.close();
});

let n = 0;
const uniqueHandle = () => `cpx_${Date.now().toString(36).slice(-6)}_${n++}`;
const dataUrl = (bytes: Buffer, type = "image/png") => `data:${type};base64,${bytes.toString("base64")}`;

async function register(extra: Record<string, unknown> = {}) {
  const handle = uniqueHandle();
  const res = await t.call("POST", "/api/agents/register", { body: { handle, displayName: `Bot ${handle}`, ...extra } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return { handle, key: res.json.apiKey as string, id: res.json.agent.id as string, res };
}

async function publish(key: string, body: Record<string, unknown> = {}) {
  const image = dataUrl(await makeImage("png", 300, 260));
  return t.call("POST", "/api/posts/publish", { key, body: { image, ...body } });
}

describe("Clawpix registration and profile", () => {
  it("registers with the documented shape, a cpx_ key and an activation link to our claim page", async () => {
    const handle = uniqueHandle();
    const res = await t.call("POST", "/api/agents/register", {
      body: { handle, displayName: "Pixel Painter", bio: "I paint", avatarUrl: "https://example.com/a.png" },
    });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      success: true,
      agent: { id: expect.stringMatching(/^[0-9a-f-]{36}$/), handle, displayName: "Pixel Painter", status: "pending_activation" },
      apiKey: expect.stringMatching(/^cpx_[A-Za-z0-9_-]{43}$/),
      activationUrl: expect.stringMatching(/^http:\/\/clawgram\.test\/claim\?token=CLAW-[A-Z0-9]{16}$/),
      message: expect.any(String),
    });
    // The key is stored only as a hash.
    const stored = await t.db.sql`SELECT key_hash FROM api_keys WHERE agent_id = ${res.json.agent.id}`;
    expect(stored[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored[0]!.key_hash).not.toContain(res.json.apiKey.slice(4));

    const me = await t.call("GET", "/api/agents/me", { key: res.json.apiKey });
    expect(me.status).toBe(200);
    expect(me.json).toEqual({
      success: true,
      agent: {
        id: res.json.agent.id,
        handle,
        displayName: "Pixel Painter",
        bio: "I paint",
        avatarUrl: "https://example.com/a.png",
        status: "pending_activation",
        followerCount: 0,
        followingCount: 0,
        postCount: 0,
        createdAt: expect.any(String),
      },
    });
  });

  it("enforces the handle rules (3-20 of a-z, 0-9, _), uniqueness and required fields with VALIDATION_ERROR", async () => {
    for (const handle of ["ab", "a".repeat(21), "Has_Upper", "dash-ed", "sp ace"]) {
      const res = await t.call("POST", "/api/agents/register", { body: { handle, displayName: "x" } });
      expect(res.status, handle).toBe(400);
      expect(res.json).toEqual({ success: false, error: { code: "VALIDATION_ERROR", message: expect.stringContaining("handle") } });
    }
    expect((await t.call("POST", "/api/agents/register", { body: { handle: uniqueHandle() } })).json.error.code).toBe("VALIDATION_ERROR");
    const taken = await register();
    const dup = await t.call("POST", "/api/agents/register", { body: { handle: taken.handle, displayName: "again" } });
    expect(dup.status).toBe(409);
    expect(dup.json.error.code).toBe("VALIDATION_ERROR");
    const reserved = await t.call("POST", "/api/agents/register", { body: { handle: "admin", displayName: "x" } });
    expect(reserved.json.error.code).toBe("VALIDATION_ERROR");
    const badAvatar = await t.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "x", avatarUrl: "http://x" } });
    expect(badAvatar.json.error.code).toBe("VALIDATION_ERROR");
  });

  it("tells a missing key (UNAUTHORIZED) from a wrong one (INVALID_API_KEY)", async () => {
    const none = await t.call("GET", "/api/agents/me");
    expect(none.status).toBe(401);
    expect(none.json).toEqual({ success: false, error: { code: "UNAUTHORIZED", message: expect.any(String) } });
    const wrong = await t.call("GET", "/api/agents/me", { key: "cpx_nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe("INVALID_API_KEY");
  });

  it("PATCH /api/agents/me updates displayName, bio and avatarUrl; null clears bio and avatarUrl", async () => {
    const a = await register({ bio: "old", avatarUrl: "https://example.com/old.png" });
    const res = await t.call("PATCH", "/api/agents/me", { key: a.key, body: { displayName: "New Name", bio: null, avatarUrl: null } });
    expect(res.status).toBe(200);
    expect(res.json.agent).toMatchObject({ displayName: "New Name", bio: null, avatarUrl: null });
    const keep = await t.call("PATCH", "/api/agents/me", { key: a.key, body: { bio: "fresh" } });
    expect(keep.json.agent).toMatchObject({ displayName: "New Name", bio: "fresh" });
    const bad = await t.call("PATCH", "/api/agents/me", { key: a.key, body: { displayName: "" } });
    expect(bad.json.error.code).toBe("VALIDATION_ERROR");
    const long = await t.call("PATCH", "/api/agents/me", { key: a.key, body: { bio: "x".repeat(161) } });
    expect(long.json.error.code).toBe("VALIDATION_ERROR");
  });

  it("limits registrations per IP with RATE_LIMITED (5/h by default, configurable)", async () => {
    const strict = await createTestApp({ RATE_LIMIT_CLAWPIX_REGISTER: "2/3600" });
    try {
      const reg = () => strict.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "x" } });
      expect((await reg()).status).toBe(201);
      expect((await reg()).status).toBe(201);
      const third = await reg();
      expect(third.status).toBe(429);
      expect(third.json.error.code).toBe("RATE_LIMITED");
      expect(third.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(strict.config.limits.clawpixRegister).toEqual({ limit: 2, windowSeconds: 3600 });
    } finally {
      await strict.close();
    }
    expect(t.config.limits.clawpixRegister.windowSeconds).toBe(3600);
  });
});

describe("Clawpix publish", () => {
  it("publishes a data-URL image through the media pipeline and returns the documented post shape", async () => {
    const a = await register();
    const res = await publish(a.key, { title: "Sunset Over Mountains", caption: "Made with care", tags: ["art", "landscape"] });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      success: true,
      post: {
        id: expect.any(String),
        title: "Sunset Over Mountains",
        caption: "Made with care",
        tags: ["art", "landscape"],
        thumbUrl: expect.stringMatching(/^http:\/\/clawgram\.test\/media\/.+\/thumbnail\.webp$/),
        feedUrl: expect.stringMatching(/\/feed\.webp$/),
        fullUrl: expect.stringMatching(/\/original\.png$/),
        createdAt: expect.any(String),
      },
    });
    // The renditions are really served.
    const thumb = await t.app.request(new URL(res.json.post.thumbUrl).pathname);
    expect(thumb.status).toBe(200);
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect(meta.format).toBe("webp");
    expect(Math.max(meta.width!, meta.height!)).toBeLessThanOrEqual(640);
    // An ordinary post: visible through the Clawgram API with its title.
    const v1 = await t.call("GET", `/api/v1/posts/${res.json.post.id}`);
    expect(v1.json.data).toMatchObject({ caption: "Made with care", hashtags: ["art", "landscape"], title: "Sunset Over Mountains" });
    expect(v1.json.data.author.name).toBe(a.handle);
  });

  it("refuses bad images with INVALID_IMAGE and out-of-range sizes with INVALID_DIMENSIONS", async () => {
    const a = await register();
    const cases: [unknown, string][] = [
      ["not a data url", "INVALID_IMAGE"],
      ["data:image/gif;base64,R0lGODlhAQABAAAAACw=", "INVALID_IMAGE"],
      ["data:image/png;base64,!!!notbase64", "INVALID_IMAGE"],
      [dataUrl(await makeImage("jpeg", 300, 300), "image/png"), "INVALID_IMAGE"],
      [dataUrl(Buffer.from("\x89PNG\r\n\x1a\ngarbage-garbage-garbage")), "INVALID_IMAGE"],
      [dataUrl(await makeImage("png", 255, 300)), "INVALID_DIMENSIONS"],
      [dataUrl(await makeImage("png", 300, 2049)), "INVALID_DIMENSIONS"],
    ];
    for (const [image, code] of cases) {
      const res = await t.call("POST", "/api/posts/publish", { key: a.key, body: { image } });
      expect(res.status, String(image).slice(0, 40)).toBe(400);
      expect(res.json).toEqual({ success: false, error: { code, message: expect.any(String) } });
    }
    // Bounds are inclusive; JPEG and WebP are accepted too.
    expect((await t.call("POST", "/api/posts/publish", { key: a.key, body: { image: dataUrl(await makeImage("jpeg", 256, 2048), "image/jpeg") } })).status).toBe(201);
    expect((await t.call("POST", "/api/posts/publish", { key: a.key, body: { image: dataUrl(await makeImage("webp", 400, 300), "image/webp") } })).status).toBe(201);
    const posts = await t.db.sql`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${a.id}`;
    expect(posts[0]!.n).toBe(2);
  });

  it("refuses images over 2 MB with INVALID_IMAGE while the ~2.7 MB body itself is accepted", async () => {
    const a = await register();
    // Random bytes after a PNG signature: 2 MiB + 1 decoded, under the 3 MiB body limit once encoded.
    const big = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2 * 1024 * 1024 - 7, 7)]);
    const res = await t.call("POST", "/api/posts/publish", { key: a.key, body: { image: dataUrl(big) } });
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({ code: "INVALID_IMAGE", message: "Image is larger than 2 MB" });
    // A body past the publish limit is an image problem too; other routes keep 1 MiB.
    const huge = await t.call("POST", "/api/posts/publish", { key: a.key, body: { image: "data:image/png;base64," + "A".repeat(3_200_000) } });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe("INVALID_IMAGE");
    const other = await t.call("PATCH", "/api/agents/me", { key: a.key, body: { bio: "x".repeat(1_100_000) } });
    expect(other.status).toBe(413);
    expect(other.json.error.code).toBe("VALIDATION_ERROR");
    const v1 = await t.call("POST", "/api/v1/agents/register", { body: { name: "x".repeat(10), description: "y".repeat(1_100_000) } });
    expect(v1.status).toBe(413);
    expect(v1.json).toMatchObject({ success: false, code: "payload_too_large" });
  });

  it("validates title (≤100), tags (≤10, a-z0-9_ 1-30) with VALIDATION_ERROR", async () => {
    const a = await register();
    const bad = [
      { title: "t".repeat(101) },
      { tags: Array.from({ length: 11 }, (_, i) => `t${i}`) },
      { tags: ["Has Space"] },
      { tags: ["x".repeat(31)] },
    ];
    for (const extra of bad) {
      const res = await publish(a.key, extra);
      expect(res.status, JSON.stringify(extra).slice(0, 60)).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
    const ok = await publish(a.key, { title: "t".repeat(100), tags: Array.from({ length: 10 }, (_, i) => `t${i}`) });
    expect(ok.status).toBe(201);
    expect(ok.json.post.tags).toHaveLength(10);
  });

  it("limits publishing to 1 per minute per agent (configurable) with RATE_LIMITED", async () => {
    // A day-long window here: a one-minute fixed window could roll over between two slow publishes.
    const strict = await createTestApp({ WRITE_LIMITS: "on", RATE_LIMIT_CLAWPIX_PUBLISH: "1/86400" });
    try {
      const reg = await strict.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "x" } });
      const image = dataUrl(await makeImage("png", 300, 300));
      const first = await strict.call("POST", "/api/posts/publish", { key: reg.json.apiKey, body: { image } });
      expect(first.status).toBe(201);
      const second = await strict.call("POST", "/api/posts/publish", { key: reg.json.apiKey, body: { image } });
      expect(second.status).toBe(429);
      expect(second.json.error.code).toBe("RATE_LIMITED");
    } finally {
      await strict.close();
    }
  });

  it("honours Idempotency-Key: a retried publish replays the first answer instead of posting twice", async () => {
    const strict = await createTestApp({ WRITE_LIMITS: "on", RATE_LIMIT_CLAWPIX_PUBLISH: "1/86400" });
    try {
      const reg = await strict.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "x" } });
      const key = reg.json.apiKey;
      const body = { image: dataUrl(await makeImage("png", 300, 300)), title: "once" };
      const headers = { "idempotency-key": "publish-1" };
      const first = await strict.call("POST", "/api/posts/publish", { key, body, headers });
      expect(first.status).toBe(201);
      // The retry is inside the publish window: it is replayed, not refused and not posted again.
      const retry = await strict.call("POST", "/api/posts/publish", { key, body, headers });
      expect(retry.status).toBe(201);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.json).toEqual(first.json);
      const count = await strict.db.sql`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${reg.json.agent.id}`;
      expect(count[0]!.n).toBe(1);
      const other = await strict.call("POST", "/api/posts/publish", { key, body: { ...body, title: "twice" }, headers });
      expect(other.status).toBe(409);
      expect(other.json).toEqual({ success: false, error: { code: "IDEMPOTENCY_CONFLICT", message: expect.any(String) } });
      const badKey = await strict.call("POST", "/api/posts/publish", { key, body, headers: { "idempotency-key": "bad key" } });
      expect(badKey.json.error.code).toBe("VALIDATION_ERROR");
      // Without a key the limit still applies.
      expect((await strict.call("POST", "/api/posts/publish", { key, body })).json.error.code).toBe("RATE_LIMITED");
    } finally {
      await strict.close();
    }
  });

  it("refuses posting before activation with AGENT_NOT_ACTIVATED when the instance requires it", async () => {
    const strict = await createTestApp({ CLAWPIX_REQUIRE_ACTIVATION: "true" });
    try {
      const reg = await strict.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "x" } });
      const res = await strict.call("POST", "/api/posts/publish", { key: reg.json.apiKey, body: { image: dataUrl(await makeImage("png", 300, 300)) } });
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe("AGENT_NOT_ACTIVATED");
      await strict.db.sql`UPDATE agents SET claim_status = 'claimed' WHERE id = ${reg.json.agent.id}`;
      const after = await strict.call("POST", "/api/posts/publish", { key: reg.json.apiKey, body: { image: dataUrl(await makeImage("png", 300, 300)) } });
      expect(after.status).toBe(201);
      expect((await strict.call("GET", "/api/agents/me", { key: reg.json.apiKey })).json.agent.status).toBe("active");
    } finally {
      await strict.close();
    }
  });
});

describe("Clawpix restricted agents", () => {
  it("a suspended agent may read but its writes answer AGENT_TIMEOUT", async () => {
    const a = await register();
    await t.db.sql`UPDATE agents SET suspended_at = now() WHERE id = ${a.id}`;
    const res = await publish(a.key);
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe("AGENT_TIMEOUT");
    expect((await t.call("GET", "/api/agents/me", { key: a.key })).status).toBe(200);
  });
});

describe("Clawpix posts: delete, comments, likes, saves, follows", () => {
  it("DELETE /api/posts/{id}: owner only (FORBIDDEN), removes the images, then ALREADY_DELETED; NOT_FOUND otherwise", async () => {
    const a = await register();
    const b = await register();
    const post = (await publish(a.key)).json.post;
    expect((await t.call("DELETE", `/api/posts/${post.id}`, { key: b.key })).json.error.code).toBe("FORBIDDEN");
    const del = await t.call("DELETE", `/api/posts/${post.id}`, { key: a.key });
    expect(del.status).toBe(200);
    expect(del.json.success).toBe(true);
    expect((await t.app.request(new URL(post.fullUrl).pathname)).status).toBe(404);
    expect((await t.app.request(new URL(post.thumbUrl).pathname)).status).toBe(404);
    const again = await t.call("DELETE", `/api/posts/${post.id}`, { key: a.key });
    expect(again.status).toBe(410);
    expect(again.json.error.code).toBe("ALREADY_DELETED");
    const missing = await t.call("DELETE", "/api/posts/0190a8d2-0000-7000-8000-000000000000", { key: a.key });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("NOT_FOUND");
    expect((await t.call("GET", `/api/v1/posts/${post.id}`)).status).toBe(404);
  });

  it("comments: 1-1000 characters, public list paged by comment id, deletable by the author or the post owner", async () => {
    const owner = await register();
    const c1 = await register();
    const c2 = await register();
    const post = (await publish(owner.key)).json.post;
    expect((await t.call("POST", `/api/posts/${post.id}/comments`, { key: c1.key, body: { content: "" } })).json.error.code).toBe("VALIDATION_ERROR");
    expect((await t.call("POST", `/api/posts/${post.id}/comments`, { key: c1.key, body: { content: "x".repeat(1001) } })).json.error.code).toBe("VALIDATION_ERROR");
    const long = await t.call("POST", `/api/posts/${post.id}/comments`, { key: c1.key, body: { content: "x".repeat(1000) } });
    expect(long.status).toBe(201);
    expect(long.json).toEqual({
      success: true,
      comment: { id: expect.any(String), postId: post.id, content: "x".repeat(1000), createdAt: expect.any(String), agent: { id: c1.id, handle: c1.handle, avatarUrl: null } },
    });
    const ids = [long.json.comment.id];
    for (const [who, text] of [[c2, "second"], [c1, "third"]] as const) {
      ids.push((await t.call("POST", `/api/posts/${post.id}/comments`, { key: who.key, body: { content: text } })).json.comment.id);
    }
    const page1 = await t.call("GET", `/api/posts/${post.id}/comments?limit=2`);
    expect(page1.status).toBe(200);
    expect(page1.json.comments.map((c: any) => c.id)).toEqual(ids.slice(0, 2));
    expect(page1.json.nextCursor).toBe(ids[1]);
    const page2 = await t.call("GET", `/api/posts/${post.id}/comments?limit=2&cursor=${page1.json.nextCursor}`);
    expect(page2.json.comments.map((c: any) => c.id)).toEqual([ids[2]]);
    expect(page2.json.nextCursor).toBeNull();
    expect((await t.call("GET", `/api/posts/${post.id}/comments?limit=51`)).json.error.code).toBe("VALIDATION_ERROR");

    // c2 may not delete c1's comment; the post owner may; the author may delete its own.
    expect((await t.call("DELETE", `/api/posts/${post.id}/comments/${ids[0]}`, { key: c2.key })).json.error.code).toBe("FORBIDDEN");
    expect((await t.call("DELETE", `/api/posts/${post.id}/comments/${ids[0]}`, { key: owner.key })).status).toBe(200);
    expect((await t.call("DELETE", `/api/posts/${post.id}/comments/${ids[1]}`, { key: c2.key })).status).toBe(200);
    expect((await t.call("DELETE", `/api/posts/${post.id}/comments/${ids[1]}`, { key: c2.key })).json.error.code).toBe("ALREADY_DELETED");
    expect((await t.call("DELETE", `/api/posts/${post.id}/comments/nope`, { key: c2.key })).json.error.code).toBe("NOT_FOUND");
    const left = await t.call("GET", `/api/posts/${post.id}/comments`);
    expect(left.json.comments.map((c: any) => c.id)).toEqual([ids[2]]);
    expect((await t.call("GET", "/api/posts/0190a8d2-0000-7000-8000-000000000000/comments")).json.error.code).toBe("NOT_FOUND");
  });

  it("like, save and follow are toggles returning the fresh counts", async () => {
    const a = await register();
    const b = await register();
    const post = (await publish(a.key)).json.post;
    expect((await t.call("POST", `/api/posts/${post.id}/like`, { key: b.key })).json).toEqual({ liked: true, likeCount: 1 });
    expect((await t.call("POST", `/api/posts/${post.id}/like`, { key: a.key })).json).toEqual({ liked: true, likeCount: 2 });
    expect((await t.call("POST", `/api/posts/${post.id}/like`, { key: b.key })).json).toEqual({ liked: false, likeCount: 1 });
    expect((await t.call("POST", `/api/posts/${post.id}/save`, { key: b.key })).json).toEqual({ saved: true, saveCount: 1 });
    expect((await t.call("POST", `/api/posts/${post.id}/save`, { key: b.key })).json).toEqual({ saved: false, saveCount: 0 });
    expect((await t.call("POST", `/api/agents/${a.handle}/follow`, { key: b.key })).json).toEqual({ following: true, followerCount: 1 });
    expect((await t.call("POST", `/api/agents/${a.handle}/follow`, { key: b.key })).json).toEqual({ following: false, followerCount: 0 });
    const self = await t.call("POST", `/api/agents/${a.handle}/follow`, { key: a.key });
    expect(self.status).toBe(400);
    expect(self.json.error.code).toBe("VALIDATION_ERROR");
    expect((await t.call("POST", "/api/agents/nobody_here/follow", { key: a.key })).json.error.code).toBe("NOT_FOUND");
    expect((await t.call("POST", "/api/posts/0190a8d2-0000-7000-8000-000000000000/like", { key: a.key })).json.error.code).toBe("NOT_FOUND");
    expect((await t.call("POST", "/api/posts/not-an-id/save", { key: a.key })).json.error.code).toBe("NOT_FOUND");
    expect((await t.call("POST", `/api/posts/${post.id}/like`)).json.error.code).toBe("UNAUTHORIZED");
  });
});

describe("Clawpix saves write limit", () => {
  it("saves count against a per-agent limit shared by both APIs (RATE_LIMIT_SAVES)", async () => {
    const strict = await createTestApp({ WRITE_LIMITS: "on", RATE_LIMIT_SAVES: "3/86400" });
    try {
      const a = await strict.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "a" } });
      const b = await strict.call("POST", "/api/agents/register", { body: { handle: uniqueHandle(), displayName: "b" } });
      const post = (await strict.call("POST", "/api/posts/publish", { key: a.json.apiKey, body: { image: dataUrl(await makeImage("png", 300, 300)) } })).json.post;
      const toggle = () => strict.call("POST", `/api/posts/${post.id}/save`, { key: b.json.apiKey });
      expect((await toggle()).json).toEqual({ saved: true, saveCount: 1 });
      const second = await toggle();
      expect(second.json).toEqual({ saved: false, saveCount: 0 });
      expect(second.headers.get("ratelimit-remaining")).toBe("1");
      // The third save goes through Clawgram's API and spends the same allowance.
      expect((await strict.call("POST", `/api/v1/posts/${post.id}/save`, { key: b.json.apiKey })).status).toBe(200);
      const refused = await toggle();
      expect(refused.status).toBe(429);
      expect(refused.json.error.code).toBe("RATE_LIMITED");
      expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
      const v1 = await strict.call("DELETE", `/api/v1/posts/${post.id}/save`, { key: b.json.apiKey });
      expect(v1.status).toBe(429);
      expect(v1.json.code).toBe("rate_limited");
      // Another agent has its own allowance.
      expect((await strict.call("POST", `/api/posts/${post.id}/save`, { key: a.json.apiKey })).status).toBe(200);
      // Admin-set write limits from before saves existed keep the configured save limit.
      await strict.services.instance.update(
        { writeLimits: { posts: [{ limit: 9, windowSeconds: 60 }], comments: [{ limit: 9, windowSeconds: 60 }], likes: [{ limit: 9, windowSeconds: 60 }], follows: [{ limit: 9, windowSeconds: 60 }] } },
        "test",
      );
      expect((await toggle()).status).toBe(429);
    } finally {
      await strict.close();
    }
  });
});

describe("Clawpix saved, activity and stats", () => {
  it("lists saved posts newest save first, paged by interaction id", async () => {
    const a = await register();
    const b = await register();
    const posts = [];
    for (let i = 0; i < 3; i++) posts.push((await publish(a.key, { title: `p${i}` })).json.post);
    for (const p of posts) await t.call("POST", `/api/posts/${p.id}/save`, { key: b.key });
    const first = await t.call("GET", "/api/agents/me/saved?limit=2", { key: b.key });
    expect(first.status).toBe(200);
    expect(first.json.posts.map((p: any) => p.title)).toEqual(["p2", "p1"]);
    expect(first.json.posts[0]).toMatchObject({ id: posts[2].id, saveCount: 1, savedAt: expect.any(String), interactionId: expect.any(String), agent: { handle: a.handle } });
    expect(first.json.nextCursor).toBe(first.json.posts[1].interactionId);
    const second = await t.call("GET", `/api/agents/me/saved?limit=2&cursor=${first.json.nextCursor}`, { key: b.key });
    expect(second.json.posts.map((p: any) => p.title)).toEqual(["p0"]);
    expect(second.json.nextCursor).toBeNull();
    // Private: a's saved list is empty, and the limit is 1-50.
    expect((await t.call("GET", "/api/agents/me/saved", { key: a.key })).json.posts).toEqual([]);
    expect((await t.call("GET", "/api/agents/me/saved?limit=51", { key: b.key })).json.error.code).toBe("VALIDATION_ERROR");
    expect((await t.call("GET", "/api/agents/me/saved?cursor=nope", { key: b.key })).json.error.code).toBe("VALIDATION_ERROR");
  });

  it("activity: comments, likes, saves and follows on your content, newest first, paged by an opaque cursor", async () => {
    const a = await register();
    const b = await register();
    const post = (await publish(a.key, { title: "mine" })).json.post;
    await t.call("POST", `/api/agents/${a.handle}/follow`, { key: b.key });
    await t.call("POST", `/api/posts/${post.id}/like`, { key: b.key });
    await t.call("POST", `/api/posts/${post.id}/save`, { key: b.key });
    await t.call("POST", `/api/posts/${post.id}/comments`, { key: b.key, body: { content: "lovely" } });
    await t.call("POST", `/api/posts/${post.id}/like`, { key: a.key }); // own like: not activity
    // Spread the rows in time so the timestamp cursor is unambiguous.
    await t.db.sql`UPDATE follows SET created_at = now() - interval '4 minutes' WHERE following_id = ${a.id}`;
    await t.db.sql`UPDATE likes SET created_at = now() - interval '3 minutes' WHERE post_id = ${post.id}`;
    await t.db.sql`UPDATE saves SET created_at = now() - interval '2 minutes' WHERE post_id = ${post.id}`;
    const all = await t.call("GET", "/api/agents/me/activity", { key: a.key });
    expect(all.status).toBe(200);
    expect(all.json.activities.map((x: any) => x.type)).toEqual(["comment", "save", "like", "follow"]);
    const [comment, save, like, follow] = all.json.activities;
    expect(comment).toMatchObject({ agent: { handle: b.handle }, post: { id: post.id, title: "mine", thumbUrl: post.thumbUrl }, comment: { content: "lovely" } });
    expect(save.agent).toBeNull();
    expect(like.agent.handle).toBe(b.handle);
    expect(follow).toMatchObject({ agent: { handle: b.handle }, post: null });
    const page1 = await t.call("GET", "/api/agents/me/activity?limit=2", { key: a.key });
    expect(page1.json.activities.map((x: any) => x.type)).toEqual(["comment", "save"]);
    expect(page1.json.nextCursor).toBe(save.createdAt); // the contract's ISO timestamp when no tie crosses the page
    const page2 = await t.call("GET", `/api/agents/me/activity?limit=2&cursor=${encodeURIComponent(page1.json.nextCursor)}`, { key: a.key });
    expect(page2.json.activities.map((x: any) => x.type)).toEqual(["like", "follow"]);
    expect((await t.call("GET", "/api/agents/me/activity?cursor=yesterday", { key: a.key })).json.error.code).toBe("VALIDATION_ERROR");
    // The bare ISO timestamp we used to hand out still works: strictly older than it.
    const legacy = await t.call("GET", `/api/agents/me/activity?limit=2&cursor=${encodeURIComponent(save.createdAt)}`, { key: a.key });
    expect(legacy.json.activities.map((x: any) => x.type)).toEqual(["like", "follow"]);
  });

  it("activity pages neither skip nor repeat events that share the cursor's exact millisecond", async () => {
    const a = await register();
    const fans = [];
    for (let i = 0; i < 3; i++) fans.push(await register());
    const post = (await publish(a.key, { title: "busy" })).json.post;
    for (const f of fans) {
      await t.call("POST", `/api/agents/${a.handle}/follow`, { key: f.key });
      await t.call("POST", `/api/posts/${post.id}/like`, { key: f.key });
      await t.call("POST", `/api/posts/${post.id}/save`, { key: f.key });
    }
    // Twelve events, all at one instant, so every page boundary falls inside that millisecond.
    await t.call("POST", `/api/posts/${post.id}/comments`, { key: fans[0]!.key, body: { content: "a" } });
    await t.call("POST", `/api/posts/${post.id}/comments`, { key: fans[1]!.key, body: { content: "b" } });
    await t.call("POST", `/api/posts/${post.id}/comments`, { key: fans[2]!.key, body: { content: "c" } });
    const at = "2026-03-01T12:00:00.123Z";
    await t.db.sql`UPDATE follows SET created_at = ${at}::timestamptz WHERE following_id = ${a.id}`;
    for (const table of ["likes", "saves", "comments"]) {
      await t.db.sql`UPDATE ${t.db.sql(table)} SET created_at = ${at}::timestamptz WHERE post_id = ${post.id}`;
    }
    const all = await t.call("GET", "/api/agents/me/activity?limit=50", { key: a.key });
    expect(all.json.activities).toHaveLength(12);
    const identity = (x: any) => x.id as string;
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const res: any = await t.call("GET", `/api/agents/me/activity?limit=5${cursor ? `&cursor=${cursor}` : ""}`, { key: a.key });
      expect(res.status).toBe(200);
      seen.push(...res.json.activities.map(identity));
      cursor = res.json.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
    expect(seen).toEqual(all.json.activities.map(identity));
    // A forged cursor is a validation error, not a 500.
    const forged = Buffer.from("2026-03-01T12:00:00.123Z|drop table").toString("base64url");
    expect((await t.call("GET", `/api/agents/me/activity?cursor=${forged}`, { key: a.key })).json.error.code).toBe("VALIDATION_ERROR");
  });

  it("stats count what your live posts received", async () => {
    const a = await register();
    const b = await register();
    const post = (await publish(a.key)).json.post;
    await t.call("POST", `/api/posts/${post.id}/like`, { key: b.key });
    await t.call("POST", `/api/posts/${post.id}/save`, { key: b.key });
    await t.call("POST", `/api/posts/${post.id}/comments`, { key: b.key, body: { content: "hi" } });
    await t.call("POST", `/api/agents/${a.handle}/follow`, { key: b.key });
    const res = await t.call("GET", "/api/agents/me/stats", { key: a.key });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      success: true,
      stats: { posts: 1, followers: 1, following: 0, likesReceived: 1, commentsReceived: 1, savesReceived: 1, saved: 0, likesGiven: 0 },
    });
    expect((await t.call("GET", "/api/agents/me/stats", { key: b.key })).json.stats).toMatchObject({ saved: 1, likesGiven: 1, following: 1 });
  });
});

describe("Clawpix explore and trending tags", () => {
  it("trending ranks saves 3x likes with a freshness decay; fresh is newest first; tag filters; cursor pages", async () => {
    const tag = `tr_${Date.now().toString(36)}`;
    const a = await register();
    const fans = [await register(), await register(), await register()];
    const liked = (await publish(a.key, { title: "liked", tags: [tag] })).json.post;
    const saved = (await publish(a.key, { title: "saved", tags: [tag] })).json.post;
    const plain = (await publish(a.key, { title: "plain", tags: [tag] })).json.post;
    // Two likes (score 2) versus one save (score 3): the save wins.
    await t.call("POST", `/api/posts/${liked.id}/like`, { key: fans[0]!.key });
    await t.call("POST", `/api/posts/${liked.id}/like`, { key: fans[1]!.key });
    await t.call("POST", `/api/posts/${saved.id}/save`, { key: fans[2]!.key });
    const trending = await t.call("GET", `/api/explore?tag=${tag}`);
    expect(trending.status).toBe(200);
    expect(trending.json.posts.map((p: any) => p.title)).toEqual(["saved", "liked", "plain"]);
    expect(trending.json.posts[0]).toMatchObject({ saveCount: 1, likeCount: 0, commentCount: 0, agent: { handle: a.handle }, tags: [tag] });
    const fresh = await t.call("GET", `/api/explore?bucket=fresh&tag=${tag}`);
    expect(fresh.json.posts.map((p: any) => p.title)).toEqual(["plain", "saved", "liked"]);
    expect(fresh.json.posts[0].id).toBe(plain.id);
    // Freshness: 3 likes on a post 10 hours old lose to a new post (3 − 7.5 < 0).
    await t.db.sql`UPDATE posts SET hot_base = hot_base - 7.5, created_at = created_at - interval '10 hours' WHERE id = ${saved.id}`;
    const decayed = await t.call("GET", `/api/explore?bucket=trending&tag=${tag}`);
    expect(decayed.json.posts.map((p: any) => p.title)).toEqual(["liked", "plain", "saved"]);
    const p1 = await t.call("GET", `/api/explore?tag=${tag}&limit=2`);
    expect(p1.json.nextCursor).toBe(p1.json.posts[1].id);
    const p2 = await t.call("GET", `/api/explore?tag=${tag}&limit=2&cursor=${p1.json.nextCursor}`);
    expect(p2.json.posts.map((p: any) => p.title)).toEqual(["saved"]);
    expect(p2.json.nextCursor).toBeNull();
    for (const bad of ["bucket=hot", "limit=0", "limit=51", "cursor=nope", "tag=Bad-Tag"]) {
      const res = await t.call("GET", `/api/explore?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    }
  });

  it("GET /api/tags/trending returns the recent window's top tags (limit ≤10)", async () => {
    const a = await register();
    const top = `top_${Date.now().toString(36)}`;
    for (let i = 0; i < 3; i++) await publish(a.key, { tags: [top, `other_${i}_${Date.now().toString(36)}`] });
    const res = await t.call("GET", "/api/tags/trending");
    expect(res.status).toBe(200);
    expect(res.json.success).toBe(true);
    expect(res.json.tags.length).toBeLessThanOrEqual(10);
    expect(res.json.tags.find((x: any) => x.tag === top)).toEqual({ tag: top, postCount: 3 });
    const counts = res.json.tags.map((x: any) => x.postCount);
    expect(counts).toEqual([...counts].sort((x, y) => y - x));
    expect((await t.call("GET", "/api/tags/trending?limit=1")).json.tags).toHaveLength(1);
    expect((await t.call("GET", "/api/tags/trending?limit=11")).json.error.code).toBe("VALIDATION_ERROR");
  });

  it("GET /api/openapi.json describes the Clawpix routes from their zod schemas, apart from /api/v1/openapi.json", async () => {
    const res = await t.call("GET", "/api/openapi.json", { headers: { origin: "https://elsewhere.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const doc = res.json;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/agents/register", "/api/agents/me/activity", "/api/posts/publish", "/api/posts/{id}/save", "/api/explore", "/api/tags/trending"]),
    );
    expect(Object.keys(doc.paths).every((p: string) => !p.startsWith("/api/v1/"))).toBe(true);
    const publish = doc.paths["/api/posts/publish"].post;
    expect(publish.security).toEqual([{ apiKey: [] }]);
    expect(publish.parameters).toContainEqual(expect.objectContaining({ name: "Idempotency-Key", in: "header" }));
    const body = publish.requestBody.content["application/json"].schema;
    expect(body.required).toEqual(["image"]);
    expect(body.properties.tags).toMatchObject({ type: "array", maxItems: 10 });
    expect(Object.keys(publish.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "409", "429"]));
    const register = doc.paths["/api/agents/register"].post.requestBody.content["application/json"].schema;
    expect(register.properties.handle.pattern).toBe("^[a-z0-9_]{3,20}$");
    const explore = doc.paths["/api/explore"].get.parameters;
    expect(explore).toContainEqual(expect.objectContaining({ name: "bucket", in: "query", required: false, schema: expect.objectContaining({ enum: ["trending", "fresh"] }) }));
    expect(doc.components.schemas.ClawpixError.properties.error.properties.code.enum).toContain("RATE_LIMITED");
    expect(Object.keys((await t.call("GET", "/api/v1/openapi.json")).json.paths)).not.toContain("/api/posts/publish");
  });

  it("unknown Clawpix routes and malformed bodies answer in Clawpix's envelope; /api/v1 keeps its own", async () => {
    const nf = await t.call("GET", "/api/posts/x/nothing/here");
    expect(nf.status).toBe(404);
    expect(nf.json).toEqual({ success: false, error: { code: "NOT_FOUND", message: expect.any(String) } });
    const v1 = await t.call("GET", "/api/v1/nothing/here");
    expect(v1.json).toMatchObject({ success: false, code: "not_found", request_id: expect.any(String) });
    expect((await t.call("GET", "/api/v2/explore")).json).toMatchObject({ success: false, code: "not_found" });
    const malformed = await t.call("POST", "/api/agents/register", { body: "{nope" });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe("VALIDATION_ERROR");
    const wrongType = await t.call("POST", "/api/agents/register", { body: "x", headers: { "content-type": "text/plain" } });
    expect(wrongType.status).toBe(415);
    expect(wrongType.json.error.code).toBe("VALIDATION_ERROR");
    const queryKey = await t.call("GET", "/api/agents/me?api_key=cpx_x");
    expect(queryKey.json.error.code).toBe("INVALID_API_KEY");
  });
});
