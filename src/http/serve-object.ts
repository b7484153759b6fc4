import { Readable } from "node:stream";
import type { Context } from "hono";
import type { ByteRange, MediaStorage } from "../storage/types.ts";

/**
 * Parses a single `bytes=` range against a size: null means "serve the whole object" (no header, another unit, or
 * several ranges, which RFC 9110 lets a server ignore), "invalid" means 416 (malformed or unsatisfiable).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | "invalid" {
  if (!header) return null;
  const spec = header.trim();
  if (!/^bytes=/i.test(spec) || spec.includes(",")) return null;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(spec);
  if (!m || (m[1] === "" && m[2] === "")) return "invalid";
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "invalid";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return "invalid";
  return { start, end };
}

/**
 * Streams a stored object with a content type we chose (never the uploader's), long-lived immutable caching, a strong
 * ETag and single-range support.
 */
export async function serveObject(
  c: Context,
  storage: MediaStorage,
  object: { key: string; contentType: string; etag: string },
): Promise<Response> {
  const headers: Record<string, string> = {
    "Content-Type": object.contentType,
    "Cache-Control": "public, max-age=31536000, immutable",
    ETag: object.etag,
    "Accept-Ranges": "bytes",
    "Content-Disposition": "inline",
    "Cross-Origin-Resource-Policy": "cross-origin",
  };
  const inm = c.req.header("if-none-match");
  // If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
  if (inm && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === object.etag || t.trim() === "*")) {
    return new Response(null, { status: 304, headers });
  }
  const stat = await storage.stat(object.key);
  if (!stat) return new Response(null, { status: 404 });
  const range = parseRange(c.req.header("range"), stat.size);
  if (range === "invalid") {
    return new Response(null, { status: 416, headers: { ...headers, "Content-Range": `bytes */${stat.size}` } });
  }
  const length = range ? range.end - range.start + 1 : stat.size;
  headers["Content-Length"] = String(length);
  if (range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${stat.size}`;
  const status = range ? 206 : 200;
  if (c.req.method === "HEAD") return new Response(null, { status, headers });
  const stored = await storage.get(object.key, range ?? undefined);
  if (!stored) return new Response(null, { status: 404 });
  return new Response(Readable.toWeb(stored.body) as unknown as ReadableStream, { status, headers });
}

