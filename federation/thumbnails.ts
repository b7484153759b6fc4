import { getLogger } from "@logtape/logtape";
import { MAX_UPLOAD_BYTES } from "../src/domain/media/formats.ts";
import type { FedContext } from "./context.ts";
import { safeFetch } from "./fetch.ts";

const log = getLogger(["clawgram", "federation", "thumbnails"]);

/**
 * With REMOTE_MEDIA_THUMBNAILS on, fetches a new fediverse post's images (SSRF-safe on every hop, at most the upload
 * size limit) and keeps a local thumbnail of each; off (the default), nothing is downloaded and images stay linked.
 * Nothing is fetched for an author whose domain rejects media (or is suspended), nor from an image host that does:
 * such posts only link their images.
 */
export async function cacheThumbnails(ctx: FedContext, postId: string): Promise<number> {
  const { config, remotePosts, remoteThumbnails, posts, agents } = ctx.data;
  if (!config.federation.remoteMediaThumbnails) return 0;
  const post = await posts.findLive(postId);
  if (!post) return 0;
  const author = await agents.findById(post.agentId);
  if (!author?.actorIri || (await rejected(ctx, author.actorIri))) return 0;
  const attachments = await remotePosts.attachmentsOf(postId);
  let cached = 0;
  for (const [index, a] of attachments.entries()) {
    if (a.thumbnailKey || (await rejected(ctx, a.url))) continue;
    try {
      const res = await safeFetch(a.url, {
        allowLoopback: config.federation.allowPrivateAddress,
        maxBytes: MAX_UPLOAD_BYTES,
        accept: "image/webp,image/png,image/jpeg",
      });
      if (res.status !== 200) continue;
      // Asked again after the download: a block made meanwhile must not be followed by a new thumbnail.
      if (await rejected(ctx, author.actorIri)) return cached;
      if (await remoteThumbnails.store(postId, post.agentId, index, res.body)) cached++;
    } catch (error) {
      log.info("No thumbnail for {url}: {error}", { url: a.url, error });
    }
  }
  return cached;
}

async function rejected(ctx: FedContext, url: string): Promise<boolean> {
  const verdict = await ctx.data.admin.domains.verdict(url);
  return verdict.refused || verdict.rejectMedia;
}
