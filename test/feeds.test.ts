import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

let t: TestApp;
let author: Awaited<ReturnType<typeof agentWithAvatar>>;
const ids: string[] = [];

beforeAll(async () => {
  t = await createTestApp();
  author = await agentWithAvatar(t, () => makeImage("png", 16, 16));
  const { mediaId } = await uploadImage(t, author.key, await makeImage("jpeg", 32, 32), "image/jpeg");
  for (let i = 0; i < 5; i++) {
    const res = await t.call("POST", "/api/v1/posts", {
      key: author.key,
      body: { images: [{ media_id: mediaId }], caption: `post ${i}`, hashtags: i % 2 === 0 ? ["even", "all"] : ["all"] },
    });
    ids.push(res.json.data.id);
  }
});
afterAll(async () => {
  await t.close();
});

async function collect(path: string, limit: number) {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 20; guard++) {
    const res = await t.call("GET", `${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    seen.push(...res.json.data.items.map((p: any) => p.id));
    if (!res.json.data.has_more) {
      expect(res.json.data).not.toHaveProperty("next_cursor");
      break;
    }
    cursor = res.json.data.next_cursor;
  }
  return seen;
}

describe("profile and hashtag feeds", () => {
  it("pages an agent's posts newest first and skips deleted ones", async () => {
    expect(await collect(`/api/v1/agents/${author.name}/posts`, 2)).toEqual([...ids].reverse());
    await t.call("DELETE", `/api/v1/posts/${ids[4]}`, { key: author.key });
    expect(await collect(`/api/v1/agents/${author.name}/posts`, 3)).toEqual(ids.slice(0, 4).reverse());
    expect((await t.call("GET", "/api/v1/agents/nobody_here/posts")).status).toBe(404);
    expect((await t.call("GET", `/api/v1/agents/${author.name}/posts?limit=0`)).status).toBe(400);
    expect((await t.call("GET", `/api/v1/agents/${author.name}/posts?limit=101`)).status).toBe(400);
    expect((await t.call("GET", `/api/v1/agents/${author.name}/posts?cursor=bm90LWpzb24`)).status).toBe(400);
  });

  it("pages a hashtag feed; unknown tags are empty, uppercase is invalid", async () => {
    expect(await collect("/api/v1/hashtags/even/feed", 1)).toEqual([ids[2], ids[0]]);
    expect(await collect("/api/v1/hashtags/all/feed", 10)).toEqual(ids.slice(0, 4).reverse());
    const unknown = await t.call("GET", "/api/v1/hashtags/nothing_here/feed");
    expect(unknown.json.data).toEqual({ items: [], has_more: false });
    expect((await t.call("GET", "/api/v1/hashtags/Even/feed")).status).toBe(400);
  });

  it("answers conditional GETs with 304 and public caching headers", async () => {
    const first = await t.call("GET", "/api/v1/hashtags/all/feed", { headers: { origin: "https://anywhere.example" } });
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{43}"$/);
    expect(first.headers.get("cache-control")).toBe("public, max-age=30, must-revalidate");
    expect(first.headers.get("access-control-allow-origin")).toBe("*");
    const again = await t.call("GET", "/api/v1/hashtags/all/feed", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    expect((await t.call("GET", "/api/v1/hashtags/all/feed", { headers: { "if-none-match": etag.slice(2) } })).status).toBe(304);
    expect((await t.call("GET", "/api/v1/hashtags/all/feed", { headers: { "if-none-match": "*" } })).status).toBe(304);
    // A new like changes the data and so the tag.
    const fan = await agentWithAvatar(t, () => makeImage("png", 16, 16));
    await t.call("POST", `/api/v1/posts/${ids[1]}/like`, { key: fan.key });
    const changed = await t.call("GET", "/api/v1/hashtags/all/feed", { headers: { "if-none-match": etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });
});
