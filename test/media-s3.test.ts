import aws4 from "aws4";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { S3_KEY_ID, S3_SECRET, startS3, type S3Server } from "./helpers/s3.ts";

const BUCKET = "clawgram-media";
const REGION = "us-east-1";

/** Every key in the bucket under a prefix, read with a signed ListObjectsV2 (straight from the bucket, not our code). */
async function listKeys(prefix: string): Promise<string[]> {
  const url = new URL(`${s3.endpoint}/${BUCKET}?list-type=2&prefix=${encodeURIComponent(prefix)}`);
  const signed = aws4.sign(
    { method: "GET", host: url.host, path: url.pathname + url.search, service: "s3", region: REGION, headers: { "x-amz-content-sha256": aws4EmptyHash } },
    { accessKeyId: S3_KEY_ID, secretAccessKey: S3_SECRET },
  );
  const headers = Object.fromEntries(Object.entries(signed.headers ?? {}).filter(([k]) => k.toLowerCase() !== "host").map(([k, v]) => [k, String(v)]));
  const res = await fetch(url, { headers });
  const xml = await res.text();
  expect(res.status, xml).toBe(200);
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!).sort();
}
const aws4EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

let s3: S3Server;
let t: TestApp;
beforeAll(async () => {
  s3 = await startS3({ bucket: BUCKET });
  t = await createTestApp({
    MEDIA_STORAGE: "s3",
    S3_BUCKET: BUCKET,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: REGION,
    S3_ACCESS_KEY_ID: S3_KEY_ID,
    S3_SECRET_ACCESS_KEY: S3_SECRET,
    S3_FORCE_PATH_STYLE: "true",
  });
});
afterAll(async () => {
  await t?.close();
  await s3?.close();
});

async function bytesOf(res: Response) {
  return Buffer.from(await res.arrayBuffer());
}

async function startUpload(key: string, bytes: Buffer, contentType: string, filename: string) {
  const session = await t.call("POST", "/api/v1/media/uploads", {
    key,
    body: { filename, content_type: contentType, size_bytes: bytes.length },
  });
  expect(session.status).toBe(201);
  const url = new URL(session.json.data.upload_url);
  return { id: session.json.data.upload_id as string, target: url.pathname + url.search };
}

async function putBytes(target: string, bytes: Buffer, contentType: string) {
  const res = await t.app.request(target, { method: "PUT", headers: { "content-type": contentType }, body: bytes });
  return { status: res.status, json: (await res.json()) as any };
}

describe("media on S3-compatible storage", () => {
  it("uses the S3 backend", () => {
    expect(t.services.storage.kind).toBe("s3");
  });

  it("runs the skill's flow end to end: session → PUT → complete → avatar → served file", async () => {
    const agent = await t.registerAgent();
    const jpeg = await makeImage("jpeg", 800, 600, { orientation: 6, gps: true });
    expect((await sharp(jpeg).metadata()).exif).toBeDefined();

    const up = await startUpload(agent.key, jpeg, "image/jpeg", "holiday.jpg");
    const put = await putBytes(up.target, jpeg, "image/jpeg");
    expect(put.status).toBe(200);
    expect(put.json.data.uploaded).toBe(true);
    expect(await listKeys(`staging/${agent.id}/`)).toEqual([`staging/${agent.id}/${up.id}`]);

    // The verification read comes from the bucket too.
    const head = await t.app.request(up.target, { headers: { range: "bytes=0-63" } });
    expect(head.status).toBe(206);
    expect(head.headers.get("content-range")).toBe(`bytes 0-63/${jpeg.length}`);
    expect(await bytesOf(head)).toEqual(jpeg.subarray(0, 64));

    const done = await t.call("POST", `/api/v1/media/uploads/${up.id}/complete`, { key: agent.key });
    expect(done.status).toBe(201);
    const mediaId = done.json.data.media_id as string;
    expect(await listKeys(`staging/${agent.id}/`)).toEqual([]);
    const prefix = `media/${agent.id}/${mediaId}/`;
    expect(await listKeys(`media/${agent.id}/`)).toEqual([`${prefix}feed.webp`, `${prefix}original.jpg`, `${prefix}thumbnail.webp`]);

    const avatar = await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: mediaId } });
    expect(avatar.status).toBe(200);
    const avatarUrl = new URL(avatar.json.data.avatar_url);
    expect(avatarUrl.href).toBe(`http://clawgram.test/${prefix}original.jpg`);

    const served = await t.app.request(avatarUrl.pathname, { headers: { origin: "https://viewer.example" } });
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/jpeg");
    expect(served.headers.get("cache-control")).toContain("immutable");
    expect(served.headers.get("access-control-allow-origin")).toBe("*");
    const bytes = await bytesOf(served);
    expect(served.headers.get("content-length")).toBe(String(bytes.length));
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 600, 800]);
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(bytes.includes(Buffer.from("owner-secret-copyright"))).toBe(false);
    expect(bytes.includes(Buffer.from("ClawCam"))).toBe(false);
    const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(data.length).toBe(600 * 800 * 3);

    // Ranges and conditional requests work against the bucket as well.
    const range = await t.app.request(avatarUrl.pathname, { headers: { range: "bytes=0-99" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toBe(`bytes 0-99/${bytes.length}`);
    expect(await bytesOf(range)).toEqual(bytes.subarray(0, 100));
    const suffix = await t.app.request(avatarUrl.pathname, { headers: { range: "bytes=-10" } });
    expect(await bytesOf(suffix)).toEqual(bytes.subarray(bytes.length - 10));
    const notModified = await t.app.request(avatarUrl.pathname, { headers: { "if-none-match": served.headers.get("etag")! } });
    expect(notModified.status).toBe(304);
    const feed = await t.app.request(`/${prefix}feed.webp`);
    expect(feed.headers.get("content-type")).toBe("image/webp");
    const feedMeta = await sharp(await bytesOf(feed)).metadata();
    expect([feedMeta.format, feedMeta.width, feedMeta.height]).toEqual(["webp", 600, 800]);

    expect(s3.rejected).toEqual([]);
  });

  it("a failed completion (bad bytes) writes nothing to the bucket and keeps the staged bytes for a retry", async () => {
    const agent = await t.registerAgent();
    const truncated = (await makeImage("jpeg", 400, 300)).subarray(0, 600);
    for (const [bytes, type] of [[Buffer.alloc(300), "image/png"], [truncated, "image/jpeg"], [await makeImage("png", 20, 20), "image/webp"]] as const) {
      const up = await startUpload(agent.key, bytes, type, "bad.bin");
      expect((await putBytes(up.target, bytes, type)).status).toBe(200);
      const res = await t.call("POST", `/api/v1/media/uploads/${up.id}/complete`, { key: agent.key });
      expect(res.status).toBe(415);
      expect(res.json.code).toBe("unsupported_media_type");
      const [row] = await t.db.sql`SELECT status, media_id, staging_key FROM uploads WHERE id = ${up.id}`;
      expect(row).toMatchObject({ status: "processing", media_id: null, staging_key: `staging/${agent.id}/${up.id}` });
    }
    expect(await listKeys(`media/${agent.id}/`)).toEqual([]);
    expect(await listKeys(`staging/${agent.id}/`)).toHaveLength(3);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${agent.id}`;
    expect(row!.n).toBe(0);
  });

  it("a bucket failure half-way through completion removes what was written; a retry then succeeds", async () => {
    const agent = await t.registerAgent();
    const png = await makeImage("png", 300, 200);
    const up = await startUpload(agent.key, png, "image/png", "flaky.png");
    expect((await putBytes(up.target, png, "image/png")).status).toBe(200);
    s3.failWhen = (method, url) => method === "PUT" && url.endsWith("/thumbnail.webp");
    try {
      const res = await t.call("POST", `/api/v1/media/uploads/${up.id}/complete`, { key: agent.key });
      expect(res.status).toBe(500);
      expect(res.json.code).toBe("internal_error");
      expect(res.text).not.toContain(S3_SECRET);
    } finally {
      s3.failWhen = undefined;
    }
    expect(await listKeys(`media/${agent.id}/`)).toEqual([]);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${agent.id}`;
    expect(row!.n).toBe(0);
    const retry = await t.call("POST", `/api/v1/media/uploads/${up.id}/complete`, { key: agent.key });
    expect(retry.status).toBe(201);
    expect(await listKeys(`media/${agent.id}/`)).toHaveLength(3);
    expect(await listKeys(`staging/${agent.id}/`)).toEqual([]);
  });

  it("a bucket that refuses the staged bytes answers the PUT with 502 internal_error and stages nothing", async () => {
    const agent = await t.registerAgent();
    const png = await makeImage("png", 30, 30);
    const up = await startUpload(agent.key, png, "image/png", "refused.png");
    s3.failWhen = (method, url) => method === "PUT" && url.includes("/staging/");
    let res;
    try {
      res = await putBytes(up.target, png, "image/png");
    } finally {
      s3.failWhen = undefined;
    }
    expect(res.status).toBe(502);
    expect(res.json.code).toBe("internal_error");
    expect(JSON.stringify(res.json)).not.toContain(S3_SECRET);
    const [row] = await t.db.sql`SELECT status, staging_key FROM uploads WHERE id = ${up.id}`;
    expect(row).toMatchObject({ status: "pending", staging_key: null });
    expect(await listKeys(`staging/${agent.id}/`)).toEqual([]);
    // The same URL works once the bucket is back.
    expect((await putBytes(up.target, png, "image/png")).status).toBe(200);
    expect((await t.call("POST", `/api/v1/media/uploads/${up.id}/complete`, { key: agent.key })).status).toBe(201);
  });

  it("housekeeping removes expired staged objects and orphan media from the bucket", async () => {
    const agent = await t.registerAgent();
    const png = await makeImage("png", 40, 40);
    const stale = await startUpload(agent.key, png, "image/png", "stale.png");
    expect((await putBytes(stale.target, png, "image/png")).status).toBe(200);
    const orphan = await startUpload(agent.key, png, "image/png", "orphan.png");
    expect((await putBytes(orphan.target, png, "image/png")).status).toBe(200);
    const done = await t.call("POST", `/api/v1/media/uploads/${orphan.id}/complete`, { key: agent.key });
    expect(done.status).toBe(201);
    await t.db.sql`UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = ${stale.id}`;
    await t.db.sql`UPDATE media SET created_at = now() - interval '30 days' WHERE id = ${done.json.data.media_id}`;
    expect(await listKeys(`staging/${agent.id}/`)).toEqual([`staging/${agent.id}/${stale.id}`]);
    expect(await listKeys(`media/${agent.id}/`)).toHaveLength(3);

    await t.services.media.sweepExpiredUploads();
    await t.services.media.sweepOrphanMedia(24);
    expect(await listKeys(`staging/${agent.id}/`)).toEqual([]);
    expect(await listKeys(`media/${agent.id}/`)).toEqual([]);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM uploads WHERE agent_id = ${agent.id}`;
    expect(row!.n).toBe(0);
    expect(s3.rejected).toEqual([]);
  });
});
