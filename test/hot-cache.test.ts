import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

// The hot cache serves whole public responses from memory (src/http/route.ts `hotCache`). `cached` keeps entries for
// a minute, so nothing here depends on timing: only writes (domain events) clear them. `direct` shares the database
// and runs every request through the handlers, as the reference for what a cached response must say.
let cached: TestApp;
let direct: TestApp;
type A = Awaited<ReturnType<typeof agentWithAvatar>>;
let author: A;
let reader: A;
let firstPost: string;

const withoutRequestId = (json: { request_id?: string }) => ({ ...json, request_id: undefined });

async function post(a: A, caption: string, hashtags: string[] = [], via: TestApp = cached) {
  const { mediaId } = await uploadImage(via, a.key, await makeImage("jpeg", 16, 16), "image/jpeg");
  const res = await via.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: mediaId }], caption, hashtags } });
  expect(res.status).toBe(201);
  return res.json.data.id as string;
}

beforeAll(async () => {
  cached = await createTestApp({ HOT_CACHE_MS: "60000" });
  direct = await createTestApp({ HOT_CACHE_MS: "0" }, cached.db);
  author = await agentWithAvatar(cached, () => makeImage("png", 8, 8));
  reader = await agentWithAvatar(cached, () => makeImage("png", 8, 8));
  firstPost = await post(author, "first light", ["dawn"]);
  await post(author, "second light", ["dawn"]);
});
afterAll(async () => {
  await cached.close();
});

const PAGES = () => [
  "/api/v1/explore",
  "/api/v1/explore?limit=1",
  `/api/v1/agents/${author.name}/posts`,
  "/api/v1/hashtags/dawn/feed",
  "/api/v1/leaderboard/daily",
  "/api/v1/explore/summary",
];

describe("hot-cached public pages", () => {
  it("answer what the handlers answer, with each request's own id and the same ETag", async () => {
    for (const path of PAGES()) {
      const a = await cached.call("GET", path);
      const b = await cached.call("GET", path);
      const reference = await direct.call("GET", path);
      expect(a.status, path).toBe(200);
      expect(a.headers.get("content-type"), path).toMatch(/^application\/json/);
      expect(a.json.request_id).not.toBe(b.json.request_id);
      expect(withoutRequestId(b.json), path).toEqual(withoutRequestId(a.json));
      expect(a.headers.get("etag"), path).toBe(b.headers.get("etag"));
      expect(a.headers.get("cache-control"), path).toBe("public, max-age=30, must-revalidate");
      // Explore's cursor carries the time its first page was ranked, and generated_at is when a board was built:
      // the cached response keeps its own. Neither is part of the ETag.
      const comparable = (data: object) => ({ ...data, next_cursor: undefined, generated_at: undefined });
      expect(comparable(reference.json.data), path).toEqual(comparable(a.json.data));
      if (!path.startsWith("/api/v1/leaderboard")) expect(reference.headers.get("etag"), path).toBe(a.headers.get("etag"));
    }
  });

  it("answer 304 to the current tag, weak or strong, from the cache too", async () => {
    const first = await cached.call("GET", "/api/v1/explore");
    const tag = first.headers.get("etag")!;
    expect(tag).toMatch(/^W\/"[A-Za-z0-9_-]{43}"$/);
    for (const inm of [tag, tag.slice(2), `"nope", ${tag}`, "*"]) {
      const res = await cached.call("GET", "/api/v1/explore", { headers: { "if-none-match": inm } });
      expect(res.status, inm).toBe(304);
      expect(res.text).toBe("");
      expect(res.headers.get("etag")).toBe(tag);
    }
    const stale = await cached.call("GET", "/api/v1/explore", { headers: { "if-none-match": 'W/"old"' } });
    expect(stale.status).toBe(200);
  });

  it("are sent gzipped, compressed once, to clients that accept it, each with its own request id", async () => {
    const plain = await cached.call("GET", "/api/v1/explore");
    const get = (encoding?: string) => cached.app.request("/api/v1/explore", { headers: encoding ? { "accept-encoding": encoding } : {} });
    const bodies = [];
    for (const encoding of ["gzip", "br;q=1.0, gzip;q=0.8", "*"]) {
      const res = await get(encoding);
      expect(res.status, encoding).toBe(200);
      expect(res.headers.get("content-encoding"), encoding).toBe("gzip");
      expect(res.headers.get("vary"), encoding).toMatch(/Accept-Encoding/);
      expect(res.headers.get("etag")).toBe(plain.headers.get("etag"));
      const raw = Buffer.from(await res.arrayBuffer());
      const json = JSON.parse(gunzipSync(raw).toString("utf8"));
      expect(withoutRequestId(json)).toEqual(withoutRequestId(plain.json));
      expect(json.request_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(raw.length).toBeLessThan(plain.text.length);
      bodies.push(json.request_id);
    }
    expect(new Set(bodies).size).toBe(3);
    for (const encoding of [undefined, "gzip;q=0", "identity", "br", "*;q=0"]) {
      const res = await get(encoding);
      expect(res.headers.get("content-encoding"), encoding).toBeNull();
      expect(((await res.json()) as { data: { items: unknown[] } }).data.items.length, encoding).toBe(plain.json.data.items.length);
    }
  });

  it("share cursor pages: a reader scrolling from the cached first page gets the pages the handlers would give", async () => {
    const first = await cached.call("GET", "/api/v1/explore?limit=1");
    const next = first.json.data.next_cursor as string;
    expect(next).toBeTruthy();
    const page2 = await cached.call("GET", `/api/v1/explore?limit=1&cursor=${next}`);
    const reference = await direct.call("GET", `/api/v1/explore?limit=1&cursor=${next}`);
    expect(page2.status).toBe(200);
    expect(page2.json.data).toEqual(reference.json.data);
    expect(page2.json.data.items[0].id).not.toBe(first.json.data.items[0].id);
  });

  it("are cleared by writes: likes, new posts and deletions show at once", async () => {
    const before = await cached.call("GET", `/api/v1/agents/${author.name}/posts`);
    const liked = before.json.data.items.find((p: { id: string }) => p.id === firstPost);
    expect(liked.like_count).toBe(0);

    expect((await cached.call("POST", `/api/v1/posts/${firstPost}/like`, { key: reader.key })).status).toBeLessThan(300);
    const afterLike = await cached.call("GET", `/api/v1/agents/${author.name}/posts`);
    expect(afterLike.json.data.items.find((p: { id: string }) => p.id === firstPost).like_count).toBe(1);
    expect(afterLike.headers.get("etag")).not.toBe(before.headers.get("etag"));

    const tagBefore = await cached.call("GET", "/api/v1/hashtags/dawn/feed");
    const third = await post(author, "third light", ["dawn"]);
    const tagAfter = await cached.call("GET", "/api/v1/hashtags/dawn/feed");
    expect(tagAfter.json.data.items.map((p: { id: string }) => p.id)).toEqual([third, ...tagBefore.json.data.items.map((p: { id: string }) => p.id)]);
    const explore = await cached.call("GET", "/api/v1/explore");
    expect(explore.json.data.items.map((p: { id: string }) => p.id)).toContain(third);

    expect((await cached.call("DELETE", `/api/v1/posts/${third}`, { key: author.key })).status).toBeLessThan(300);
    const gone = await cached.call("GET", "/api/v1/hashtags/dawn/feed");
    expect(gone.json.data.items.map((p: { id: string }) => p.id)).not.toContain(third);
  });

  it("are cleared by a like or comment only where they show that post", async () => {
    const dusk = await post(author, "dusk light", ["dusk"]);
    const before = await cached.call("GET", "/api/v1/hashtags/dusk/feed");
    expect(ids(before)).toEqual([dusk]);
    // Written through `direct`: nothing here hears of it, so the page stays as cached until something clears it.
    const unseen = await post(author, "late dusk", ["dusk"], direct);
    expect(ids(await cached.call("GET", "/api/v1/hashtags/dusk/feed"))).toEqual([dusk]);

    // A like on a post of another page changes that page at once and leaves this one in memory.
    const dawnBefore = await cached.call("GET", "/api/v1/hashtags/dawn/feed");
    const count = (res: typeof dawnBefore) => res.json.data.items.find((p: { id: string }) => p.id === firstPost).like_count as number;
    expect((await cached.call("POST", `/api/v1/posts/${firstPost}/like`, { key: author.key })).status).toBeLessThan(300);
    expect(count(await cached.call("GET", "/api/v1/hashtags/dawn/feed"))).toBe(count(dawnBefore) + 1);
    expect(ids(await cached.call("GET", "/api/v1/hashtags/dusk/feed"))).toEqual([dusk]);

    // A comment on a post this page shows reloads it (and so brings in what `direct` wrote).
    const comment = await cached.call("POST", `/api/v1/posts/${dusk}/comments`, { key: reader.key, body: { content: "lovely" } });
    expect(comment.status).toBe(201);
    const after = await cached.call("GET", "/api/v1/hashtags/dusk/feed");
    expect(ids(after)).toEqual([unseen, dusk]);
    expect(after.json.data.items[1].comment_count).toBe(1);
  });

  it("are cleared by a report where they show the reported post (its report score)", async () => {
    const page = `/api/v1/agents/${author.name}/posts`;
    const score = async () => (await cached.call("GET", page)).json.data.items.find((p: { id: string }) => p.id === firstPost).report_score as number;
    const before = await score();
    const res = await cached.call("POST", `/api/v1/posts/${firstPost}/report`, { key: reader.key, body: { reason: "spam" } });
    expect(res.status).toBeLessThan(300);
    expect(await score()).toBeGreaterThan(before);
  });

  it("do not serve errors from memory, nor cache unknown agents' 404", async () => {
    const missing = await cached.call("GET", "/api/v1/agents/nobody_here/posts");
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("not_found");
    const bad = await cached.call("GET", "/api/v1/explore?cursor=garbage!");
    expect(bad.status).toBe(400);
    expect(bad.json.code).toBe("validation_error");
  });
});

// `direct` has its own event bus (no cache sync in tests), so a write made through it is invisible to `cached` until
// something clears it: that is how these tests tell a response served from memory from a fresh one.
const ids = (res: { json: { data: { items: { id: string }[] } } }) => res.json.data.items.map((p) => p.id);

describe("hot-cached search", () => {
  const SEARCH = "/api/v1/search?q=light&type=posts";

  it("serves anonymous searches from memory, with the handler's answer and tag", async () => {
    const a = await cached.call("GET", SEARCH);
    const b = await cached.call("GET", SEARCH);
    const reference = await direct.call("GET", SEARCH);
    expect(a.status).toBe(200);
    expect(ids(a).length).toBeGreaterThan(0);
    expect(withoutRequestId(b.json)).toEqual(withoutRequestId(a.json));
    expect(a.json.data).toEqual(reference.json.data);
    expect(a.headers.get("etag")).toBe(reference.headers.get("etag"));

    const unseen = await post(author, "fourth light", [], direct);
    expect(ids(await direct.call("GET", SEARCH))).toContain(unseen);
    expect(ids(await cached.call("GET", SEARCH))).not.toContain(unseen);
    // A caller with a key gets the same shared page (with its own viewer fields, see below).
    expect(ids(await cached.call("GET", SEARCH, { key: reader.key }))).not.toContain(unseen);
    // A like here on a post the page shows clears it (a like elsewhere would not: see below).
    const shown = ids(a)[0]!;
    expect((await cached.call("POST", `/api/v1/posts/${shown}/like`, { key: reader.key })).status).toBeLessThan(300);
    expect(ids(await cached.call("GET", SEARCH))).toContain(unseen);
  });

  it("still counts cached answers against the per-IP search limit", async () => {
    const limited = await createTestApp({ HOT_CACHE_MS: "60000", TRUST_PROXY: "true", WRITE_LIMITS: "on", RATE_LIMIT_SEARCH: "3/600" }, cached.db);
    const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await limited.call("GET", SEARCH, from("203.0.113.77"))).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await limited.call("GET", SEARCH, from("203.0.113.77"));
    expect(refused.json.code).toBe("rate_limited");
    expect(refused.headers.get("retry-after")).toBeTruthy();
    const other = await limited.call("GET", SEARCH, from("203.0.113.78"));
    expect(other.status).toBe(200);
    expect(other.headers.get("ratelimit-remaining")).toBe("2");
  });
});

describe("hot-cached public pages for callers with a key", () => {
  type Post = { id: string; author: { name: string }; like_count: number; viewer_has_liked?: boolean; viewer_follows_author?: boolean };
  const items = (res: { json: { data: { items?: Post[]; posts?: { items: Post[] } } } }) => res.json.data.items ?? res.json.data.posts!.items;

  it("search: the page everyone gets, with the caller's own fields exactly as the handler gives them", async () => {
    const fan = await agentWithAvatar(cached, () => makeImage("png", 8, 8));
    const liked = await post(author, "keyed light", ["keyed"]);
    const plain = await post(reader, "keyed light too", ["keyed"]);
    expect((await cached.call("POST", `/api/v1/agents/${author.name}/follow`, { key: fan.key })).status).toBeLessThan(300);
    expect((await cached.call("POST", `/api/v1/posts/${liked}/like`, { key: fan.key })).status).toBeLessThan(300);

    for (const path of ["/api/v1/search?q=keyed&type=posts", "/api/v1/search?q=keyed", "/api/v1/search?q=light&type=posts&limit=2"]) {
      const anonymous = await cached.call("GET", path);
      const mine = await cached.call("GET", path, { key: fan.key });
      expect(mine.status, path).toBe(200);
      expect(mine.headers.get("cache-control"), path).toBe("public, max-age=30, must-revalidate");
      // Shared caches must not hand one caller's fields to another.
      expect(mine.headers.get("vary"), path).toMatch(/Authorization/);
      expect(anonymous.headers.get("vary"), path).toMatch(/Authorization/);
      expect(mine.headers.get("etag"), path).not.toBe(anonymous.headers.get("etag"));
      // The shared page, plus two fields per post...
      const strip = (p: Post) => ({ ...p, viewer_has_liked: undefined, viewer_follows_author: undefined });
      expect(items(mine).map(strip), path).toEqual(items(anonymous).map(strip));
      expect({ ...mine.json.data, posts: undefined, items: undefined, next_cursor: undefined }).toEqual({ ...anonymous.json.data, posts: undefined, items: undefined, next_cursor: undefined });
      expect(items(anonymous).every((p) => p.viewer_has_liked === undefined && p.viewer_follows_author === undefined), path).toBe(true);
      // ...which say what the post's own (uncached, hydrated for the caller) endpoint says, in the same key order.
      for (const p of items(mine)) {
        const own = (await cached.call("GET", `/api/v1/posts/${p.id}`, { key: fan.key })).json.data;
        expect([p.viewer_has_liked, p.viewer_follows_author], `${path} ${p.id}`).toEqual([own.viewer_has_liked, own.viewer_follows_author]);
        expect(Object.keys(p), path).toEqual(Object.keys(own));
      }
      // Conditional requests work on the personal page too.
      const again = await cached.call("GET", path, { key: fan.key, headers: { "if-none-match": mine.headers.get("etag")! } });
      expect(again.status, path).toBe(304);
    }
    const found = items(await cached.call("GET", "/api/v1/search?q=keyed&type=posts", { key: fan.key }));
    expect(found.find((p) => p.id === liked)).toMatchObject({ viewer_has_liked: true, viewer_follows_author: true });
    expect(found.find((p) => p.id === plain)).toMatchObject({ viewer_has_liked: false, viewer_follows_author: false });

    // The caller's own like changes its fields at once (and the shared count, since the page shows the post).
    expect((await cached.call("POST", `/api/v1/posts/${plain}/like`, { key: fan.key })).status).toBeLessThan(300);
    const after = items(await cached.call("GET", "/api/v1/search?q=keyed&type=posts", { key: fan.key })).find((p) => p.id === plain);
    expect(after).toMatchObject({ viewer_has_liked: true, like_count: 1 });
    // A bad key is still refused, not served the shared page.
    expect((await cached.call("GET", "/api/v1/search?q=keyed", { key: "claw_test_nope" })).status).toBe(401);
  });

  it("explore, hashtag and profile feeds are the same page for everyone", async () => {
    for (const path of ["/api/v1/explore", "/api/v1/hashtags/dawn/feed", `/api/v1/agents/${author.name}/posts`]) {
      const anonymous = await cached.call("GET", path);
      const keyed = await cached.call("GET", path, { key: reader.key });
      expect(keyed.headers.get("etag"), path).toBe(anonymous.headers.get("etag"));
      expect(withoutRequestId(keyed.json), path).toEqual(withoutRequestId(anonymous.json));
      expect(keyed.headers.get("vary") ?? "", path).not.toMatch(/Authorization/);
    }
  });
});

describe("hot-cached following feed (first page, per caller)", () => {
  it("keeps each caller's own page, private, until a write clears it", async () => {
    expect((await cached.call("POST", `/api/v1/agents/${author.name}/follow`, { key: reader.key })).status).toBeLessThan(300);
    const a = await cached.call("GET", "/api/v1/feed", { key: reader.key });
    const b = await cached.call("GET", "/api/v1/feed", { key: reader.key });
    expect(a.status).toBe(200);
    expect(a.headers.get("cache-control")).toBe("private, max-age=0, must-revalidate");
    expect(a.headers.get("vary")).toMatch(/Authorization/);
    expect(withoutRequestId(b.json)).toEqual(withoutRequestId(a.json));
    expect(a.headers.get("etag")).toBe(b.headers.get("etag"));
    const reference = await direct.call("GET", "/api/v1/feed", { key: reader.key });
    expect({ ...a.json.data, next_cursor: undefined }).toEqual({ ...reference.json.data, next_cursor: undefined });
    expect(a.json.data.items.length).toBeGreaterThan(0);
    expect(a.json.data.items.every((p: { viewer_follows_author: boolean }) => p.viewer_follows_author)).toBe(true);
    expect((await cached.call("GET", "/api/v1/feed", { key: reader.key, headers: { "if-none-match": a.headers.get("etag")! } })).status).toBe(304);

    // Another caller gets its own page, not the reader's (the author does not follow itself).
    const own = await cached.call("GET", "/api/v1/feed", { key: author.key });
    expect(own.status).toBe(200);
    expect(own.json.data.items.some((p: { viewer_follows_author: boolean }) => p.viewer_follows_author)).toBe(false);
    expect(own.headers.get("etag")).not.toBe(a.headers.get("etag"));

    // Unseen by this process's cache until a write here; cursor pages are never cached.
    const unseen = await post(author, "fifth light", [], direct);
    expect(ids(await cached.call("GET", "/api/v1/feed", { key: reader.key }))).not.toContain(unseen);
    expect(ids(await direct.call("GET", "/api/v1/feed", { key: reader.key }))).toContain(unseen);

    // Unfollowing clears it: the feed falls back to explore, where the author's posts no longer carry the follow.
    expect((await cached.call("DELETE", `/api/v1/agents/${author.name}/follow`, { key: reader.key })).status).toBeLessThan(300);
    const after = await cached.call("GET", "/api/v1/feed", { key: reader.key });
    const fresh = await direct.call("GET", "/api/v1/feed", { key: reader.key });
    expect(ids(after)).toContain(unseen);
    expect(ids(after)).toEqual(ids(fresh));
    expect(after.json.data.items.some((p: { viewer_follows_author: boolean }) => p.viewer_follows_author)).toBe(false);
  });
});
