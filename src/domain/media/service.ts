import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { and, eq, inArray, sql, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { blockedMediaHashes, media, uploads, type MediaVariant, type MediaVariants } from "../../db/schema.ts";
import type { MediaStorage } from "../../storage/types.ts";
import { hashesEqual, hashSecret } from "../agents/keys.ts";
import { DomainError, forbidden, notFound } from "../errors.ts";
import { ContentPolicyError } from "../moderation/content-policy.ts";
import { formatForContentType, MAX_UPLOAD_BYTES, sanitizeFilename, type ImageFormat } from "./formats.ts";
import { processImage, type ProcessedImage } from "./process.ts";
import { createSemaphore } from "./semaphore.ts";

export type MediaServiceDeps = {
  database: Database;
  storage: MediaStorage;
  /** Secret for hashing upload tokens (the instance pepper). */
  pepper: string;
  publicUrl: URL;
  /** Base of public media URLs, without trailing slash. */
  mediaBaseUrl: string;
  tmpDir: string;
  maxPixels: number;
  processingConcurrency: number;
  uploadTtlSeconds: number;
  clock?: () => Date;
  /** Told about every image processed (metrics): its format, how it went, and the seconds it took. */
  onProcessed?: (format: string, outcome: "ok" | "rejected" | "error", seconds: number) => void;
};

/** The storage backend refused or failed to store received bytes (the contract answers 502). */
export class StorageWriteError extends Error {
  constructor(cause: unknown) {
    super("Storing the uploaded bytes failed", { cause });
    this.name = "StorageWriteError";
  }
}

export type Upload = typeof uploads.$inferSelect;
export type Media = typeof media.$inferSelect;

const MEDIA_PREFIX = "media/";

/** Storage key of one file (`<rendition>.<ext>`) of a media item. */
export const mediaKey = (agentId: string, mediaId: string, file: string) => `${MEDIA_PREFIX}${agentId}/${mediaId}/${file}`;

/** The media row of a processed image: its metadata and where its renditions are stored. */
export function mediaRow(id: string, agentId: string, format: ImageFormat, processed: ProcessedImage, variants: MediaVariants) {
  return {
    id,
    agentId,
    format,
    width: processed.width,
    height: processed.height,
    blurhash: processed.blurhash,
    sha256: processed.sha256,
    variants,
  } satisfies typeof media.$inferInsert;
}

const tooLarge = (message: string, hint?: string) => new DomainError("too_large", "payload_too_large", message, hint);
const unsupported = (message: string, hint?: string) => new DomainError("unsupported", "unsupported_media_type", message, hint);
const expired = () => new DomainError("gone", "upload_expired", "Upload session has expired", "Start a new upload");
const notOwned = () => new DomainError("forbidden", "media_not_owned", "Media is not owned by this agent");

export function createMediaService(deps: MediaServiceDeps) {
  const { db } = deps.database;
  const now = deps.clock ?? (() => new Date());
  const limitProcessing = createSemaphore(deps.processingConcurrency);
  const tokenHash = (token: string) => hashSecret(`upload:${token}`, deps.pepper);

  /** Runs image processing under the concurrency limit, reporting its outcome and duration to `onProcessed`. */
  async function processLimited(format: ImageFormat, work: () => Promise<ProcessedImage>): Promise<ProcessedImage> {
    const started = performance.now();
    try {
      const processed = await limitProcessing(work);
      deps.onProcessed?.(format, "ok", (performance.now() - started) / 1000);
      return processed;
    } catch (err) {
      deps.onProcessed?.(format, err instanceof DomainError ? "rejected" : "error", (performance.now() - started) / 1000);
      throw err;
    }
  }

  /** Refuses an image an admin blocked by content hash (src/domain/admin/media-blocks.ts), before anything is stored. */
  async function refuseBlocked(processed: ProcessedImage): Promise<void> {
    const [hit] = await db
      .select({ sha256: blockedMediaHashes.sha256 })
      .from(blockedMediaHashes)
      .where(eq(blockedMediaHashes.sha256, processed.sha256))
      .limit(1);
    if (hit) throw new ContentPolicyError("Image");
  }

  /** Stores every rendition of a new media item, adding each key to `written` (for the caller's cleanup on failure). */
  async function writeRenditions(agentId: string, mediaId: string, processed: ProcessedImage, written: string[]): Promise<MediaVariants> {
    const variants = {} as MediaVariants;
    for (const r of processed.renditions) {
      const key = mediaKey(agentId, mediaId, `${r.name}.${r.ext}`);
      await deps.storage.putBuffer(key, r.data, r.contentType);
      written.push(key);
      variants[r.name] = { key, width: r.width, height: r.height, bytes: r.data.length, contentType: r.contentType };
    }
    return variants;
  }
  // The capability token is derived from the upload id with the instance secret, so an upload URL can be rebuilt
  // (e.g. on an idempotent replay) without the token ever being stored.
  const tokenFor = (uploadId: string) => hashSecret(`upload-token:${uploadId}`, deps.pepper).slice(0, 43);

  function urlFor(key: string): string {
    return `${deps.mediaBaseUrl}/${key.slice(MEDIA_PREFIX.length)}`;
  }

  function uploadUrl(upload: Pick<Upload, "id" | "storageKey">): string {
    return new URL(`/uploads/${upload.storageKey}?token=${tokenFor(upload.id)}`, deps.publicUrl).href;
  }

  async function createUpload(agentId: string, input: { filename: string; contentType: string; sizeBytes: number; checksum?: string }) {
    const format = formatForContentType(input.contentType);
    if (!format) throw unsupported("Unsupported content type", "Use image/png, image/jpeg or image/webp");
    if (input.sizeBytes > MAX_UPLOAD_BYTES) throw tooLarge("File is too large", "The limit is 10 MiB");
    const id = uuidv7();
    const token = tokenFor(id);
    const storageKey = `${agentId}/${id}/${sanitizeFilename(input.filename)}`;
    const expiresAt = new Date(now().getTime() + deps.uploadTtlSeconds * 1000);
    const [upload] = await db
      .insert(uploads)
      .values({
        id,
        agentId,
        filename: input.filename,
        contentType: `image/${format}`,
        sizeBytes: input.sizeBytes,
        checksum: input.checksum,
        storageKey,
        tokenHash: tokenHash(token),
        expiresAt,
      })
      .returning();
    return { upload: upload!, uploadUrl: uploadUrl(upload!) };
  }

  function checkUploadToken(upload: Upload, token: string | undefined): boolean {
    return !!token && hashesEqual(upload.tokenHash, tokenHash(token));
  }

  async function findUpload(id: string): Promise<Upload | null> {
    if (!isUuid(id)) return null;
    const [row] = await db.select().from(uploads).where(eq(uploads.id, id)).limit(1);
    return row ?? null;
  }

  /**
   * Receives the bytes PUT to an upload URL. Checks, in the contract's order: session, expiry, path, token, not yet
   * complete, content type, exact length. Bytes stream to a temp file (never buffered whole) and only an exact-length
   * body is staged.
   */
  async function receiveBytes(input: {
    agentId: string;
    uploadId: string;
    filename: string;
    token: string | undefined;
    contentType: string | undefined;
    contentLength: number | undefined;
    /** Opened only once every check has passed: a refused request's body is left for the server to drain. */
    body: () => Readable;
  }): Promise<{ upload: Upload }> {
    const upload = await findUpload(input.uploadId);
    if (!upload) throw notFound("Upload session not found");
    if (upload.expiresAt <= now()) throw expired();
    if (upload.storageKey !== `${input.agentId}/${input.uploadId}/${input.filename}`) throw forbidden("Upload path does not match");
    if (!checkUploadToken(upload, input.token)) throw forbidden("Upload token is invalid");
    if (upload.status === "complete") throw new DomainError("conflict", "validation_error", "Upload is already complete");
    if ((input.contentType ?? "").split(";")[0]!.trim().toLowerCase() !== upload.contentType) {
      throw unsupported("Content-Type does not match the upload session", `Send Content-Type: ${upload.contentType}`);
    }
    const expected = upload.sizeBytes;
    if (input.contentLength !== undefined && input.contentLength !== expected) {
      throw tooLarge(`Body must be exactly ${expected} bytes`);
    }

    await mkdir(deps.tmpDir, { recursive: true });
    const tmp = path.join(deps.tmpDir, `upload-${upload.id}-${randomBytes(6).toString("hex")}`);
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > expected) done(tooLarge(`Body must be exactly ${expected} bytes`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(input.body(), counter, createWriteStream(tmp));
      if (received !== expected) throw tooLarge(`Body must be exactly ${expected} bytes`, `Received ${received}`);
      const stagingKey = `staging/${upload.agentId}/${upload.id}`;
      try {
        await deps.storage.putFile(stagingKey, tmp, upload.contentType);
      } catch (err) {
        throw new StorageWriteError(err);
      }
      const [updated] = await db
        .update(uploads)
        .set({ status: "processing", stagingKey, updatedAt: now() })
        .where(and(eq(uploads.id, upload.id), inArray(uploads.status, ["pending", "processing"])))
        .returning();
      if (!updated) {
        // Completed (or swept) while we were receiving: nothing refers to these bytes any more.
        await deps.storage.delete([stagingKey]).catch(() => {});
        throw new DomainError("conflict", "validation_error", "Upload is already complete");
      }
      return { upload: updated };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** First bytes of a staged upload (the contract's 64-byte verification read). */
  async function readStagedHead(upload: Upload, end: number) {
    if (!upload.stagingKey) return null;
    return deps.storage.get(upload.stagingKey, { start: 0, end });
  }

  async function readAll(stream: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Turns a staged upload into a media item. Retry-safe: a completed upload answers with its media id again, and two
   * racing completions agree on one media item (the loser's renditions are removed).
   */
  async function completeUpload(agentId: string, uploadId: string): Promise<{ mediaId: string; created: boolean }> {
    const upload = await findUpload(uploadId);
    if (!upload) throw notFound("Upload session not found");
    if (upload.agentId !== agentId) throw notOwned();
    if (upload.status === "complete" && upload.mediaId) return { mediaId: upload.mediaId, created: false };
    if (upload.expiresAt <= now()) throw expired();
    if (upload.sizeBytes > MAX_UPLOAD_BYTES) throw tooLarge("File is too large");
    const format = formatForContentType(upload.contentType) as ImageFormat | null;
    if (!format) throw unsupported("Unsupported content type");
    const noBytes = () => unsupported("No bytes were uploaded for this session", "PUT the file to upload_url first");
    if (!upload.stagingKey) throw noBytes();
    const stagingKey = upload.stagingKey;
    // The bytes are read inside the limit too, so a burst of completions holds at most `processingConcurrency` files
    // in memory, not one per waiting request.
    let processed;
    try {
      processed = await processLimited(format, async () => {
        const staged = await deps.storage.get(stagingKey);
        if (!staged) throw noBytes();
        return processImage(await readAll(staged.body), format, { maxPixels: deps.maxPixels });
      });
    } catch (err) {
      // A racing completion may have finished, and removed the staged bytes, while this one waited.
      const latest = await findUpload(uploadId);
      if (latest?.status === "complete" && latest.mediaId) return { mediaId: latest.mediaId, created: false };
      throw err;
    }
    await refuseBlocked(processed);
    const mediaId = uuidv7();
    const written: string[] = [];
    try {
      const variants = await writeRenditions(agentId, mediaId, processed, written);
      const outcome = await db.transaction(async (tx) => {
        const [locked] = await tx.select().from(uploads).where(eq(uploads.id, uploadId)).for("update");
        if (locked?.status === "complete" && locked.mediaId) return { mediaId: locked.mediaId, created: false };
        if (!locked) throw expired(); // swept as expired while it waited for processing
        await tx.insert(media).values(mediaRow(mediaId, agentId, format, processed, variants));
        await tx
          .update(uploads)
          .set({ status: "complete", mediaId, completedAt: now(), updatedAt: now(), stagingKey: null })
          .where(eq(uploads.id, uploadId));
        return { mediaId, created: true };
      });
      if (!outcome.created) await deps.storage.delete(written);
      else await deps.storage.delete([stagingKey]).catch(() => {});
      return outcome;
    } catch (err) {
      await deps.storage.delete(written).catch(() => {});
      throw err;
    }
  }

  async function findOwnedMedia(agentId: string, mediaId: string): Promise<Media | null> {
    if (!isUuid(mediaId)) return null;
    const [row] = await db
      .select()
      .from(media)
      .where(and(eq(media.id, mediaId), eq(media.agentId, agentId)))
      .limit(1);
    return row ?? null;
  }

  /** Media items by id, for presenting posts and avatars. */
  async function findMany(ids: string[]): Promise<Map<string, Media>> {
    ids = ids.filter(isUuid);
    if (ids.length === 0) return new Map();
    const rows = await db.select().from(media).where(inArray(media.id, ids));
    return new Map(rows.map((m) => [m.id, m]));
  }

  /** Stored object behind a public media path (`<agent>/<media>/<file>`), or null for anything we don't serve. */
  async function resolvePublicPath(relative: string): Promise<{ key: string; variant: MediaVariant } | null> {
    const m = /^([0-9a-f-]{36})\/([0-9a-f-]{36})\/(original|feed|thumbnail)\.(png|jpg|webp)$/.exec(relative);
    if (!m) return null;
    const [row] = await db
      .select({ variants: media.variants })
      .from(media)
      .where(and(eq(media.id, m[2]!), eq(media.agentId, m[1]!)))
      .limit(1);
    const variant = row?.variants[m[3] as keyof MediaVariants];
    const key = `${MEDIA_PREFIX}${relative}`;
    return variant && variant.key === key ? { key, variant } : null;
  }

  /** Removes uploads that expired without completing, and their staged bytes. */
  async function sweepExpiredUploads(limit = 500): Promise<number> {
    const rows = await db
      .delete(uploads)
      .where(
        inArray(
          uploads.id,
          db
            .select({ id: uploads.id })
            .from(uploads)
            .where(sql`${uploads.status} <> 'complete' AND ${uploads.expiresAt} < ${now().toISOString()}::timestamptz`)
            .limit(limit),
        ),
      )
      .returning({ stagingKey: uploads.stagingKey });
    await deps.storage.delete(rows.flatMap((r) => (r.stagingKey ? [r.stagingKey] : [])));
    return rows.length;
  }

  /**
   * Deletes the media rows (alias `m`) matching `where`, with their upload sessions and files, in one statement;
   * `before` holds CTEs (ending in a comma) that `where` reads. Returns how many were deleted.
   */
  async function deleteMedia(where: SQL, before: SQL = sql``): Promise<number> {
    const rows = await db.execute<{ variants: MediaVariants }>(sql`
      WITH ${before} gone AS (
        DELETE FROM media m
        WHERE ${where}
        RETURNING m.id, m.variants
      ), forgotten AS (
        DELETE FROM uploads WHERE media_id IN (SELECT id FROM gone)
      )
      SELECT variants FROM gone`);
    const keys = [...rows].flatMap((r) => Object.values(r.variants).map((v) => v.key));
    await deps.storage.delete(keys);
    return rows.length;
  }

  /** Deletes media nobody uses (no avatar, no post, deleted posts included) that is older than `olderThanHours`, with its files. */
  async function sweepOrphanMedia(olderThanHours: number, limit = 500): Promise<number> {
    const cutoff = new Date(now().getTime() - olderThanHours * 3600_000).toISOString();
    return deleteMedia(sql`
      m.id IN (
        SELECT id FROM media
        WHERE created_at < ${cutoff}::timestamptz
          AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.avatar_media_id = media.id)
          AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = media.id)
        LIMIT ${limit}
      )`);
  }

  /**
   * The upload pipeline for bytes that arrived in one request (Clawpix publish): the same checks, metadata stripping
   * and renditions as completeUpload, under the same processing limit, stored as a new media item of the agent.
   */
  async function createFromBytes(agentId: string, bytes: Buffer, format: ImageFormat): Promise<Media> {
    const processed = await processLimited(format, () => processImage(bytes, format, { maxPixels: deps.maxPixels }));
    await refuseBlocked(processed);
    const mediaId = uuidv7();
    const written: string[] = [];
    try {
      const variants = await writeRenditions(agentId, mediaId, processed, written);
      const [row] = await db
        .insert(media)
        .values(mediaRow(mediaId, agentId, format, processed, variants))
        .returning();
      return row!;
    } catch (err) {
      await deps.storage.delete(written).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes a deleted post's images for good (Clawpix: "removes the images from storage"): its media links go, and
   * each of its media items that nothing else uses (another post, an avatar) is deleted with its files.
   */
  async function purgeDeletedPostMedia(postId: string): Promise<number> {
    if (!isUuid(postId)) return 0;
    return deleteMedia(
      sql`
        m.id IN (SELECT media_id FROM unlinked)
          AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.avatar_media_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM post_media other WHERE other.media_id = m.id AND other.post_id <> ${postId}::uuid)`,
      sql`
      unlinked AS (
        DELETE FROM post_media pm
        WHERE pm.post_id = ${postId}::uuid
          AND EXISTS (SELECT 1 FROM posts p WHERE p.id = pm.post_id AND p.deleted_at IS NOT NULL)
        RETURNING pm.media_id
      ),`,
    );
  }

  /**
   * Deletes the local thumbnails of the given fediverse accounts' posts (REMOTE_MEDIA_THUMBNAILS) with their files, and
   * forgets their keys on the posts, which then link their images again (as with caching off). For a domain whose
   * media an admin rejects.
   */
  async function purgeRemoteThumbnails(agentIds: string[]): Promise<number> {
    const ids = agentIds.filter(isUuid);
    if (ids.length === 0) return 0;
    return deleteMedia(
      sql`m.id IN (SELECT media_id FROM unlinked) AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.avatar_media_id = m.id)`,
      sql`
      targets AS (
        SELECT pm.post_id, pm.position FROM post_media pm JOIN posts p ON p.id = pm.post_id
        WHERE p.is_remote AND p.agent_id IN ${ids}
      ),
      unlinked AS (
        DELETE FROM post_media pm USING targets t WHERE pm.post_id = t.post_id AND pm.position = t.position
        RETURNING pm.media_id
      ),
      forgotten_keys AS (
        UPDATE remote_posts rp
        SET attachments = (SELECT coalesce(jsonb_agg(e - 'thumbnailKey' ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements(rp.attachments) WITH ORDINALITY AS x(e, i))
        WHERE rp.post_id IN (SELECT p.id FROM posts p WHERE p.is_remote AND p.agent_id IN ${ids})
          AND rp.attachments @? '$[*].thumbnailKey'
      ),`,
    );
  }

  /**
   * The stored files of everything an agent uploaded (renditions and staged bytes): its purge deletes the rows with the
   * account, then these with `deleteFiles` once that has committed.
   */
  async function filesOf(agentId: string): Promise<string[]> {
    if (!isUuid(agentId)) return [];
    const [rendered, staged] = await Promise.all([
      db.select({ variants: media.variants }).from(media).where(eq(media.agentId, agentId)),
      db.select({ key: uploads.stagingKey }).from(uploads).where(eq(uploads.agentId, agentId)),
    ]);
    return [...new Set([...rendered.flatMap((r) => Object.values(r.variants).map((v) => v.key)), ...staged.flatMap((u) => (u.key ? [u.key] : []))])];
  }

  async function deleteFiles(keys: string[]): Promise<void> {
    if (keys.length > 0) await deps.storage.delete(keys);
  }

  return {
    urlFor,
    uploadUrl,
    purgeRemoteThumbnails,
    filesOf,
    deleteFiles,
    createUpload,
    findUpload,
    checkUploadToken,
    receiveBytes,
    readStagedHead,
    completeUpload,
    findOwnedMedia,
    findMany,
    resolvePublicPath,
    sweepExpiredUploads,
    sweepOrphanMedia,
    createFromBytes,
    purgeDeletedPostMedia,
  };
}

export type MediaService = ReturnType<typeof createMediaService>;
