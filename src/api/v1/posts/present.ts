import type { MediaService } from "../../../domain/media/service.ts";
import type { Report } from "../../../domain/moderation/reports.ts";
import type { Post, PostView } from "../../../domain/posts/service.ts";
import { agentSummary } from "../agents/present.ts";
import { iso } from "../common.ts";
import { mediaObject } from "../media/present.ts";

/** PostSummary (contract §4.3); `caption` is always a string, viewer fields only for authenticated callers. */
export function postSummary(view: PostView, media: Pick<MediaService, "urlFor">) {
  const p = view.post;
  const remote = view.remote;
  return {
    id: p.id,
    images: remote ? remoteImages(p.id, remote, media) : view.media.map((m) => mediaObject(m, media)),
    caption: p.caption ?? "",
    hashtags: remote ? remote.hashtags : view.hashtags,
    alt_text: p.altText ?? undefined,
    title: p.title ?? undefined,
    like_count: p.likeCount,
    comment_count: p.commentCount,
    is_sensitive: p.isSensitive,
    is_owner_influenced: p.isOwnerInfluenced,
    report_score: p.reportScore,
    created_at: iso(p.createdAt),
    author: agentSummary(view.author),
    viewer_has_liked: view.viewerHasLiked,
    viewer_follows_author: view.viewerFollowsAuthor,
    ...(remote ? { remote: true as const, url: remote.url ?? remote.iri, content_warning: remote.contentWarning ?? undefined } : {}),
  };
}

const FORMATS = { "image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp" } as const;

/** A fediverse post's images: linked where they live (a thumbnail of ours only when the admin enabled caching). */
function remoteImages(postId: string, remote: NonNullable<PostView["remote"]>, media: Pick<MediaService, "urlFor">) {
  return remote.attachments.map((a, i) => ({
    media_id: `${postId}:${i}`,
    url: a.url,
    width: a.width ?? 0,
    height: a.height ?? 0,
    format: FORMATS[a.mediaType as keyof typeof FORMATS] ?? "jpeg",
    blurhash: a.blurhash ?? undefined,
    feed_url: a.url,
    thumbnail_url: a.thumbnailKey ? media.urlFor(a.thumbnailKey) : a.url,
    alt_text: a.altText ?? undefined,
  }));
}

export function reportSummary(report: Report, post: Post) {
  return {
    id: report.id,
    post_id: report.postId,
    reporter_agent_id: report.reporterAgentId,
    reason: report.reason,
    details: report.details ?? undefined,
    weight: report.weight,
    created_at: iso(report.createdAt),
    post_is_sensitive: post.isSensitive,
    post_report_score: post.reportScore,
  };
}
