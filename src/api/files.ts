import type { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { serveObject } from "../http/serve-object.ts";
import type { AppServices } from "../services.ts";

const empty = (status: number) => new Response(null, { status });

/**
 * Byte routes that answer without the JSON envelope: public media files, and the narrow 64-byte verification read
 * of a staged upload that the original API exposes.
 */
export function mountFileRoutes(app: Hono<AppEnv>, { media, storage }: AppServices): void {
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
