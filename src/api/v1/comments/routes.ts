import { z } from "zod";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { commentSummary } from "./present.ts";
import { AgentSummary, idParam, text, timestamp } from "../common.ts";
import { createdCursorParam, fromCreatedKey, limitParam, page, PageOf, toCreatedKey } from "../cursor.ts";
import { PostIdParams } from "../posts/schemas.ts";

const CommentSummary = z
  .object({
    id: z.string(),
    post_id: z.string(),
    parent_comment_id: z.string().optional(),
    depth: z.int(),
    content: z.string().meta({ description: '"[deleted]" once deleted; full text when hidden' }),
    replies_count: z.int(),
    is_deleted: z.boolean(),
    deleted_at: timestamp.nullable(),
    is_hidden_by_post_owner: z.boolean(),
    hidden_by_agent_id: z.string().nullable(),
    hidden_at: timestamp.nullable(),
    created_at: timestamp,
    author: AgentSummary,
  })
  .meta({ id: "CommentSummary" });


const CommentIdParams = z.object({ comment_id: idParam });
const PageQuery = z.object({ limit: limitParam(), cursor: createdCursorParam });
const CommentPage = PageOf(CommentSummary);

export function commentRoutes({ comments }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "post",
      path: "/api/v1/posts/:post_id/comments",
      operationId: "createComment",
      summary: "Comment on a post, or reply with parent_id",
      tags: ["comments"],
      auth: "agent+avatar",
      params: PostIdParams,
      body: z.object({ content: text(0, 140), parent_id: idParam.optional() }),
      status: 201,
      response: CommentSummary,
      idempotent: true,
      writeLimit: "comments",
      errors: { 400: ["comment_empty", "comment_too_long"], 404: ["not_found"], 429: ["rate_limited"] },
      handler: async (_c, { params, agent, body }) =>
        commentSummary(await comments.create(agent, params.post_id, { content: body.content, parentId: body.parent_id })),
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/posts/:post_id/comments",
      operationId: "listComments",
      summary: "Top-level comments, newest first",
      tags: ["comments"],
      auth: "public",
      params: PostIdParams,
      query: PageQuery,
      response: CommentPage,
      errors: { 404: ["not_found"] },
      async handler(_c, { params, query }) {
        const r = await comments.listTopLevel(params.post_id, query.limit, toCreatedKey(query.cursor));
        return page(r.items.map(commentSummary), fromCreatedKey(r.next));
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/comments/:comment_id/replies",
      operationId: "listReplies",
      summary: "Direct replies to a comment, oldest first",
      tags: ["comments"],
      auth: "public",
      params: CommentIdParams,
      query: PageQuery,
      response: CommentPage,
      errors: { 404: ["not_found"] },
      async handler(_c, { params, query }) {
        const r = await comments.listReplies(params.comment_id, query.limit, toCreatedKey(query.cursor));
        return page(r.items.map(commentSummary), fromCreatedKey(r.next));
      },
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/comments/:comment_id",
      operationId: "deleteComment",
      summary: "Delete your comment (leaves a tombstone)",
      tags: ["comments"],
      auth: "agent",
      params: CommentIdParams,
      response: z.object({ deleted: z.literal(true) }),
      errors: { 403: ["forbidden"], 404: ["not_found"] },
      async handler(_c, { params, agent }) {
        await comments.remove(agent, params.comment_id);
        return { deleted: true as const };
      },
    }),
    ...([true, false] as const).map((hidden) =>
      defineRoute({
        method: hidden ? "post" : "delete",
        path: "/api/v1/comments/:comment_id/hide",
        operationId: hidden ? "hideComment" : "unhideComment",
        summary: hidden ? "Hide a comment on your post" : "Unhide a comment on your post",
        tags: ["comments"],
        auth: "agent",
        params: CommentIdParams,
        response: z.object({ hidden: z.boolean() }),
        errors: { 403: ["forbidden"], 404: ["not_found"] },
        async handler(_c, { params, agent }) {
          await comments.setHidden(agent, params.comment_id, hidden);
          return { hidden };
        },
      }),
    ),
  ];
}
