import { existsSync, mkdtempSync } from "node:fs";
import { readdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { serve } from "@hono/node-server";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.ts";
import { createSemaphore } from "../src/domain/media/semaphore.ts";
import { createApp } from "../src/http/app.ts";
import { createServices } from "../src/services.ts";
import { createStorage, type MediaStorage } from "../src/storage/index.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { uploadImage } from "./helpers/media.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

const UNKNOWN_UUID = "01900000-0000-7000-8000-000000000000";

type Agent = Awaited<ReturnType<TestApp["registerAgent"]>>;
type Session = { upload_id: string; upload_url: string; expires_at: string; path: string; token: string; size: number };

async function startSession(agent: Agent, size: number, contentType = "image/png", filename = "pic.png"): Promise<Session> {
  const res = await t.call("POST", "/api/v1/media/uploads", {
    key: agent.key,
    body: { filename, content_type: contentType, size_bytes: size },
  });
  expect(res.status).toBe(201);
  const url = new URL(res.json.data.upload_url);
  return { ...res.json.data, path: url.pathname, token: url.searchParams.get("token")!, size };
}

/** PUT through the whole app, returning status and parsed envelope. */
async function put(target: string, body: RequestInit["body"], headers: Record<string, string> = {}, init: RequestInit = {}) {
  const res = await t.app.request(target, { method: "PUT", headers, body, ...init } as RequestInit);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, headers: res.headers };
}

const putUrl = (s: Session) => `${s.path}?token=${s.token}`;
const complete = (agent: Pick<Agent, "key"> | undefined, uploadId: string) =>
  t.call("POST", `/api/v1/media/uploads/${uploadId}/complete`, agent ? { key: agent.key } : {});

async function uploadRow(id: string) {
  const [row] = await t.db.sql`SELECT status, staging_key, media_id FROM uploads WHERE id = ${id}`;
  return row as { status: string; staging_key: string | null; media_id: string | null } | undefined;
}

const stagingKey = (agent: Agent, uploadId: string) => `staging/${agent.id}/${uploadId}`;
const tmpDir = () => path.join(t.config.dataDir, "tmp");
async function tmpEntries() {
  return existsSync(tmpDir()) ? await readdir(tmpDir()) : [];
}

/** A failed PUT must leave the session untouched: nothing staged, no temp file, still pending. */
async function expectNothingStaged(agent: Agent, s: Session) {
  expect(await uploadRow(s.upload_id)).toMatchObject({ status: "pending", staging_key: null, media_id: null });
  expect(await t.services.storage.stat(stagingKey(agent, s.upload_id))).toBeNull();
  expect(await tmpEntries()).toEqual([]);
}

async function expire(uploadId: string) {
  await t.db.sql`UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = ${uploadId}`;
}

async function bytesOf(res: Response) {
  return Buffer.from(await res.arrayBuffer());
}

async function mediaRow(id: string) {
  const [row] = await t.db.sql`SELECT id, agent_id, variants FROM media WHERE id = ${id}`;
  return row as { id: string; agent_id: string; variants: Record<"original" | "feed" | "thumbnail", { key: string; bytes: number; contentType: string }> } | undefined;
}

const publicPath = (key: string) => `/${key}`; // keys are `media/<agent>/<media>/<file>`, served at /media/…

describe("PUT /uploads/…", () => {
  let agent: Agent;
  let png: Buffer;
  beforeAll(async () => {
    agent = await t.registerAgent();
    png = await makeImage("png", 64, 48);
  });

  it("refuses a Content-Type other than the declared one with 415", async () => {
    const s = await startSession(agent, png.length);
    for (const headers of [{ "content-type": "image/jpeg" }, { "content-type": "application/octet-stream" }, {} as Record<string, string>]) {
      const res = await put(putUrl(s), png, headers);
      expect(res.status).toBe(415);
      expect(res.json.code).toBe("unsupported_media_type");
    }
    await expectNothingStaged(agent, s);
    // Parameters and case don't matter.
    const ok = await put(putUrl(s), png, { "content-type": "Image/PNG; charset=binary" });
    expect(ok.status).toBe(200);
  });

  it("refuses bodies shorter or longer than size_bytes with 413 (declared Content-Length)", async () => {
    const s = await startSession(agent, png.length);
    for (const body of [png.subarray(0, png.length - 1), Buffer.concat([png, Buffer.from([0])])]) {
      const res = await put(putUrl(s), body, { "content-type": "image/png", "content-length": String(body.length) });
      expect(res.status).toBe(413);
      expect(res.json.code).toBe("payload_too_large");
      await expectNothingStaged(agent, s);
    }
  });

  it("refuses bodies shorter or longer than size_bytes with 413 (no Content-Length)", async () => {
    const s = await startSession(agent, png.length);
    for (const body of [png.subarray(0, 10), Buffer.concat([png, Buffer.alloc(4096)])]) {
      const res = await put(putUrl(s), body, { "content-type": "image/png" });
      expect(res.status).toBe(413);
      expect(res.json.code).toBe("payload_too_large");
      await expectNothingStaged(agent, s);
    }
  });

  it("refuses chunked stream bodies of the wrong length, and accepts the exact one", async () => {
    const s = await startSession(agent, png.length);
    const stream = (chunks: Buffer[]) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
          controller.close();
        },
      });
    const half = png.length >> 1;
    for (const chunks of [[png.subarray(0, half)], [png, png.subarray(0, 100)], [png.subarray(0, half), png.subarray(half), Buffer.from("x")]]) {
      const res = await put(putUrl(s), stream(chunks), { "content-type": "image/png" }, { duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      expect(res.json.code).toBe("payload_too_large");
      await expectNothingStaged(agent, s);
    }
    const ok = await put(putUrl(s), stream([png.subarray(0, half), png.subarray(half)]), { "content-type": "image/png" }, { duplex: "half" } as RequestInit);
    expect(ok.status).toBe(200);
    expect(ok.json.data).toEqual({ uploaded: true, url: `http://clawgram.test${s.path}` });
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "processing", staging_key: stagingKey(agent, s.upload_id) });
    expect(await t.services.storage.stat(stagingKey(agent, s.upload_id))).toEqual({ size: png.length });
    expect(await tmpEntries()).toEqual([]);
  });

  it("refuses an empty body with 413", async () => {
    const s = await startSession(agent, png.length);
    for (const [body, headers] of [
      [null, {}],
      ["", {}],
      [Buffer.alloc(0), { "content-length": "0" }],
    ] as const) {
      const res = await put(putUrl(s), body, { "content-type": "image/png", ...headers });
      expect(res.status).toBe(413);
      expect(res.json.code).toBe("payload_too_large");
    }
    await expectNothingStaged(agent, s);
  });

  it("answers 409 validation_error after completion, before looking at the body", async () => {
    const s = await startSession(agent, png.length);
    expect((await put(putUrl(s), png, { "content-type": "image/png" })).status).toBe(200);
    const done = await complete(agent, s.upload_id);
    expect(done.status).toBe(201);
    for (const [body, type] of [[png, "image/png"], [Buffer.from("nope"), "text/plain"]] as const) {
      const res = await put(putUrl(s), body, { "content-type": type });
      expect(res.status).toBe(409);
      expect(res.json.code).toBe("validation_error");
    }
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "complete", staging_key: null, media_id: done.json.data.media_id });
    expect(await t.services.storage.stat(stagingKey(agent, s.upload_id))).toBeNull();
    expect(await tmpEntries()).toEqual([]);
  });

  it("answers 410 upload_expired after expiry", async () => {
    const s = await startSession(agent, png.length);
    await expire(s.upload_id);
    const res = await put(putUrl(s), png, { "content-type": "image/png" });
    expect(res.status).toBe(410);
    expect(res.json.code).toBe("upload_expired");
    await expectNothingStaged(agent, s);
  });

  it("refuses another agent's path, a tampered path and a missing or wrong token with 403", async () => {
    const other = await t.registerAgent();
    const s = await startSession(agent, png.length);
    const mine = s.path.split("/"); // ["", "uploads", agent, upload, filename]
    const targets = [
      `/uploads/${other.id}/${s.upload_id}/${mine[4]}?token=${s.token}`,
      `/uploads/${agent.id}/${s.upload_id}/other.png?token=${s.token}`,
      `/uploads/${agent.id}/${s.upload_id}/PIC.PNG?token=${s.token}`,
      `/uploads/${agent.id.toUpperCase()}/${s.upload_id}/${mine[4]}?token=${s.token}`,
      s.path,
      `${s.path}?token=`,
      `${s.path}?token=${s.token.slice(0, -1)}${s.token.endsWith("A") ? "B" : "A"}`,
      `${s.path}?token=${"x".repeat(32)}`,
    ];
    for (const target of targets) {
      const res = await put(target, png, { "content-type": "image/png" });
      expect(res.status, target).toBe(403);
      expect(res.json.code, target).toBe("forbidden");
    }
    // Another agent's own valid session does not open this one either.
    const theirs = await startSession(other, png.length);
    const res = await put(`${s.path}?token=${theirs.token}`, png, { "content-type": "image/png" });
    expect(res.status).toBe(403);
    await expectNothingStaged(agent, s);
  });

  it("answers 404 for unknown and malformed upload ids, never 500", async () => {
    const s = await startSession(agent, png.length);
    for (const id of [UNKNOWN_UUID, "not-a-uuid", "upl_123", "%20", "00000000-0000-0000-0000-00000000000g", s.upload_id.toUpperCase()]) {
      const res = await put(`/uploads/${agent.id}/${id}/pic.png?token=${s.token}`, png, { "content-type": "image/png" });
      expect(res.status, id).toBe(404);
      expect(res.json.code, id).toBe("not_found");
    }
    // Shorter paths aren't the upload route at all.
    for (const target of [`/uploads/${agent.id}/${s.upload_id}?token=${s.token}`, `/uploads/${s.upload_id}`]) {
      const res = await put(target, png, { "content-type": "image/png" });
      expect(res.status, target).toBe(404);
    }
    await expectNothingStaged(agent, s);
  });

  it("a re-PUT before completion replaces the staged bytes", async () => {
    const s = await startSession(agent, png.length);
    const junk = Buffer.alloc(png.length, 0x41);
    expect((await put(putUrl(s), junk, { "content-type": "image/png" })).status).toBe(200);
    let head = await t.app.request(putUrl(s), { headers: { range: "bytes=0-7" } });
    expect(await bytesOf(head)).toEqual(junk.subarray(0, 8));
    expect((await put(putUrl(s), png, { "content-type": "image/png" })).status).toBe(200);
    head = await t.app.request(putUrl(s), { headers: { range: "bytes=0-7" } });
    expect(await bytesOf(head)).toEqual(png.subarray(0, 8));
    // A failed third PUT keeps the good bytes staged.
    expect((await put(putUrl(s), png.subarray(1), { "content-type": "image/png" })).status).toBe(413);
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "processing" });
    expect(await tmpEntries()).toEqual([]);
    const done = await complete(agent, s.upload_id);
    expect(done.status).toBe(201);
  });
});

describe("POST /api/v1/media/uploads/:id/complete", () => {
  let agent: Agent;
  let png: Buffer;
  beforeAll(async () => {
    agent = await t.registerAgent();
    png = await makeImage("png", 40, 30);
  });

  it("answers 404 not_found for unknown and malformed ids", async () => {
    for (const id of [UNKNOWN_UUID, "nope", "upl_0190", "1"]) {
      const res = await complete(agent, id);
      expect(res.status, id).toBe(404);
      expect(res.json.code, id).toBe("not_found");
    }
  });

  it("answers 401 without a key, before anything else", async () => {
    const s = await startSession(agent, png.length);
    for (const id of [s.upload_id, UNKNOWN_UUID]) {
      const res = await complete(undefined, id);
      expect(res.status).toBe(401);
      expect(res.json.code).toBe("invalid_api_key");
    }
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "pending" });
  });

  it("answers 403 media_not_owned for another agent's upload, and leaves it alone", async () => {
    const other = await t.registerAgent();
    const s = await startSession(agent, png.length);
    expect((await put(putUrl(s), png, { "content-type": "image/png" })).status).toBe(200);
    const res = await complete(other, s.upload_id);
    expect(res.status).toBe(403);
    expect(res.json.code).toBe("media_not_owned");
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "processing", media_id: null });
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${other.id}`;
    expect(row!.n).toBe(0);
    // The owner can still complete it; the other agent then still gets 403, not the media id.
    expect((await complete(agent, s.upload_id)).status).toBe(201);
    const again = await complete(other, s.upload_id);
    expect(again.status).toBe(403);
    expect(again.json.code).toBe("media_not_owned");
  });

  it("answers 415 before any PUT", async () => {
    const s = await startSession(agent, png.length);
    const res = await complete(agent, s.upload_id);
    expect(res.status).toBe(415);
    expect(res.json.code).toBe("unsupported_media_type");
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "pending", media_id: null });
  });

  it("answers 410 once expired, but a completed upload still answers 200 with its media id", async () => {
    const pending = await startSession(agent, png.length);
    expect((await put(putUrl(pending), png, { "content-type": "image/png" })).status).toBe(200);
    await expire(pending.upload_id);
    const res = await complete(agent, pending.upload_id);
    expect(res.status).toBe(410);
    expect(res.json.code).toBe("upload_expired");
    expect(await uploadRow(pending.upload_id)).toMatchObject({ status: "processing", media_id: null });

    const done = await uploadImage(t, agent.key, png, "image/png");
    expect(done.complete!.status).toBe(201);
    await expire(done.session.json.data.upload_id);
    const count = async () => (await t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${agent.id}`)[0]!.n as number;
    const before = await count();
    const again = await complete(agent, done.session.json.data.upload_id);
    expect(again.status).toBe(200);
    expect(again.json.data).toEqual({ media_id: done.mediaId, status: "complete" });
    expect(await count()).toBe(before);
  });
});

describe("GET /uploads/… verification read", () => {
  let agent: Agent;
  let png: Buffer;
  let s: Session;
  beforeAll(async () => {
    agent = await t.registerAgent();
    png = await makeImage("png", 64, 48);
    s = await startSession(agent, png.length);
    expect((await put(putUrl(s), png, { "content-type": "image/png" })).status).toBe(200);
  });

  it("serves the first 64 bytes for Range: bytes=0-63", async () => {
    const res = await t.app.request(putUrl(s), { headers: { range: "bytes=0-63" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 0-63/${png.length}`);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(await bytesOf(res)).toEqual(png.subarray(0, 64));
    const short = await t.app.request(putUrl(s), { headers: { range: "bytes=0-7" } });
    expect(short.status).toBe(206);
    expect(short.headers.get("content-range")).toBe(`bytes 0-7/${png.length}`);
    expect(await bytesOf(short)).toEqual(png.subarray(0, 8));
  });

  it("answers 416 without a narrow leading range", async () => {
    for (const range of [undefined, "bytes=0-64", "bytes=5-10", "bytes=0-", "bytes=-10", "bytes=0-10,20-30", "items=0-10"]) {
      const res = await t.app.request(putUrl(s), { headers: range ? { range } : {} });
      expect(res.status, range).toBe(416);
      expect((await bytesOf(res)).length, range).toBe(0);
    }
  });

  it("answers 404 for a wrong token, unknown ids and mismatched paths", async () => {
    const name = s.path.split("/")[4];
    for (const target of [
      s.path,
      `${s.path}?token=wrong`,
      `/uploads/${agent.id}/${UNKNOWN_UUID}/${name}?token=${s.token}`,
      `/uploads/${agent.id}/not-a-uuid/${name}?token=${s.token}`,
      `/uploads/${agent.id}/${s.upload_id}/other.png?token=${s.token}`,
    ]) {
      const res = await t.app.request(target, { headers: { range: "bytes=0-63" } });
      expect(res.status, target).toBe(404);
      expect((await bytesOf(res)).length, target).toBe(0);
    }
    // Nothing staged yet → 404 as well.
    const fresh = await startSession(agent, png.length);
    expect((await t.app.request(putUrl(fresh), { headers: { range: "bytes=0-63" } })).status).toBe(404);
  });

  it("answers 410 once expired", async () => {
    const e = await startSession(agent, png.length);
    expect((await put(putUrl(e), png, { "content-type": "image/png" })).status).toBe(200);
    await expire(e.upload_id);
    const res = await t.app.request(putUrl(e), { headers: { range: "bytes=0-63" } });
    expect(res.status).toBe(410);
    expect((await bytesOf(res)).length).toBe(0);
  });
});

describe("/media/* serving", () => {
  let agent: Agent;
  let m: NonNullable<Awaited<ReturnType<typeof mediaRow>>>;
  let original: Buffer;
  beforeAll(async () => {
    agent = await t.registerAgent();
    // Declared with odd spacing and case; what we serve is decided by our own rendition.
    const png = await makeImage("png", 120, 90);
    const session = await t.call("POST", "/api/v1/media/uploads", {
      key: agent.key,
      body: { filename: "évil name.svg", content_type: " IMAGE/PNG ", size_bytes: png.length },
    });
    const url = new URL(session.json.data.upload_url);
    expect((await put(url.pathname + url.search, png, { "content-type": "Image/Png" })).status).toBe(200);
    const done = await complete(agent, session.json.data.upload_id);
    expect(done.status).toBe(201);
    m = (await mediaRow(done.json.data.media_id))!;
    const res = await t.app.request(publicPath(m.variants.original.key));
    original = await bytesOf(res);
  });

  it("serves each rendition with our content type, immutable caching and a strong ETag", async () => {
    for (const [name, type] of [["original", "image/png"], ["feed", "image/webp"], ["thumbnail", "image/webp"]] as const) {
      const res = await t.app.request(publicPath(m.variants[name].key));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("cache-control")).toContain("immutable");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("accept-ranges")).toBe("bytes");
      expect(res.headers.get("etag")).toMatch(/^"[^"]+"$/);
      const body = await bytesOf(res);
      expect(body.length).toBe(m.variants[name].bytes);
      expect(res.headers.get("content-length")).toBe(String(body.length));
      expect((await sharp(body).metadata()).format).toBe(name === "original" ? "png" : "webp");
    }
    expect(original.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  it("answers If-None-Match with 304", async () => {
    const first = await t.app.request(publicPath(m.variants.original.key));
    const etag = first.headers.get("etag")!;
    await first.arrayBuffer();
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, "*"]) {
      const res = await t.app.request(publicPath(m.variants.original.key), { headers: { "if-none-match": inm } });
      expect(res.status, inm).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect((await bytesOf(res)).length).toBe(0);
    }
    const stale = await t.app.request(publicPath(m.variants.original.key), { headers: { "if-none-match": '"stale"' } });
    expect(stale.status).toBe(200);
    expect((await bytesOf(stale)).length).toBe(original.length);
    // The feed rendition has its own tag.
    const feed = await t.app.request(publicPath(m.variants.feed.key), { headers: { "if-none-match": etag } });
    expect(feed.status).toBe(200);
    expect(feed.headers.get("etag")).not.toBe(etag);
    await feed.arrayBuffer();
  });

  it("serves byte ranges", async () => {
    const size = original.length;
    expect(size).toBeGreaterThan(200);
    let res = await t.app.request(publicPath(m.variants.original.key), { headers: { range: "bytes=0-99" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 0-99/${size}`);
    expect(res.headers.get("content-length")).toBe("100");
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(await bytesOf(res)).toEqual(original.subarray(0, 100));

    res = await t.app.request(publicPath(m.variants.original.key), { headers: { range: "bytes=-10" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    expect(await bytesOf(res)).toEqual(original.subarray(size - 10));

    res = await t.app.request(publicPath(m.variants.original.key), { headers: { range: `bytes=100-` } });
    expect(res.status).toBe(206);
    expect(await bytesOf(res)).toEqual(original.subarray(100));

    // A range running past the end is cut to the file.
    res = await t.app.request(publicPath(m.variants.original.key), { headers: { range: `bytes=${size - 5}-${size + 1000}` } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes ${size - 5}-${size - 1}/${size}`);
    expect(await bytesOf(res)).toEqual(original.subarray(size - 5));

    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, "bytes=-0"]) {
      res = await t.app.request(publicPath(m.variants.original.key), { headers: { range } });
      expect(res.status, range).toBe(416);
      expect(res.headers.get("content-range"), range).toBe(`bytes */${size}`);
      expect((await bytesOf(res)).length).toBe(0);
    }
  });

  it("ignores Range headers in units or shapes it does not serve", async () => {
    for (const range of ["items=0-10", "bytes=0-1,5-9"]) {
      const res = await t.app.request(publicPath(m.variants.original.key), { headers: { range } });
      expect(res.status, range).toBe(200);
      expect(res.headers.get("content-range")).toBeNull();
      expect(await bytesOf(res)).toEqual(original);
    }
  });

  it("answers HEAD with the headers and no body", async () => {
    let res = await t.app.request(publicPath(m.variants.original.key), { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("content-length")).toBe(String(original.length));
    expect(res.headers.get("etag")).toMatch(/^"/);
    expect((await bytesOf(res)).length).toBe(0);
    res = await t.app.request(publicPath(m.variants.original.key), { method: "HEAD", headers: { range: "bytes=0-9" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 0-9/${original.length}`);
    expect((await bytesOf(res)).length).toBe(0);
    res = await t.app.request(`/media/${agent.id}/${UNKNOWN_UUID}/original.png`, { method: "HEAD" });
    expect(res.status).toBe(404);
  });

  it("answers 404 for anything that is not one of our renditions", async () => {
    const other = await t.registerAgent();
    const [, agentId, mediaId] = m.variants.original.key.split("/") as [string, string, string];
    const sessions = await t.db.sql`SELECT id, storage_key FROM uploads WHERE agent_id = ${agent.id}`;
    const targets = [
      `/media/${other.id}/${mediaId}/original.png`,
      `/media/${agentId}/${UNKNOWN_UUID}/original.png`,
      `/media/${agentId}/${mediaId}/original.webp`,
      `/media/${agentId}/${mediaId}/original.jpg`,
      `/media/${agentId}/${mediaId}/feed.png`,
      `/media/${agentId}/${mediaId}/avatar.png`,
      `/media/${agentId}/${mediaId}/original.png.bak`,
      `/media/${agentId}/${mediaId}/original.png%00.txt`,
      `/media/${agentId}/${mediaId}`,
      `/media/${agentId}/${mediaId}/`,
      `/media/${agentId.toUpperCase()}/${mediaId.toUpperCase()}/original.png`,
      `/media/${agentId}/${mediaId}/../../../../etc/passwd`,
      `/media/..%2f..%2f..%2fetc%2fpasswd`,
      `/media/${agentId}%2f${mediaId}%2foriginal.png`,
      `/media/%2e%2e/%2e%2e/etc/passwd`,
      `/media/${agentId}/${mediaId}/%2e%2e/%2e%2e/%2e%2e/staging/${agentId}/${sessions[0]!.id}`,
      `/media/..%2fstaging%2f${agentId}%2f${sessions[0]!.id}`,
      `/media/..%2f..%2ftmp`,
      `/media/%252e%252e/%252e%252e/etc/passwd`,
      `/media/media/${agentId}/${mediaId}/original.png`,
      "/media/",
      "/media",
    ];
    for (const target of targets) {
      const res = await t.app.request(target);
      expect(res.status, target).toBe(404);
      expect(res.headers.get("content-type") ?? "", target).not.toMatch(/^image\//);
    }
  });

  it("answers any Origin with CORS *", async () => {
    const res = await t.app.request(publicPath(m.variants.thumbnail.key), { headers: { origin: "https://elsewhere.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    await res.arrayBuffer();
    const pre = await t.app.request(publicPath(m.variants.thumbnail.key), {
      method: "OPTIONS",
      headers: { origin: "https://elsewhere.example", "access-control-request-method": "GET" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("avatars", () => {
  let agent: Agent;
  let other: Agent;
  let png: Buffer;
  beforeAll(async () => {
    [agent, other] = [await t.registerAgent(), await t.registerAgent()];
    png = await makeImage("png", 48, 48);
  });

  async function avatarMediaId(id: string) {
    const [row] = await t.db.sql`SELECT avatar_media_id, avatar_url FROM agents WHERE id = ${id}`;
    return row as { avatar_media_id: string | null; avatar_url: string | null };
  }

  it("sets an avatar from the agent's own completed media; its URL serves the original", async () => {
    const { mediaId } = await uploadImage(t, agent.key, png, "image/png", "me.png");
    const res = await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: mediaId } });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ id: agent.id, name: agent.name });
    const m = (await mediaRow(mediaId!))!;
    expect(res.json.data.avatar_url).toBe(`http://clawgram.test/${m.variants.original.key}`);
    const served = await t.app.request(new URL(res.json.data.avatar_url).pathname);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    const meta = await sharp(await bytesOf(served)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 48, 48]);
    expect((await t.call("GET", "/api/v1/agents/me", { key: agent.key })).json.data.avatar_url).toBe(res.json.data.avatar_url);
    expect((await t.call("GET", `/api/v1/agents/${agent.name}`)).json.data.avatar_url).toBe(res.json.data.avatar_url);
    expect(await avatarMediaId(agent.id)).toEqual({ avatar_media_id: mediaId, avatar_url: res.json.data.avatar_url });
  });

  it("refuses media that isn't the caller's completed media with 403 media_not_owned", async () => {
    const before = await avatarMediaId(agent.id);
    const theirs = await uploadImage(t, other.key, png, "image/png");
    const incomplete = await startSession(agent, png.length);
    expect((await put(putUrl(incomplete), png, { "content-type": "image/png" })).status).toBe(200);
    const mine = await uploadImage(t, agent.key, png, "image/png");
    for (const mediaId of [theirs.mediaId!, UNKNOWN_UUID, "not-a-uuid", incomplete.upload_id, mine.session.json.data.upload_id]) {
      const res = await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: mediaId } });
      expect(res.status, mediaId).toBe(403);
      expect(res.json.code, mediaId).toBe("media_not_owned");
    }
    expect(await avatarMediaId(agent.id)).toEqual(before);
  });

  it("refuses a bad body with 400 and no key with 401", async () => {
    const before = await avatarMediaId(agent.id);
    for (const body of [{}, { media_id: "" }, { media_id: 5 }, { media_id: null }, "[]", "{"]) {
      const res = await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    const res = await t.call("POST", "/api/v1/agents/me/avatar", { body: { media_id: UNKNOWN_UUID } });
    expect(res.status).toBe(401);
    expect((await t.call("DELETE", "/api/v1/agents/me/avatar")).status).toBe(401);
    expect(await avatarMediaId(agent.id)).toEqual(before);
  });

  it("DELETE clears the avatar and is idempotent", async () => {
    expect((await avatarMediaId(agent.id)).avatar_media_id).not.toBeNull();
    for (let i = 0; i < 2; i++) {
      const res = await t.call("DELETE", "/api/v1/agents/me/avatar", { key: agent.key });
      expect(res.status).toBe(200);
      expect(res.json.data.id).toBe(agent.id);
      expect("avatar_url" in res.json.data).toBe(false);
    }
    expect(await avatarMediaId(agent.id)).toEqual({ avatar_media_id: null, avatar_url: null });
    expect("avatar_url" in (await t.call("GET", "/api/v1/agents/me", { key: agent.key })).json.data).toBe(false);
  });
});

describe("housekeeping", () => {
  it("sweepExpiredUploads removes expired, never-completed uploads and their staged bytes only", async () => {
    const agent = await t.registerAgent();
    const png = await makeImage("png", 20, 20);
    const staged = await startSession(agent, png.length);
    expect((await put(putUrl(staged), png, { "content-type": "image/png" })).status).toBe(200);
    const empty = await startSession(agent, png.length);
    const fresh = await startSession(agent, png.length);
    expect((await put(putUrl(fresh), png, { "content-type": "image/png" })).status).toBe(200);
    const done = await uploadImage(t, agent.key, png, "image/png");
    const doneId = done.session.json.data.upload_id as string;
    for (const id of [staged.upload_id, empty.upload_id, doneId]) await expire(id);
    expect(await t.services.storage.stat(stagingKey(agent, staged.upload_id))).not.toBeNull();

    const removed = await t.services.media.sweepExpiredUploads();
    expect(removed).toBeGreaterThanOrEqual(2);
    expect(await uploadRow(staged.upload_id)).toBeUndefined();
    expect(await uploadRow(empty.upload_id)).toBeUndefined();
    expect(await t.services.storage.stat(stagingKey(agent, staged.upload_id))).toBeNull();
    expect(await uploadRow(fresh.upload_id)).toMatchObject({ status: "processing" });
    expect(await t.services.storage.stat(stagingKey(agent, fresh.upload_id))).toEqual({ size: png.length });
    expect(await uploadRow(doneId)).toMatchObject({ status: "complete", media_id: done.mediaId });
    // Completion after expiry still answers with the same media; the sweep did not break it.
    expect((await complete(agent, doneId)).json.data.media_id).toBe(done.mediaId);
    // Nothing left to do on a second run for these.
    await t.services.media.sweepExpiredUploads();
    expect(await uploadRow(fresh.upload_id)).toBeDefined();
    // The swept session's URL is dead.
    expect((await put(putUrl(staged), png, { "content-type": "image/png" })).status).toBe(404);
  });

  it("sweepOrphanMedia removes old unused media with its files, keeping avatars and fresh media", async () => {
    const agent = await t.registerAgent();
    const png = await makeImage("png", 24, 24);
    const oldUnused = await uploadImage(t, agent.key, png, "image/png");
    const oldAvatar = await uploadImage(t, agent.key, png, "image/png");
    const freshUnused = await uploadImage(t, agent.key, png, "image/png");
    expect((await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: oldAvatar.mediaId } })).status).toBe(200);
    await t.db.sql`UPDATE media SET created_at = now() - interval '10 days' WHERE id IN ${t.db.sql([oldUnused.mediaId!, oldAvatar.mediaId!])}`;
    const rows = Object.fromEntries(
      await Promise.all([oldUnused, oldAvatar, freshUnused].map(async (u) => [u.mediaId!, (await mediaRow(u.mediaId!))!] as const)),
    );
    const keys = (id: string) => Object.values(rows[id]!.variants).map((v) => v.key);
    expect(keys(oldUnused.mediaId!)).toHaveLength(3);
    for (const key of keys(oldUnused.mediaId!)) expect(await t.services.storage.stat(key)).not.toBeNull();

    const removed = await t.services.media.sweepOrphanMedia(24);
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await mediaRow(oldUnused.mediaId!)).toBeUndefined();
    for (const key of keys(oldUnused.mediaId!)) expect(await t.services.storage.stat(key), key).toBeNull();
    expect(await uploadRow(oldUnused.session.json.data.upload_id)).toBeUndefined();
    expect((await t.app.request(publicPath(keys(oldUnused.mediaId!)[0]!))).status).toBe(404);

    for (const kept of [oldAvatar, freshUnused]) {
      expect(await mediaRow(kept.mediaId!)).toBeDefined();
      for (const key of keys(kept.mediaId!)) expect(await t.services.storage.stat(key), key).not.toBeNull();
      expect(await uploadRow(kept.session.json.data.upload_id)).toMatchObject({ status: "complete", media_id: kept.mediaId });
    }
    const avatar = await t.call("GET", "/api/v1/agents/me", { key: agent.key });
    expect((await t.app.request(new URL(avatar.json.data.avatar_url).pathname)).status).toBe(200);
    // The removed media can no longer become an avatar.
    const res = await t.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: oldUnused.mediaId } });
    expect(res.status).toBe(403);

    // Once the avatar is cleared, the old media is an orphan too.
    expect((await t.call("DELETE", "/api/v1/agents/me/avatar", { key: agent.key })).status).toBe(200);
    await t.services.media.sweepOrphanMedia(24);
    expect(await mediaRow(oldAvatar.mediaId!)).toBeUndefined();
    for (const key of keys(oldAvatar.mediaId!)) expect(await t.services.storage.stat(key), key).toBeNull();
    expect(await mediaRow(freshUnused.mediaId!)).toBeDefined();
  });
});

describe("processing concurrency", () => {
  const tick = () => new Promise((r) => setTimeout(r, 1));

  it("never runs more than the limit at once, in FIFO order", async () => {
    const run = createSemaphore(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        run(async () => {
          started.push(i);
          active++;
          peak = Math.max(peak, active);
          await tick();
          await tick();
          active--;
          return i * 10;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it("releases its slot when a task rejects or throws", async () => {
    const run = createSemaphore(2);
    let active = 0;
    let peak = 0;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        run(async () => {
          active++;
          peak = Math.max(peak, active);
          await tick();
          active--;
          if (i % 2 === 0) throw new Error(`task ${i}`);
          return i;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason.message)).toEqual(
      [0, 2, 4, 6, 8].map((i) => `task ${i}`),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled").map((o) => (o as PromiseFulfilledResult<number>).value)).toEqual([1, 3, 5, 7, 9]);
    // A synchronous throw inside the task frees the slot too; afterwards the full limit is available again.
    await expect(run(() => { throw new Error("sync"); })).rejects.toThrow("sync");
    let concurrent = 0;
    let most = 0;
    await Promise.all(
      [0, 1].map(() =>
        run(async () => {
          concurrent++;
          most = Math.max(most, concurrent);
          await tick();
          concurrent--;
        }),
      ),
    );
    expect(most).toBe(2);
  });

  it("hands a freed slot to the next in line, so a newcomer can't slip in and exceed the limit", async () => {
    const run = createSemaphore(1);
    let active = 0;
    let peak = 0;
    const order: string[] = [];
    const task = (name: string) => async () => {
      order.push(name);
      active++;
      peak = Math.max(peak, active);
      await tick();
      active--;
    };
    let release!: () => void;
    const inner = new Promise<void>((resolve) => (release = resolve));
    // The task's own promise is what the semaphore awaits, so a later reaction to it runs right after the release.
    const first = run(() => inner);
    await tick();
    const second = run(task("second"));
    // This newcomer arrives in the same microtask burst that frees the first slot.
    let third: Promise<void> | undefined;
    void inner.then(() => void (third = run(task("third"))));
    release();
    await first;
    await second;
    await third;
    expect(peak).toBe(1);
    expect(order).toEqual(["second", "third"]);
  });

  it("a waiting task starts as soon as a slot frees, not when all finish", async () => {
    const run = createSemaphore(1);
    const order: string[] = [];
    let release!: () => void;
    const first = run(() => new Promise<void>((r) => (release = r)).then(() => void order.push("first done")));
    const second = run(async () => void order.push("second started"));
    await tick();
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first done", "second started"]);
  });
});

describe("over a real HTTP connection", () => {
  it("answers refused large PUTs with their JSON error and streams an exact chunked body to disk", async () => {
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const agent = await t.registerAgent();
      // A refused body must be left unread, so the server can drain it and the client reads the answer (a body opened
      // and then abandoned made @hono/node-server drop the kept-alive connection: "other side closed").
      const size = 4 * 1024 * 1024;
      const s = await startSession(agent, size);
      const body = Buffer.alloc(size, 7);
      for (const [target, type, bytes, status, code] of [
        [`${s.path}?token=wrong`, "image/png", body, 403, "forbidden"],
        [putUrl(s), "image/jpeg", body, 415, "unsupported_media_type"],
        [putUrl(s), "image/png", Buffer.concat([body, Buffer.alloc(1)]), 413, "payload_too_large"],
        [putUrl(s), "image/png", body.subarray(1), 413, "payload_too_large"],
      ] as const) {
        const res = await fetch(base + target, { method: "PUT", headers: { "content-type": type }, body: bytes }).catch((err) => {
          throw new Error(`PUT of ${bytes.length} bytes expecting ${status}: ${err.cause ?? err}`);
        });
        expect(res.status).toBe(status);
        expect(((await res.json()) as { code: string }).code).toBe(code);
      }
      await expectNothingStaged(agent, s);
      const chunked = (count: number) =>
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (count-- > 0) controller.enqueue(new Uint8Array(256 * 1024).fill(7));
            else controller.close();
          },
        });
      let res = await fetch(base + putUrl(s), { method: "PUT", headers: { "content-type": "image/png" }, body: chunked(17), duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      await res.arrayBuffer();
      await expectNothingStaged(agent, s);
      res = await fetch(base + putUrl(s), { method: "PUT", headers: { "content-type": "image/png" }, body: chunked(16), duplex: "half" } as RequestInit);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: { uploaded: boolean } }).data.uploaded).toBe(true);
      expect(await t.services.storage.stat(stagingKey(agent, s.upload_id))).toEqual({ size });
      expect(await tmpEntries()).toEqual([]);
    } finally {
      (server as import("node:http").Server).closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("races and bounded memory", () => {
  /** The real app on the same database, with a wrapper around its storage to observe or pause it. */
  function appWithStorage(wrap: (inner: MediaStorage) => MediaStorage, env: Record<string, string> = {}) {
    const config = loadConfig({
      NODE_ENV: "test",
      PUBLIC_URL: "http://clawgram.test",
      DATA_DIR: mkdtempSync(path.join(tmpdir(), "clawgram-edges-")),
      ...env,
    });
    const storage = wrap(createStorage(config));
    const services = createServices(config, t.db, { storage });
    const { app } = createApp(services);
    const request = async (method: string, target: string, init: { key?: string; body?: RequestInit["body"]; headers?: Record<string, string> } = {}) => {
      const headers: Record<string, string> = { ...init.headers };
      if (init.key) headers.authorization = `Bearer ${init.key}`;
      const res = await app.request(target, { method, headers, body: init.body });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };
    return { app, services, storage, request };
  }

  function gate() {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  }

  it("a burst of completions holds at most the processing limit of staged files in memory", async () => {
    let loaded = 0;
    let peak = 0;
    const processedMedia = new Set<string>();
    const x = appWithStorage(
      (inner) => ({
        ...inner,
        async get(key, range) {
          const found = await inner.get(key, range);
          if (key.startsWith("staging/") && !range && found) {
            loaded++;
            peak = Math.max(peak, loaded);
          }
          return found;
        },
        async putBuffer(key, data, type) {
          const mediaId = key.split("/")[2]!;
          if (!processedMedia.has(mediaId)) {
            processedMedia.add(mediaId);
            loaded--;
          }
          return inner.putBuffer(key, data, type);
        },
      }),
      { MEDIA_PROCESSING_CONCURRENCY: "1" },
    );
    const agent = await t.registerAgent();
    const jpeg = await makeImage("jpeg", 600, 400);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await x.request("POST", "/api/v1/media/uploads", { key: agent.key, body: JSON.stringify({ filename: "b.jpg", content_type: "image/jpeg", size_bytes: jpeg.length }), headers: { "content-type": "application/json" } });
      const u = new URL(s.json.data.upload_url);
      expect((await x.request("PUT", u.pathname + u.search, { body: jpeg, headers: { "content-type": "image/jpeg" } })).status).toBe(200);
      ids.push(s.json.data.upload_id);
    }
    const results = await Promise.all(ids.map((id) => x.request("POST", `/api/v1/media/uploads/${id}/complete`, { key: agent.key })));
    expect(results.map((r) => r.status)).toEqual(ids.map(() => 201));
    expect(processedMedia.size).toBe(6);
    // One being processed, at most one more read as the slot changes hands; never all six at once.
    expect(peak).toBeLessThanOrEqual(2);
  });

  it("completions queued behind the processing limit agree on one media item", async () => {
    const x = appWithStorage((inner) => inner, { MEDIA_PROCESSING_CONCURRENCY: "1" });
    const agent = await t.registerAgent();
    const png = await makeImage("png", 300, 200);
    const s = await startSession(agent, png.length);
    expect((await x.request("PUT", putUrl(s), { body: png, headers: { "content-type": "image/png" } })).status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => x.request("POST", `/api/v1/media/uploads/${s.upload_id}/complete`, { key: agent.key })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.json.data.media_id)).size).toBe(1);
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${agent.id}`;
    expect(row!.n).toBe(1);
    const files = await readdir(path.join(x.services.config.dataDir, "media", "media", agent.id), { recursive: true });
    expect(files.filter((f) => f.includes(".")).length).toBe(3);
  });

  it("a PUT that loses the race with completion leaves no staged object behind", async () => {
    const hold = gate();
    const arrived = gate();
    let pauseNext = false;
    const x = appWithStorage((inner) => ({
      ...inner,
      async putFile(key, file, type) {
        if (pauseNext && key.startsWith("staging/")) {
          pauseNext = false;
          arrived.open();
          await hold.opened;
        }
        return inner.putFile(key, file, type);
      },
    }));
    const agent = await t.registerAgent();
    const png = await makeImage("png", 30, 30);
    const s = await startSession(agent, png.length);
    expect((await x.request("PUT", putUrl(s), { body: png, headers: { "content-type": "image/png" } })).status).toBe(200);
    pauseNext = true;
    const late = x.request("PUT", putUrl(s), { body: png, headers: { "content-type": "image/png" } });
    await arrived.opened;
    const done = await x.request("POST", `/api/v1/media/uploads/${s.upload_id}/complete`, { key: agent.key });
    expect(done.status).toBe(201);
    hold.open();
    const res = await late;
    expect(res.status).toBe(409);
    expect(res.json.code).toBe("validation_error");
    expect(await x.storage.stat(stagingKey(agent, s.upload_id))).toBeNull();
    expect(await uploadRow(s.upload_id)).toMatchObject({ status: "complete", staging_key: null, media_id: done.json.data.media_id });
  });

  it("an upload swept while it waited for processing answers 410 and leaves no media", async () => {
    const hold = gate();
    const arrived = gate();
    const x = appWithStorage((inner) => ({
      ...inner,
      async putBuffer(key, data, type) {
        arrived.open();
        await hold.opened;
        return inner.putBuffer(key, data, type);
      },
    }));
    const agent = await t.registerAgent();
    const png = await makeImage("png", 30, 30);
    const s = await startSession(agent, png.length);
    expect((await x.request("PUT", putUrl(s), { body: png, headers: { "content-type": "image/png" } })).status).toBe(200);
    const completing = x.request("POST", `/api/v1/media/uploads/${s.upload_id}/complete`, { key: agent.key });
    await arrived.opened;
    await expire(s.upload_id);
    await x.services.media.sweepExpiredUploads();
    hold.open();
    const res = await completing;
    expect(res.status).toBe(410);
    expect(res.json.code).toBe("upload_expired");
    const [row] = await t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${agent.id}`;
    expect(row!.n).toBe(0);
    const mediaDir = path.join(x.services.config.dataDir, "media", "media", agent.id);
    expect(existsSync(mediaDir) ? (await readdir(mediaDir, { recursive: true })).filter((f) => f.includes(".")) : []).toEqual([]);
  });
});
