import { createReadStream } from "node:fs";
import { stat as statFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { pipeline, Readable, Transform } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import aws4 from "aws4";
import type { S3Config } from "../config/index.ts";
import { assertSafeKey, type ByteRange, type MediaStorage, type StoredObject } from "./types.ts";

/** How long we wait for S3 to answer (response headers; for PUT this includes sending the body). */
const RESPONSE_TIMEOUT_MS = 60_000;
/** Parallel DELETE requests when removing many keys. */
const DELETE_CONCURRENCY = 8;

/** Where an object lives: `endpoint/bucket/key` (path style) or `bucket.endpoint/key` (virtual-host style). */
export function s3ObjectUrl(config: S3Config, key: string): URL {
  assertSafeKey(key);
  const base = new URL(config.endpoint ?? `https://s3.${config.region}.amazonaws.com`);
  const basePath = base.pathname.replace(/\/+$/, "");
  const encodedKey = key.split("/").map(encodeURIComponent).join("/");
  return config.forcePathStyle
    ? new URL(`${base.origin}${basePath}/${encodeURIComponent(config.bucket)}/${encodedKey}`)
    : new URL(`${base.protocol}//${config.bucket}.${base.host}${basePath}/${encodedKey}`);
}

type SendOptions = {
  headers?: Record<string, string>;
  body?: Buffer | WebReadableStream<Uint8Array>;
  /** x-amz-content-sha256; defaults to the hash of an empty body. */
  payloadHash?: string;
};

const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

/**
 * Media in an S3-compatible bucket, signed with AWS Signature V4. Uses only `fetch`; bodies stream both ways.
 * Error messages carry the HTTP status and S3 error code, never the credentials.
 */
export function createS3Storage(config: S3Config): MediaStorage {
  const credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
  const redact = (text: string) => text.split(config.secretAccessKey).join("[redacted]");

  async function send(method: string, key: string, opts: SendOptions = {}): Promise<Response> {
    const url = s3ObjectUrl(config, key);
    const signed = aws4.sign(
      {
        method,
        host: url.host,
        path: url.pathname + url.search,
        service: "s3",
        region: config.region,
        headers: { ...opts.headers, "x-amz-content-sha256": opts.payloadHash ?? EMPTY_SHA256 },
      },
      credentials,
    );
    const headers = new Headers();
    for (const [name, value] of Object.entries(signed.headers ?? {})) {
      // fetch derives Host from the URL (the same url.host that was signed).
      if (name.toLowerCase() === "host" || value === undefined) continue;
      headers.set(name, Array.isArray(value) ? value.join(", ") : String(value));
    }
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no response within ${RESPONSE_TIMEOUT_MS} ms`)),
      RESPONSE_TIMEOUT_MS,
    );
    try {
      return await fetch(url, {
        method,
        headers,
        body: opts.body ?? null,
        signal: controller.signal,
        redirect: "manual",
        ...(opts.body && !Buffer.isBuffer(opts.body) ? { duplex: "half" as const } : {}),
      });
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new Error(redact(`S3 ${method} ${key} failed: ${reason}`), { cause: err });
    } finally {
      // The timer only guards the wait for the response; a streamed GET body may then take as long as it needs.
      clearTimeout(timer);
    }
  }

  /** Reads the S3 error code (header or XML body) and builds an Error that never includes the secret. */
  async function failure(method: string, key: string, res: Response): Promise<Error> {
    let code = res.headers.get("x-amz-error-code") ?? "";
    let message = res.headers.get("x-amz-error-message") ?? "";
    try {
      const text = method === "HEAD" ? "" : (await res.text()).slice(0, 64 * 1024);
      code ||= /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? "";
      message ||= /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? "";
    } catch {
      // the body is only a nicety
    }
    const detail = [res.status, code || res.statusText].filter(Boolean).join(" ");
    return new Error(redact(`S3 ${method} ${key} failed: ${detail}${message ? ` (${message})` : ""}`));
  }

  async function discard(res: Response) {
    await res.body?.cancel().catch(() => {});
  }

  async function put(key: string, contentType: string, length: number, body: SendOptions["body"], payloadHash: string) {
    const res = await send("PUT", key, {
      headers: { "content-type": contentType, "content-length": String(length) },
      body,
      payloadHash,
    });
    if (!res.ok) throw await failure("PUT", key, res);
    await discard(res);
  }

  return {
    kind: "s3",
    async putFile(key, filePath, contentType) {
      assertSafeKey(key);
      const { size } = await statFile(filePath);
      const stream = createReadStream(filePath);
      try {
        const body = Readable.toWeb(stream) as WebReadableStream<Uint8Array>;
        await put(key, contentType, size, body, "UNSIGNED-PAYLOAD");
      } finally {
        stream.destroy();
      }
    },
    async putBuffer(key, data, contentType) {
      assertSafeKey(key);
      await put(key, contentType, data.length, data, createHash("sha256").update(data).digest("hex"));
    },
    async stat(key) {
      assertSafeKey(key);
      const res = await send("HEAD", key);
      if (res.status === 404) return null;
      if (!res.ok) throw await failure("HEAD", key, res);
      await discard(res);
      const size = Number(res.headers.get("content-length"));
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`S3 HEAD ${key}: missing or bad Content-Length`);
      return { size };
    },
    async get(key, range?: ByteRange): Promise<StoredObject | null> {
      assertSafeKey(key);
      if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
        throw new RangeError(`Bad byte range ${range.start}-${range.end}`);
      }
      const res = await send("GET", key, range ? { headers: { range: `bytes=${range.start}-${range.end}` } } : {});
      if (res.status === 404) {
        const err = await failure("GET", key, res);
        if (err.message.includes("NoSuchBucket")) throw err;
        return null;
      }
      if (!res.ok || !res.body) throw await failure("GET", key, res);

      let size: number;
      let served = { start: 0, end: Infinity };
      if (res.status === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
        if (!m) {
          await discard(res);
          throw new Error(`S3 GET ${key}: 206 without a usable Content-Range`);
        }
        served = { start: Number(m[1]), end: Number(m[2]) };
        size = Number(m[3]);
      } else {
        size = Number(res.headers.get("content-length"));
      }
      if (!Number.isSafeInteger(size) || size < 0) {
        await discard(res);
        throw new Error(`S3 GET ${key}: missing or bad object size`);
      }
      let body: Readable = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      if (range) {
        // A server may ignore or widen the range (a 200, or e.g. bytes=0-0 answered with more); trim to what was asked.
        const wantEnd = Math.min(range.end, size - 1);
        if (served.start > range.start || served.end < wantEnd) {
          body.destroy();
          throw new Error(`S3 GET ${key}: asked for bytes ${range.start}-${range.end}, got ${served.start}-${served.end}`);
        }
        if (served.start < range.start || served.end > wantEnd) {
          // pipeline() forwards errors and early destruction both ways; its callback only swallows them here.
          body = pipeline(body, byteSlice(range.start - served.start, Math.max(0, wantEnd - range.start + 1)), () => {});
        }
      }
      return { size, body };
    },
    async delete(keys) {
      keys.forEach(assertSafeKey);
      const queue = [...new Set(keys)];
      const worker = async () => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
          const res = await send("DELETE", key);
          if (res.ok) {
            await discard(res);
            continue;
          }
          const err = await failure("DELETE", key, res);
          if (res.status === 404 && !err.message.includes("NoSuchBucket")) continue;
          throw err;
        }
      };
      await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, worker));
    },
  };
}

/** Skips `skip` bytes, passes the next `take` bytes, drops the rest. */
function byteSlice(skip: number, take: number): Transform {
  let pos = 0;
  const end = skip + take;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const from = Math.max(0, skip - pos);
      const to = Math.min(chunk.length, end - pos);
      pos += chunk.length;
      done(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}
