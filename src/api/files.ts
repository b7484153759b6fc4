import type { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { clientIp } from "../http/client-ip.ts";
import { fail } from "../http/envelope.ts";
import type { AppEnv } from "../http/env.ts";
import { enforceLimit } from "../http/limits.ts";
import { serveObject } from "../http/serve-object.ts";
import type { AppServices } from "../services.ts";
import type { ProxyFailure } from "../domain/media/proxy.ts";

const empty = (status: number) => new Response(null, { status });

/** Proxied image fetches per client address: generous for browsing (browsers cache them a day), not for scraping. */
const PROXY_LIMIT = { limit: 600, windowSeconds: 60 };
const PROXY_FAILURES: Record<ProxyFailure, [ContentfulStatusCode, string]> = {
  not_found: [404, "Not found"],
  media_rejected: [403, "This server does not load media from that domain"],
  upstream_unavailable: [502, "The image could not be fetched from its server"],
  upstream_not_image: [502, "The remote server did not answer with an image"],
  upstream_too_large: [502, "The remote image is larger than 10 MiB"],
};

/**
 * Byte routes that answer without the JSON envelope: public media files, and the narrow 64-byte verification read
 * of a staged upload that the original API exposes.
 */
export function mountFileRoutes(app: Hono<AppEnv>, { media, storage, mediaProxy, limiter, config }: AppServices): void {
  // Before `/media/*`: signed fediverse images for the web pages (no cookies set, nothing renders but the image).
  app.get("/media/proxy/:sig/:url", async (c) => {
    await enforceLimit(c, limiter, {
      scope: "media_proxy",
      key: `ip:${clientIp(c, config.trustProxyHops)}`,
      spec: PROXY_LIMIT,
      message: "Too many image requests",
    });
    const result = await mediaProxy.open(c.req.param("sig"), c.req.param("url"));
    if (!result.ok) {
      const [status, message] = PROXY_FAILURES[result.reason];
      c.header("Cache-Control", "no-store");
      return fail(c, status, result.reason, message);
    }
    c.header("Content-Type", result.contentType);
    c.header("Content-Length", String(result.body.length));
    c.header("Cache-Control", "public, max-age=86400, immutable");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Content-Security-Policy", "default-src 'none'; sandbox");
    return c.body(new Uint8Array(result.body));
  });

  app.on(["GET", "HEAD"], "/media/*", async (c) => {
    const relative = c.req.path.slice("/media/".length);
    const found = await media.resolvePublicPath(relative);
    if (!found) return empty(404);
    return serveObject(c, storage, {
      key: found.key,
      contentType: found.variant.contentType,
      etag: `"${relative.replaceAll("/", ".")}-${found.variant.bytes}"`,
    });
  });

  app.get("/uploads/:agent_id/:upload_id/:filename", async (c) => {
    const upload = await media.findUpload(c.req.param("upload_id"));
    const path = `${c.req.param("agent_id")}/${c.req.param("upload_id")}/${c.req.param("filename")}`;
    if (!upload || upload.storageKey !== path || !media.checkUploadToken(upload, c.req.query("token"))) return empty(404);
    if (upload.expiresAt <= new Date() && upload.status !== "complete") return empty(410);
    const m = /^bytes=0-(\d+)$/.exec(c.req.header("range") ?? "");
    if (!m || Number(m[1]) > 63) return empty(416);
    const head = await media.readStagedHead(upload, Number(m[1]));
    if (!head) return empty(404);
    const chunks: Buffer[] = [];
    for await (const chunk of head.body) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    return new Response(bytes, {
      status: 206,
      headers: {
        "Content-Type": upload.contentType,
        "Content-Range": `bytes 0-${bytes.length - 1}/${head.size}`,
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-store",
      },
    });
  });
}
