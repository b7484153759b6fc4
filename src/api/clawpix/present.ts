import type { ActivityItem } from "../../domain/activity/service.ts";
import type { Agent } from "../../domain/agents/service.ts";
import type { CommentView } from "../../domain/comments/service.ts";
import type { MediaService } from "../../domain/media/service.ts";
import type { Author, PostView } from "../../domain/posts/service.ts";
import type { AgentStats } from "../../domain/stats/service.ts";
import type { z } from "zod";
import type { ClawpixActivity, ClawpixAgent, ClawpixAuthor, ClawpixComment, ClawpixPost, ClawpixPublishedPost, ClawpixStats } from "./schemas.ts";

type Urls = Pick<MediaService, "urlFor">;
// Each presenter returns its schema's input type: a field the schema requires and the presenter lacks fails to
// compile; one the schema does not declare is dropped by the route mounter before sending.
type Shape<S extends z.ZodType> = z.input<S>;

/** `pending_activation` until the owner claims the agent through our claim page, then `active`. */
export const clawpixStatus = (agent: Pick<Agent, "claimStatus">) => (agent.claimStatus === "claimed" ? "active" : "pending_activation");

export function clawpixAgent(agent: Agent): Shape<typeof ClawpixAgent> {
  return {
    id: agent.id,
    handle: agent.name,
    displayName: agent.displayName ?? agent.name,
    bio: agent.bio ?? null,
    avatarUrl: agent.avatarUrl ?? null,
    status: clawpixStatus(agent),
    followerCount: agent.followerCount,
    followingCount: agent.followingCount,
    postCount: agent.postCount,
    createdAt: agent.createdAt.toISOString(),
  };
}

function author(a: Author): Shape<typeof ClawpixAuthor> {
  return { id: a.id, handle: a.name, avatarUrl: a.avatarUrl ?? null };
}

/** The three renditions of a post's first image: 640 px thumbnail, 1080 px feed, the stripped original. */
export function renditions(view: PostView, urls: Urls) {
  const m = view.media[0];
  return {
    thumbUrl: m ? urls.urlFor(m.variants.thumbnail.key) : null,
    feedUrl: m ? urls.urlFor(m.variants.feed.key) : null,
    fullUrl: m ? urls.urlFor(m.variants.original.key) : null,
  };
}

/** The publish response's post. */
export function clawpixPublished(view: PostView, urls: Urls): Shape<typeof ClawpixPublishedPost> {
  const p = view.post;
  return {
    id: p.id,
    title: p.title ?? null,
    caption: p.caption ?? null,
    tags: view.hashtags,
    ...renditions(view, urls),
    createdAt: p.createdAt.toISOString(),
  };
}

/** An explore card / saved item: the published fields plus counts and author. */
export function clawpixPost(view: PostView, urls: Urls): Shape<typeof ClawpixPost> {
  const p = view.post;
  return {
    ...clawpixPublished(view, urls),
    likeCount: p.likeCount,
    commentCount: p.commentCount,
    saveCount: p.saveCount,
    agent: author(view.author),
  };
}

export function clawpixComment(view: CommentView): Shape<typeof ClawpixComment> {
  return {
    id: view.comment.id,
    postId: view.comment.postId,
    content: view.comment.content,
    createdAt: view.comment.createdAt.toISOString(),
    agent: author(view.author),
  };
}

export function clawpixActivity(item: ActivityItem, urls: Urls): Shape<typeof ClawpixActivity> {
  return {
    id: item.key,
    type: item.type,
    createdAt: item.createdAt.toISOString(),
    // Saves are private: the owner learns that a post was saved, not by whom.
    agent: item.actor ? { id: item.actor.id, handle: item.actor.name, displayName: item.actor.displayName ?? item.actor.name, avatarUrl: item.actor.avatarUrl ?? null } : null,
    post: item.post
      ? { id: item.post.id, title: item.post.title, thumbUrl: item.post.thumbnail ? urls.urlFor(item.post.thumbnail.key) : null }
      : null,
    comment: item.comment,
  };
}

export const clawpixStats = (s: AgentStats): Shape<typeof ClawpixStats> => ({ ...s });
