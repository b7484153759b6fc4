import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode as decodeBlurhash } from "blurhash";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { uploadImage } from "./helpers/media.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ MEDIA_MAX_PIXELS: "4000000" });
});
afterAll(async () => {
  await t.close();
});

async function fetchBytes(url: string, headers: Record<string, string> = {}) {
  const u = new URL(url);
  const res = await t.app.request(u.pathname + u.search, { headers });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function session(key: string, body: Record<string, unknown>) {
  return t.call("POST", "/api/v1/media/uploads", { key, body });
}

function putPath(uploadUrl: string) {
  const u = new URL(uploadUrl);
  return u.pathname + u.search;
}

describe("upload sessions", () => {
  it("creates a session with a capability URL under PUBLIC_URL", async () => {
    const { key, id } = await t.registerAgent();
    const res = await session(key, { filename: "My Photo (1).PNG", content_type: " Image/PNG ", size_bytes: 1234, checksum: "abc" });
    expect(res.status).toBe(201);
    const d = res.json.data;
    expect(d.upload_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(d.upload_headers).toEqual({ "content-type": "image/png" });
    expect(new Date(d.expires_at).getTime() - Date.now()).toBeGreaterThan(3500_000);
    const url = new URL(d.upload_url);
    expect(url.origin).toBe("http://clawgram.test");
    expect(url.pathname).toBe(`/uploads/${id}/${d.upload_id}/My_Photo_1_.PNG`);
    expect(url.searchParams.get("token")!.length).toBeGreaterThanOrEqual(32);
  });

  it("checks type before size, and both", async () => {
    const { key } = await t.registerAgent();
    let res = await session(key, { filename: "a.gif", content_type: "image/gif", size_bytes: 20 * 1024 * 1024 });
    expect(res.status).toBe(415);
    expect(res.json.code).toBe("unsupported_media_type");
    res = await session(key, { filename: "a.png", content_type: "image/png", size_bytes: 10 * 1024 * 1024 + 1 });
    expect(res.status).toBe(413);
    expect(res.json.code).toBe("payload_too_large");
    expect((await session(key, { filename: "a.png", content_type: "image/png", size_bytes: 0 })).status).toBe(400);
    expect((await session(key, { filename: "", content_type: "image/png", size_bytes: 3 })).status).toBe(400);
    expect((await session(key, { filename: "x".repeat(256), content_type: "image/png", size_bytes: 3 })).status).toBe(400);
    expect((await t.call("POST", "/api/v1/media/uploads", { body: { filename: "a", content_type: "image/png", size_bytes: 1 } })).status).toBe(401);
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM uploads WHERE content_type <> 'image/png' OR size_bytes > 10485760`;
    expect(n).toBe(0);
  });
});

describe("the skill's flow with real processing", () => {
  it("processes a JPEG: orientation applied, metadata stripped, derivatives and blurhash", async () => {
    const { key } = await t.registerAgent();
    const bytes = await makeImage("jpeg", 1600, 1200, { orientation: 6, gps: true });
    expect((await sharp(bytes).metadata()).exif).toBeDefined();
    const r = await uploadImage(t, key, bytes, "image/jpeg", "photo.jpg");
    expect(r.put!.status).toBe(200);
    expect(r.put!.json.data.uploaded).toBe(true);
    expect(r.complete!.status).toBe(201);
    expect(r.complete!.json.data).toEqual({ media_id: r.mediaId, status: "complete" });

    const [m] = await t.db.sql<any[]>`SELECT width, height, format, blurhash, variants FROM media WHERE id = ${r.mediaId!}`;
    // Orientation 6 rotates 1600×1200 into 1200×1600.
    expect([m!.width, m!.height, m!.format]).toEqual([1200, 1600, "jpeg"]);
    expect(decodeBlurhash(m!.blurhash, 8, 8)).toHaveLength(8 * 8 * 4);

    const original = await fetchBytes(`http://clawgram.test/media/${m!.variants.original.key.slice(6)}`);
    expect(original.res.status).toBe(200);
    expect(original.res.headers.get("content-type")).toBe("image/jpeg");
    expect(original.res.headers.get("cache-control")).toContain("immutable");
    expect(original.res.headers.get("x-content-type-options")).toBe("nosniff");
    const meta = await sharp(original.bytes).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect([meta.width, meta.height]).toEqual([1200, 1600]);
    expect(original.bytes.includes(Buffer.from("owner-secret-copyright"))).toBe(false);
    expect(original.bytes.includes(Buffer.from("ClawCam"))).toBe(false);

    const feed = await fetchBytes(`http://clawgram.test/media/${m!.variants.feed.key.slice(6)}`);
    const feedMeta = await sharp(feed.bytes).metadata();
    expect(feed.res.headers.get("content-type")).toBe("image/webp");
    expect([feedMeta.format, feedMeta.width, feedMeta.height]).toEqual(["webp", 810, 1080]);
    expect(feedMeta.exif).toBeUndefined();
    const thumb = await fetchBytes(`http://clawgram.test/media/${m!.variants.thumbnail.key.slice(6)}`);
    const thumbMeta = await sharp(thumb.bytes).metadata();
    expect([thumbMeta.format, thumbMeta.width, thumbMeta.height]).toEqual(["webp", 480, 640]);
  });

  it.each(["png", "webp"] as const)("accepts %s and keeps small images at their size", async (format) => {
    const { key } = await t.registerAgent();
    const r = await uploadImage(t, key, await makeImage(format, 1, 1), `image/${format}`);
    expect(r.complete!.status).toBe(201);
    const [m] = await t.db.sql<any[]>`SELECT width, height, format, variants FROM media WHERE id = ${r.mediaId!}`;
    expect([m!.width, m!.height, m!.format]).toEqual([1, 1, format]);
    expect([m!.variants.thumbnail.width, m!.variants.feed.height]).toEqual([1, 1]);
  });

  it("completion is retry-safe and answers 200 with the same media id", async () => {
    const { key } = await t.registerAgent();
    const r = await uploadImage(t, key, await makeImage("png", 30, 30), "image/png");
    const again = await t.call("POST", `/api/v1/media/uploads/${r.session.json.data.upload_id}/complete`, { key });
    expect(again.status).toBe(200);
    expect(again.json.data).toEqual({ media_id: r.mediaId, status: "complete" });
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM media WHERE agent_id = (SELECT agent_id FROM uploads WHERE id = ${r.session.json.data.upload_id})`;
    expect(n).toBe(1);
  });

  it("concurrent completions agree on one media item", async () => {
    const { key } = await t.registerAgent();
    const bytes = await makeImage("jpeg", 400, 300);
    const s = await session(key, { filename: "c.jpg", content_type: "image/jpeg", size_bytes: bytes.length });
    await t.app.request(putPath(s.json.data.upload_url), { method: "PUT", headers: { "content-type": "image/jpeg" }, body: bytes });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => t.call("POST", `/api/v1/media/uploads/${s.json.data.upload_id}/complete`, { key })),
    );
    const ids = new Set(results.map((r) => r.json.data.media_id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(1);
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM media WHERE id = ANY(${[...ids]}::uuid[])`;
    expect(n).toBe(1);
  });
});

describe("bad bytes", () => {
  async function completeWith(bytes: Buffer, contentType: string) {
    const { key } = await t.registerAgent();
    const r = await uploadImage(t, key, bytes, contentType);
    return { ...r, key };
  }

  it.each([
    ["a PNG declared as JPEG", async () => makeImage("png", 20, 20), "image/jpeg"],
    ["zeros", async () => Buffer.alloc(500), "image/png"],
    ["a truncated JPEG", async () => (await makeImage("jpeg", 300, 300)).subarray(0, 400), "image/jpeg"],
    ["a corrupt PNG header", async () => { const b = await makeImage("png", 50, 50); b.fill(0x41, 12, 40); return b; }, "image/png"],
    ["text with a PNG signature", async () => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from("<script>alert(1)</script>".repeat(10))]), "image/png"],
  ])("refuses %s with 415 and writes no media", async (_label, make, type) => {
    const r = await completeWith(await make(), type);
    expect(r.put!.status).toBe(200);
    expect(r.complete!.status).toBe(415);
    expect(r.complete!.json.code).toBe("unsupported_media_type");
    const [u] = await t.db.sql`SELECT status, media_id FROM uploads WHERE id = ${r.session.json.data.upload_id}`;
    expect(u!.status).toBe("processing");
    expect(u!.media_id).toBeNull();
  });

  it("refuses a decompression bomb with 413 and a clear message", async () => {
    // 3000×3000 = 9 MP against this instance's 4 MP cap; PNG of one colour is tiny on disk.
    const bomb = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: "#000" } }).png().toBuffer();
    const r = await completeWith(bomb, "image/png");
    expect(r.complete!.status).toBe(413);
    expect(r.complete!.json.code).toBe("payload_too_large");
    expect(r.complete!.json.error).toMatch(/3000x3000.*limit is 4\.0 MP/);
  });

  it("refuses animated images", async () => {
    const frame = (color: string) => sharp({ create: { width: 10, height: 10, channels: 4, background: color } }).png().toBuffer();
    const anim = await sharp([await frame("#f00"), await frame("#0f0")], { join: { animated: true } }).webp({ loop: 0 }).toBuffer();
    expect((await sharp(anim).metadata()).pages).toBe(2);
    const r = await completeWith(anim, "image/webp");
    expect(r.complete!.status).toBe(415);
    expect(r.complete!.json.error).toMatch(/Animated/);
  });
});
