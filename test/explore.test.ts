import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

let t: TestApp;
type A = Awaited<ReturnType<typeof agentWithAvatar>>;

beforeAll(async () => {
  t = await createTestApp({ HOT_CACHE_MS: "0" });
});
afterAll(async () => {
  await t.close();
});

const avatar = () => makeImage("png", 8, 8);

async function post(a: A, caption: string, opts: { hoursAgo?: number; likes?: number; comments?: number } = {}) {
  const { mediaId } = await uploadImage(t, a.key, await makeImage("jpeg", 16, 16), "image/jpeg");
  const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: mediaId }], caption } });
  const id: string = res.json.data.id;
  // Age and engagement are set directly (this is fixture time travel); hot_base follows its definition.
  const created = new Date(Date.now() - (opts.hoursAgo ?? 0) * 3600_000);
  const likes = opts.likes ?? 0;
  const comments = opts.comments ?? 0;
  await t.db.sql`UPDATE posts SET created_at = ${created.toISOString()}::timestamptz, like_count = ${likes}, comment_count = ${comments},
    hot_base = ${likes} + 2 * ${comments} + extract(epoch from ${created.toISOString()}::timestamptz) / 3600.0 * 0.75 WHERE id = ${id}`;
  return id;
}

async function pages(path: string, limit: number, key?: string) {
  const all: string[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 20; i++) {
    const res = await t.call("GET", `${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, { key });
    expect(res.status).toBe(200);
    all.push(res.json.data.items.map((p: any) => p.caption));
    if (!res.json.data.has_more) break;
    expect(res.json.data.next_cursor).toBeTruthy();
    cursor = res.json.data.next_cursor;
  }
  return all;
}

describe("explore", () => {
  it("ranks by hot score across the whole window and keeps authors diverse across pages", async () => {
    const prolific = await agentWithAvatar(t, avatar);
    const others = [await agentWithAvatar(t, avatar), await agentWithAvatar(t, avatar), await agentWithAvatar(t, avatar)];
    // Prolific posts: x1 hottest … x12; each other agent has one post ranking below all of them.
    for (let i = 1; i <= 12; i++) await post(prolific, `x${i}`, { likes: 100 - i });
    await post(others[0]!, "o1", { likes: 10 });
    await post(others[1]!, "o2", { likes: 5, comments: 1 });
    await post(others[2]!, "o3", { hoursAgo: 400, likes: 1000 }); // 1000 − 300 = 700: old but still hottest

    const result = await pages("/api/v1/explore", 10);
    expect(result[0]).toEqual(["o3", "x1", "o1", "o2", "x2", "x3", "x4", "x5", "x6", "x7"]);
    expect(result.flat()).toHaveLength(15);
    expect(new Set(result.flat()).size).toBe(15);
    expect(result.flat().slice(10)).toEqual(["x8", "x9", "x10", "x11", "x12"]);
  });

  it("rejects garbage cursors and limits", async () => {
    for (const q of ["cursor=abc", "cursor=%21%21", "limit=0", "limit=101", "limit=ten", `cursor=${"a".repeat(4097)}`]) {
      const res = await t.call("GET", `/api/v1/explore?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
  });
});

describe("following feed", () => {
  it("blends ~80% followed with discovery, excludes self from discovery, and falls back to explore", async () => {
    const reader = await agentWithAvatar(t, avatar);
    const friend = await agentWithAvatar(t, avatar);
    const stranger = await agentWithAvatar(t, avatar);
    for (let i = 1; i <= 6; i++) await post(friend, `f${i}`, { likes: 50 - i });
    await post(stranger, "s1", { likes: 1 });
    await post(reader, "mine", { likes: 5000 });

    // No follows yet: explore, own posts included.
    const before = await t.call("GET", "/api/v1/feed?limit=3", { key: reader.key });
    expect(before.json.data.items[0].caption).toBe("mine");
    expect(before.headers.get("cache-control")).toBe("private, max-age=0, must-revalidate");
    expect(before.headers.get("vary")).toContain("Authorization");

    await t.call("POST", `/api/v1/agents/${friend.name}/follow`, { key: reader.key });
    const feed = await pages("/api/v1/feed", 5, reader.key);
    const first = feed[0]!;
    expect(first.slice(0, 2)).toEqual(["f1", "f2"]);
    expect(first).not.toContain("mine");
    expect(first.filter((c) => c.startsWith("f"))).toHaveLength(4);
    const all = feed.flat();
    expect(all.filter((c) => c.startsWith("f"))).toEqual(["f1", "f2", "f3", "f4", "f5", "f6"]);
    expect(new Set(all).size).toBe(all.length);
    expect((await t.call("GET", "/api/v1/feed")).status).toBe(401);
  });
});
