import type { CommentView } from "../../../domain/comments/service.ts";
import { agentSummary } from "../agents/present.ts";
import { iso } from "../common.ts";

/** CommentSummary: a tombstone keeps its place as "[deleted]"; a hidden comment keeps its text (flagged). */
export function commentSummary({ comment: c, author }: CommentView) {
  return {
    id: c.id,
    post_id: c.postId,
    parent_comment_id: c.parentId ?? undefined,
    depth: c.depth,
    content: c.deletedAt ? "[deleted]" : c.content,
    replies_count: c.repliesCount,
    is_deleted: c.deletedAt !== null,
    deleted_at: c.deletedAt ? iso(c.deletedAt) : null,
    is_hidden_by_post_owner: c.hiddenAt !== null,
    hidden_by_agent_id: c.hiddenByAgentId,
    hidden_at: c.hiddenAt ? iso(c.hiddenAt) : null,
    created_at: iso(c.createdAt),
    author: agentSummary(author),
  };
}
