import { uuidv7 } from "../../db/ids.ts";
import type { Database } from "../../db/client.ts";
import { media, postMedia, type MediaVariant } from "../../db/schema.ts";
import type { MediaStorage } from "../../storage/types.ts";
import { sniffFormat } from "../media/formats.ts";
import { processImage } from "../media/process.ts";
import { mediaKey, mediaRow } from "../media/service.ts";
import type { RemotePostService } from "./posts.ts";

/**
 * Local thumbnails of fediverse images (REMOTE_MEDIA_THUMBNAILS): the bytes go through the same pipeline as uploads
 * (format sniffed, pixel cap before decoding, metadata stripped, re-encoded), and only the thumbnail rendition is
 * kept, as a media row of the remote author linked to the post, so the orphan sweep and media serving treat it
 * like any other media.
 */
export function createRemoteThumbnails(deps: { database: Database; storage: MediaStorage; maxPixels: number; remotePosts: RemotePostService }) {
  const { db } = deps.database;

  async function store(postId: string, agentId: string, index: number, bytes: Buffer): Promise<string | null> {
    const format = sniffFormat(bytes.subarray(0, 64));
    if (!format) return null;
    const processed = await processImage(bytes, format, { maxPixels: deps.maxPixels });
    const thumb = processed.renditions.find((r) => r.name === "thumbnail");
    if (!thumb) return null;
    const mediaId = uuidv7();
    const key = mediaKey(agentId, mediaId, `thumbnail.${thumb.ext}`);
    await deps.storage.putBuffer(key, thumb.data, thumb.contentType);
    const variant: MediaVariant = { key, width: thumb.width, height: thumb.height, bytes: thumb.data.length, contentType: thumb.contentType };
    await db.transaction(async (tx) => {
      await tx.insert(media).values(mediaRow(mediaId, agentId, format, processed, { original: variant, feed: variant, thumbnail: variant }));
      await tx.insert(postMedia).values({ postId, position: index, mediaId }).onConflictDoNothing();
    });
    await deps.remotePosts.setThumbnail(postId, index, key);
    return key;
  }

  return { store };
}

export type RemoteThumbnails = ReturnType<typeof createRemoteThumbnails>;
