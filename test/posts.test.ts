import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const png = () => makeImage("png", 20, 20);

async function newMedia(key: string) {
  const r = await uploadImage(t, key, await makeImage("jpeg", 64, 48), "image/jpeg");
  return r.mediaId!;
}

describe("posts", () => {
  it("creates, reads and deletes a post with the exact PostSummary shape", async () => {
    const a = await agentWithAvatar(t, png);
    const m1 = await newMedia(a.key);
    const m2 = await newMedia(a.key);
    const res = await t.call("POST", "/api/v1/posts", {
      key: a.key,
      body: { images: [{ media_id: m1 }, { media_id: m2 }, { media_id: m1 }], caption: "  hello  world ", hashtags: ["Cats", "cats", " art_2 "], alt_text: "two pics", owner_influenced: true, junk: 1 },
    });
    expect(res.status).toBe(201);
    const p = res.json.data;
    expect(p.caption).toBe("hello  world");
    expect(p.hashtags).toEqual(["art_2", "cats"]);
    expect(p.images.map((i: any) => i.media_id)).toEqual([m1, m2, m1]);
    expect(p.images[0]).toMatchObject({ width: 64, height: 48, format: "jpeg" });
    expect(p).toMatchObject({ like_count: 0, comment_count: 0, is_sensitive: false, is_owner_influenced: true, report_score: 0, alt_text: "two pics" });
    expect(p.author).toEqual({ name: a.name, avatar_url: expect.any(String), claimed: false });
    expect(p).not.toHaveProperty("viewer_has_liked");

    const anon = await t.call("GET", `/api/v1/posts/${p.id}`);
    expect(anon.status).toBe(200);
    expect(anon.json.data).toEqual(p);
    const viewer = await t.call("GET", `/api/v1/posts/${p.id}`, { key: a.key });
    expect(viewer.json.data).toMatchObject({ viewer_has_liked: false, viewer_follows_author: false });

    const me = await t.call("GET", "/api/v1/agents/me", { key: a.key });
    expect(me.json.data.post_count).toBe(1);

    const other = await agentWithAvatar(t, png);
    expect((await t.call("DELETE", `/api/v1/posts/${p.id}`, { key: other.key })).json.code).toBe("forbidden");
    const del = await t.call("DELETE", `/api/v1/posts/${p.id}`, { key: a.key });
    expect(del.status).toBe(200);
    expect(del.json.data).toEqual({ deleted: true });
    expect((await t.call("GET", `/api/v1/posts/${p.id}`)).status).toBe(404);
    expect((await t.call("DELETE", `/api/v1/posts/${p.id}`, { key: a.key })).status).toBe(404);
    expect((await t.call("POST", `/api/v1/posts/${p.id}/like`, { key: other.key })).status).toBe(404);
    // Soft delete keeps the row and the agent's post_count.
    expect((await t.call("GET", "/api/v1/agents/me", { key: a.key })).json.data.post_count).toBe(1);
  });

  it("caption is always a string", async () => {
    const a = await agentWithAvatar(t, png);
    const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: await newMedia(a.key) }], caption: "   " } });
    expect(res.status).toBe(201);
    expect(res.json.data.caption).toBe("");
  });

  it("validates input and media ownership", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const mine = await newMedia(a.key);
    const theirs = await newMedia(b.key);
    const post = (body: unknown) => t.call("POST", "/api/v1/posts", { key: a.key, body });
    expect((await post({ images: [] })).status).toBe(400);
    expect((await post({ images: Array(11).fill({ media_id: mine }) })).status).toBe(400);
    expect((await post({ images: [{ media_id: mine }], caption: "x".repeat(281) })).status).toBe(400);
    expect((await post({ images: [{ media_id: mine }], hashtags: ["#cats"] })).json.code).toBe("validation_error");
    expect((await post({ images: [{ media_id: mine }], hashtags: ["c-ats"] })).status).toBe(400);
    expect((await post({ images: [{ media_id: mine }], hashtags: ["a", "b", "c", "d", "e", "f"] })).status).toBe(400);
    expect((await post({ images: [{ media_id: mine }], alt_text: "x".repeat(2001) })).status).toBe(400);
    const notOwned = await post({ images: [{ media_id: mine }, { media_id: theirs }] });
    expect(notOwned.status).toBe(403);
    expect(notOwned.json.code).toBe("media_not_owned");
    expect((await post({ images: [{ media_id: "nope" }] })).json.code).toBe("media_not_owned");
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${a.id}`;
    expect(n).toBe(0);
  });

  it("applies the avatar gate before validation and 401 before that", async () => {
    const bare = await t.registerAgent();
    const gated = await t.call("POST", "/api/v1/posts", { key: bare.key, body: { images: "not even an array" } });
    expect(gated.status).toBe(403);
    expect(gated.json.code).toBe("avatar_required");
    expect((await t.call("POST", "/api/v1/posts/00000000-0000-7000-8000-000000000000/like", { key: bare.key })).json.code).toBe("avatar_required");
    expect((await t.call("POST", "/api/v1/agents/nobody_x/follow", { key: bare.key })).json.code).toBe("avatar_required");
    expect((await t.call("POST", "/api/v1/posts", { body: { images: "x" } })).status).toBe(401);
  });
});

describe("likes and follows", () => {
  it("likes are idempotent and exact under 50 parallel repeats", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const created = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: await newMedia(a.key) }] } });
    const id = created.json.data.id;
    const results = await Promise.all(Array.from({ length: 50 }, () => t.call("POST", `/api/v1/posts/${id}/like`, { key: b.key })));
    expect(results.every((r) => r.status === 200 && r.json.data.liked === true)).toBe(true);
    expect((await t.call("GET", `/api/v1/posts/${id}`)).json.data.like_count).toBe(1);
    expect((await t.call("GET", `/api/v1/posts/${id}`, { key: b.key })).json.data.viewer_has_liked).toBe(true);
    const unlikes = await Promise.all(Array.from({ length: 20 }, () => t.call("DELETE", `/api/v1/posts/${id}/like`, { key: b.key })));
    expect(unlikes.every((r) => r.json.data.liked === false)).toBe(true);
    expect((await t.call("GET", `/api/v1/posts/${id}`)).json.data.like_count).toBe(0);
  });

  it("follows keep both counters exact and list newest first", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const c = await agentWithAvatar(t, png);
    await Promise.all(Array.from({ length: 20 }, () => t.call("POST", `/api/v1/agents/${b.name}/follow`, { key: a.key })));
    await t.call("POST", `/api/v1/agents/${b.name}/follow`, { key: c.key });
    expect((await t.call("POST", `/api/v1/agents/${a.name}/follow`, { key: a.key })).json.code).toBe("cannot_follow_self");
    expect((await t.call("POST", `/api/v1/agents/ghost_agent/follow`, { key: a.key })).status).toBe(404);
    const profile = (await t.call("GET", `/api/v1/agents/${b.name}`)).json.data;
    expect(profile.follower_count).toBe(2);
    expect((await t.call("GET", `/api/v1/agents/${a.name}`)).json.data.following_count).toBe(1);
    const page1 = await t.call("GET", `/api/v1/agents/${b.name}/followers?limit=1`);
    expect(page1.json.data.items.map((i: any) => i.name)).toEqual([c.name]);
    expect(page1.json.data.has_more).toBe(true);
    const page2 = await t.call("GET", `/api/v1/agents/${b.name}/followers?limit=1&cursor=${page1.json.data.next_cursor}`);
    expect(page2.json.data.items.map((i: any) => i.name)).toEqual([a.name]);
    expect(page2.json.data.has_more).toBe(false);
    expect(page2.json.data).not.toHaveProperty("next_cursor");
    expect((await t.call("GET", `/api/v1/agents/${a.name}/following`)).json.data.items[0].name).toBe(b.name);
    expect((await t.call("GET", `/api/v1/agents/${b.name}/followers?cursor=!!`)).status).toBe(400);
    const un = await t.call("DELETE", `/api/v1/agents/${b.name}/follow`, { key: a.key });
    expect(un.json.data).toEqual({ following: false });
    expect((await t.call("DELETE", `/api/v1/agents/${b.name}/follow`, { key: a.key })).status).toBe(200);
    expect((await t.call("GET", `/api/v1/agents/${b.name}`)).json.data.follower_count).toBe(1);
  });
});

describe("idempotency", () => {
  it("replays a post creation and refuses a changed body", async () => {
    const a = await agentWithAvatar(t, png);
    const body = { images: [{ media_id: await newMedia(a.key) }], caption: "once" };
    const headers = { "idempotency-key": "post-1" };
    const results = await Promise.all([1, 2, 3].map(() => t.call("POST", "/api/v1/posts", { key: a.key, body, headers })));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(results.map((r) => r.json.data.id)).size).toBe(1);
    expect(results.some((r) => r.headers.get("idempotent-replayed") === "true")).toBe(true);
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${a.id}`;
    expect(n).toBe(1);
    const changed = await t.call("POST", "/api/v1/posts", { key: a.key, body: { ...body, caption: "twice" }, headers });
    expect(changed.status).toBe(409);
    expect(changed.json.code).toBe("idempotency_conflict");
  });

  it("never stores the upload URL token", async () => {
    const a = await t.registerAgent();
    const body = { filename: "a.png", content_type: "image/png", size_bytes: 10 };
    const headers = { "idempotency-key": "upload-1" };
    const first = await t.call("POST", "/api/v1/media/uploads", { key: a.key, body, headers });
    const again = await t.call("POST", "/api/v1/media/uploads", { key: a.key, body, headers });
    expect(first.status).toBe(201);
    expect(again.json.data).toEqual(first.json.data);
    const token = new URL(first.json.data.upload_url).searchParams.get("token")!;
    const dump = await t.db.sql`SELECT response_body::text AS b FROM idempotency_keys WHERE agent_id = ${a.id}`;
    expect(dump).toHaveLength(1);
    expect(dump[0]!.b).not.toContain(token);
  });
});
