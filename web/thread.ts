import { commentSummary } from "../src/api/v1/comments/present.ts";
import type { CommentService, CommentView } from "../src/domain/comments/service.ts";
import type { CommentJson } from "./api.ts";
import type { Thread } from "./pages/post.ts";

/** Replies shown under one comment (its first page, oldest first, as `GET /comments/{id}/replies?limit=` gives). */
export type RepliesPage = { items: CommentJson[]; hasMore: boolean };
export type RepliesLoader = (parentIds: string[]) => Promise<Map<string, RepliesPage>>;

/** Up to this many comments, a post's replies are read in one statement; above, level by level. */
export const WHOLE_THREAD_MAX = 300;

/** Views ordered by (parent, created_at, id): the first `limit` of each parent, presented as the replies endpoint does. */
function pages(views: CommentView[], limit: number): Map<string, RepliesPage> {
  const out = new Map<string, RepliesPage>();
  for (const view of views) {
    const parent = view.comment.parentId!;
    const page = out.get(parent) ?? { items: [], hasMore: false };
    out.set(parent, page);
    if (page.items.length === limit) page.hasMore = true;
    else page.items.push(commentSummary(view));
  }
  return out;
}

/**
 * How a page loads replies for a post with `comment_count` comments: a small thread in one statement (read on first
 * use, then shared by every level), a large one level by level (one statement per level, however many comments it
 * has), so a page never reads thousands of rows nor makes one request per comment.
 */
export function replyLoader(comments: Pick<CommentService, "firstRepliesOf" | "allRepliesOfPost">, post: { id: string; comment_count: number }, limit: number): RepliesLoader {
  if (post.comment_count > WHOLE_THREAD_MAX) return async (ids) => pages(await comments.firstRepliesOf(ids, limit), limit);
  let all: Promise<Map<string, RepliesPage>> | undefined;
  return async () => (all ??= comments.allRepliesOfPost(post.id).then((views) => pages(views, limit)));
}

/**
 * A list of comments (a page of top-level ones, or one comment's replies) with the replies under them, level by
 * level: one loader call per level however many comments it has. At most `budget` comments get their
 * replies loaded, in reading order (breadth first); the rest, and anything at `maxDepth`, are marked `unloaded` and
 * linked to their own replies page instead.
 */
export async function expandThread(
  first: CommentJson[],
  options: { depth: number; maxDepth: number; budget: number; loadReplies: RepliesLoader },
): Promise<Thread[]> {
  const node = (comment: CommentJson): Thread => ({ comment, replies: [], moreReplies: false });
  const top = first.map(node);
  let level = top;
  let budget = options.budget;
  for (let depth = options.depth; level.length > 0; depth++) {
    const wanted: Thread[] = [];
    for (const t of level) {
      if (t.comment.replies_count === 0) continue;
      if (depth >= options.maxDepth || budget <= 0) {
        t.moreReplies = true;
        t.unloaded = true;
        continue;
      }
      budget--;
      wanted.push(t);
    }
    if (wanted.length === 0) break;
    const pages = await options.loadReplies(wanted.map((t) => t.comment.id));
    level = [];
    for (const t of wanted) {
      const page = pages.get(t.comment.id);
      if (!page) continue;
      t.replies = page.items.map(node);
      t.moreReplies = page.hasMore;
      level.push(...t.replies);
    }
  }
  return top;
}
