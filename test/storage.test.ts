import { createHash, randomBytes } from "node:crypto";
import dns from "node:dns";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type S3Config } from "../src/config/index.ts";
import { createStorage } from "../src/storage/index.ts";
import { createLocalStorage } from "../src/storage/local.ts";
import { createS3Storage, s3ObjectUrl } from "../src/storage/s3.ts";
import type { MediaStorage } from "../src/storage/types.ts";
import { S3_KEY_ID, S3_SECRET, startS3, type S3Server } from "./helpers/s3.ts";

const BUCKET = "clawgram-test";

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let s3: S3Server;
let scratch: string;
beforeAll(async () => {
  s3 = await startS3({ bucket: BUCKET, serviceEndpoint: "localhost" });
  scratch = await mkdtemp(path.join(os.tmpdir(), "clawgram-storage-"));
});
afterAll(async () => {
  await s3?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const s3Config = (overrides: Partial<S3Config> = {}): S3Config => ({
  bucket: BUCKET,
  endpoint: s3.endpoint,
  region: "us-east-1",
  accessKeyId: S3_KEY_ID,
  secretAccessKey: S3_SECRET,
  forcePathStyle: true,
  ...overrides,
});

type Backend = {
  name: string;
  setup(): Promise<{ storage: MediaStorage; sideEffects(): Promise<number>; close(): Promise<void> }>;
};

const backends: Backend[] = [
  {
    name: "local",
    async setup() {
      const dir = await mkdtemp(path.join(os.tmpdir(), "clawgram-local-"));
      return {
        storage: createLocalStorage(path.join(dir, "media")),
        // anything besides the media root appearing in the parent directory means a key escaped
        sideEffects: async () => (await readdir(dir)).filter((n) => n !== "media").length,
        close: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "s3",
    async setup() {
      return {
        storage: createS3Storage(s3Config()),
        sideEffects: async () => s3.requests.length,
        close: async () => {},
      };
    },
  },
];

describe.each(backends)("$name storage", (backend) => {
  let storage: MediaStorage;
  let sideEffects: () => Promise<number>;
  let close: () => Promise<void>;
  // every test of a backend gets its own prefix so that order does not matter
  let n = 0;
  const key = (name: string) => `media/${backend.name}-${++n}/${name}`;

  beforeAll(async () => {
    ({ storage, sideEffects, close } = await backend.setup());
  });
  afterAll(async () => {
    await close();
  });

  it("reports its kind", () => {
    expect(storage.kind).toBe(backend.name);
  });

  it("round-trips binary data from a buffer", async () => {
    const data = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)]);
    const k = key("original.png");
    await storage.putBuffer(k, data, "image/png");
    expect(await storage.stat(k)).toEqual({ size: data.length });
    const got = await storage.get(k);
    expect(got?.size).toBe(data.length);
    expect((await collect(got!.body)).equals(data)).toBe(true);
  });

  it("round-trips binary data from a file", async () => {
    const data = randomBytes(70_001);
    const file = path.join(scratch, `${backend.name}-file.bin`);
    await writeFile(file, data);
    const k = key("feed.webp");
    await storage.putFile(k, file, "image/webp");
    expect(await storage.stat(k)).toEqual({ size: data.length });
    const got = await storage.get(k);
    expect((await collect(got!.body)).equals(data)).toBe(true);
  });

  it("stores an empty object", async () => {
    const k = key("empty");
    await storage.putBuffer(k, Buffer.alloc(0), "application/octet-stream");
    expect(await storage.stat(k)).toEqual({ size: 0 });
    const got = await storage.get(k);
    expect(got?.size).toBe(0);
    expect((await collect(got!.body)).length).toBe(0);
  });

  it("overwrites replace the previous object", async () => {
    const k = key("thumb.webp");
    await storage.putBuffer(k, randomBytes(5000), "image/webp");
    const second = randomBytes(1234);
    await storage.putBuffer(k, second, "image/webp");
    expect(await storage.stat(k)).toEqual({ size: 1234 });
    expect((await collect((await storage.get(k))!.body)).equals(second)).toBe(true);

    const file = path.join(scratch, `${backend.name}-overwrite.bin`);
    const third = randomBytes(77);
    await writeFile(file, third);
    await storage.putFile(k, file, "image/webp");
    expect(await storage.stat(k)).toEqual({ size: 77 });
    expect((await collect((await storage.get(k))!.body)).equals(third)).toBe(true);
  });

  it("returns null for missing objects", async () => {
    expect(await storage.stat(key("nope"))).toBeNull();
    expect(await storage.get(key("nope"))).toBeNull();
    expect(await storage.get(key("nope"), { start: 0, end: 9 })).toBeNull();
  });

  it("serves exactly the requested byte range and reports the full size", async () => {
    const data = randomBytes(10_000);
    const k = key("ranged.jpg");
    await storage.putBuffer(k, data, "image/jpeg");
    const cases: [number, number][] = [
      [0, 0],
      [0, 9],
      [10, 19],
      [4096, 8191],
      [9_999, 9_999],
      [0, 9_999],
    ];
    for (const [start, end] of cases) {
      const got = await storage.get(k, { start, end });
      expect(got?.size, `${start}-${end}`).toBe(10_000);
      const bytes = await collect(got!.body);
      expect(bytes.length, `${start}-${end}`).toBe(end - start + 1);
      expect(bytes.equals(data.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
    // an end past the object is cut at its last byte, as HTTP does
    const tail = await storage.get(k, { start: 9_990, end: 20_000 });
    expect(tail?.size).toBe(10_000);
    expect((await collect(tail!.body)).equals(data.subarray(9_990))).toBe(true);
  });

  it("deletes objects and ignores missing keys", async () => {
    const a = key("a.webp");
    const b = key("b.webp");
    const c = key("c.webp");
    for (const k of [a, b, c]) await storage.putBuffer(k, randomBytes(10), "image/webp");
    await storage.delete([a, b, key("never-existed"), a]);
    expect(await storage.stat(a)).toBeNull();
    expect(await storage.get(b)).toBeNull();
    expect(await storage.stat(c)).toEqual({ size: 10 });
    await storage.delete([]);
    await storage.delete([a]);
    await storage.delete([c]);
    expect(await storage.stat(c)).toBeNull();
  });

  it("rejects unsafe keys before any I/O", async () => {
    const file = path.join(scratch, `${backend.name}-unsafe.bin`);
    await writeFile(file, "x");
    const before = await sideEffects();
    for (const bad of ["../x", "/abs", "a//b", "a/./b", "a/../b", "", "a/", "a\\b", "a b", "media/%2e%2e/x", ".", ".."]) {
      await expect(storage.putBuffer(bad, Buffer.from("x"), "image/png"), bad).rejects.toThrow(/Unsafe storage key/);
      await expect(storage.putFile(bad, file, "image/png"), bad).rejects.toThrow(/Unsafe storage key/);
      await expect(storage.stat(bad), bad).rejects.toThrow(/Unsafe storage key/);
      await expect(storage.get(bad), bad).rejects.toThrow(/Unsafe storage key/);
      await expect(storage.get(bad, { start: 0, end: 1 }), bad).rejects.toThrow(/Unsafe storage key/);
      await expect(storage.delete([bad]), bad).rejects.toThrow(/Unsafe storage key/);
      // one bad key stops the whole batch before anything is deleted
      await expect(storage.delete([key("fine"), bad]), bad).rejects.toThrow(/Unsafe storage key/);
    }
    expect(await sideEffects()).toBe(before);
    expect(existsSync(path.join(path.dirname(scratch), "x"))).toBe(false);
  });

  it("stores a 5 MiB file", async () => {
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const file = path.join(scratch, `${backend.name}-big.bin`);
    await writeFile(file, data);
    const k = key("original.jpg");
    await storage.putFile(k, file, "image/jpeg");
    expect(await storage.stat(k)).toEqual({ size: data.length });
    const got = await storage.get(k);
    expect(got?.size).toBe(data.length);
    expect(sha256(await collect(got!.body))).toBe(sha256(data));
    const mid = await storage.get(k, { start: 3_000_000, end: 3_999_999 });
    expect((await collect(mid!.body)).equals(data.subarray(3_000_000, 4_000_000))).toBe(true);
  });

  it("lets a reader stop early", async () => {
    const k = key("partial-read");
    await storage.putBuffer(k, randomBytes(1024 * 1024), "application/octet-stream");
    const got = await storage.get(k);
    got!.body.destroy();
    // the storage stays usable afterwards
    expect(await storage.stat(k)).toEqual({ size: 1024 * 1024 });
  });
});

describe("s3 storage specifics", () => {
  it("streams putFile with an unsigned payload and an exact Content-Length, and signs buffer payloads", async () => {
    const storage = createS3Storage(s3Config());
    const file = path.join(scratch, "headers.bin");
    const data = randomBytes(200_000);
    await writeFile(file, data);
    const from = s3.requests.length;
    await storage.putFile("media/headers/original.png", file, "image/png");
    await storage.putBuffer("media/headers/thumb.webp", data.subarray(0, 10), "image/webp");
    const [filePut, bufferPut] = s3.requests.slice(from);
    expect(filePut).toMatchObject({ method: "PUT", url: `/${BUCKET}/media/headers/original.png` });
    expect(filePut!.headers).toMatchObject({
      "content-length": "200000",
      "content-type": "image/png",
      "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    });
    expect(filePut!.headers["transfer-encoding"]).toBeUndefined();
    expect(bufferPut!.headers).toMatchObject({
      "content-length": "10",
      "content-type": "image/webp",
      "x-amz-content-sha256": sha256(data.subarray(0, 10)),
    });
  });

  it("throws on a wrong secret without revealing it", async () => {
    const secret = "wrong-secret-Zq8xK2vLmN4pR7tY";
    const storage = createS3Storage(s3Config({ secretAccessKey: secret }));
    const file = path.join(scratch, "wrong-creds.bin");
    await writeFile(file, randomBytes(100_000));
    for (const attempt of [
      () => storage.putBuffer("media/wrong/a.png", Buffer.from("hello"), "image/png"),
      () => storage.putFile("media/wrong/b.png", file, "image/png"),
      () => storage.stat("media/wrong/a.png"),
      () => storage.get("media/wrong/a.png"),
      () => storage.delete(["media/wrong/a.png"]),
    ]) {
      const err = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message).toMatch(/403/);
      expect(message).not.toContain(secret);
      expect(JSON.stringify(err)).not.toContain(secret);
      expect(String((err as Error).stack)).not.toContain(secret);
    }
    const put = await storage.putBuffer("media/wrong/a.png", Buffer.from("hello"), "image/png").catch((e: Error) => e);
    expect((put as Error).message).toMatch(/SignatureDoesNotMatch/);
  });

  it("names the S3 error code for an unknown access key and a missing bucket", async () => {
    const unknownKey = createS3Storage(s3Config({ accessKeyId: "NOBODY", secretAccessKey: S3_SECRET }));
    // the test server rejects the signature before s3rver could say InvalidAccessKeyId
    await expect(unknownKey.putBuffer("media/x/y", Buffer.from("x"), "image/png")).rejects.toThrow(/403/);
    const noBucket = createS3Storage(s3Config({ bucket: "no-such-bucket" }));
    await expect(noBucket.putBuffer("media/x/y", Buffer.from("x"), "image/png")).rejects.toThrow(/404 NoSuchBucket/);
    await expect(noBucket.get("media/x/y")).rejects.toThrow(/404 NoSuchBucket/);
    await expect(noBucket.delete(["media/x/y"])).rejects.toThrow(/NoSuchBucket/);
  });

  it("reports an unreachable endpoint as an Error", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const storage = createS3Storage(s3Config({ endpoint: `http://127.0.0.1:${port}` }));
    await expect(storage.stat("media/x/y")).rejects.toThrow(/S3 HEAD media\/x\/y failed/);
  });

  it("builds path-style and virtual-host URLs", () => {
    const base = { bucket: "pics", region: "eu-west-3", accessKeyId: "k", secretAccessKey: "s" };
    expect(s3ObjectUrl({ ...base, endpoint: undefined, forcePathStyle: true }, "media/a/b.webp").href).toBe(
      "https://s3.eu-west-3.amazonaws.com/pics/media/a/b.webp",
    );
    expect(s3ObjectUrl({ ...base, endpoint: undefined, forcePathStyle: false }, "media/a/b.webp").href).toBe(
      "https://pics.s3.eu-west-3.amazonaws.com/media/a/b.webp",
    );
    expect(s3ObjectUrl({ ...base, endpoint: "http://minio:9000", forcePathStyle: true }, "k").href).toBe(
      "http://minio:9000/pics/k",
    );
    expect(s3ObjectUrl({ ...base, endpoint: "https://r2.example/", forcePathStyle: false }, "k").href).toBe(
      "https://pics.r2.example/k",
    );
    expect(() => s3ObjectUrl({ ...base, endpoint: undefined, forcePathStyle: true }, "../k")).toThrow(/Unsafe/);
  });

  it("works with virtual-host style addressing", async () => {
    // <bucket>.s3.localhost does not resolve here, so point *.localhost at the test server for this test only.
    const lookup = dns.lookup;
    const patched = ((host: string, ...rest: unknown[]) =>
      (lookup as (...a: unknown[]) => void)(host.endsWith(".localhost") ? "127.0.0.1" : host, ...rest)) as typeof dns.lookup;
    dns.lookup = patched;
    try {
      const storage = createS3Storage(s3Config({ endpoint: `http://s3.localhost:${s3.port}`, forcePathStyle: false }));
      const from = s3.requests.length;
      const data = randomBytes(3000);
      await storage.putBuffer("media/vhost/a.webp", data, "image/webp");
      expect(s3.requests[from]).toMatchObject({ method: "PUT", url: "/media/vhost/a.webp" });
      expect(s3.requests[from]!.headers.host).toBe(`${BUCKET}.s3.localhost:${s3.port}`);
      // the object landed in the bucket: read it back path-style
      const pathStyle = createS3Storage(s3Config());
      expect((await collect((await pathStyle.get("media/vhost/a.webp"))!.body)).equals(data)).toBe(true);
      const ranged = await storage.get("media/vhost/a.webp", { start: 100, end: 199 });
      expect((await collect(ranged!.body)).equals(data.subarray(100, 200))).toBe(true);
      await storage.delete(["media/vhost/a.webp"]);
      expect(await storage.stat("media/vhost/a.webp")).toBeNull();
    } finally {
      dns.lookup = lookup;
    }
  });
});

describe("createStorage", () => {
  it("uses local disk under $DATA_DIR/media by default", async () => {
    const dataDir = path.join(scratch, "data");
    const storage = createStorage(loadConfig({ DATA_DIR: dataDir }));
    expect(storage.kind).toBe("local");
    await storage.putBuffer("media/x/y.png", Buffer.from("abc"), "image/png");
    expect(existsSync(path.join(dataDir, "media", "media", "x", "y.png"))).toBe(true);
  });

  it("uses S3 when configured", async () => {
    const storage = createStorage(
      loadConfig({
        DATA_DIR: path.join(scratch, "data2"),
        MEDIA_STORAGE: "s3",
        S3_BUCKET: BUCKET,
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY_ID: S3_KEY_ID,
        S3_SECRET_ACCESS_KEY: S3_SECRET,
      }),
    );
    expect(storage.kind).toBe("s3");
    await storage.putBuffer("media/cfg/y.png", Buffer.from("abc"), "image/png");
    expect(await storage.stat("media/cfg/y.png")).toEqual({ size: 3 });
  });
});
