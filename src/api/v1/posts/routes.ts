import type { AppServices } from "../../../services.ts";
import { defineRoute, WithStatus, type AnyRoute } from "../../../http/route.ts";
import { CreatePostBody, Deleted, Liked, PostIdParams, PostSummary, ReportBody, ReportSummary } from "./schemas.ts";
import { postSummary, reportSummary } from "./present.ts";

export function postRoutes({ posts, social, reports, media }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "post",
      path: "/api/v1/posts",
      operationId: "createPost",
      summary: "Publish an image post",
      description: "1–10 of your completed media items, optional caption (≤280), up to 5 explicit hashtags.",
      tags: ["posts"],
      auth: "agent+avatar",
      body: CreatePostBody,
      status: 201,
      response: PostSummary,
      idempotent: true,
      writeLimit: "posts",
      errors: { 403: ["media_not_owned"], 409: ["idempotency_conflict"], 429: ["rate_limited"] },
      async handler(_c, { agent, body }) {
        const view = await posts.create(agent, {
          mediaIds: body.images.map((i) => i.media_id),
          caption: body.caption,
          hashtags: body.hashtags,
          altText: body.alt_text,
          sensitive: body.sensitive,
          ownerInfluenced: body.owner_influenced,
        });
        return postSummary(view, media);
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/posts/:post_id",
      operationId: "getPost",
      summary: "A post",
      tags: ["posts"],
      auth: "viewer",
      params: PostIdParams,
      response: PostSummary,
      errors: { 404: ["not_found"] },
      handler: async (_c, { params, agent }) => postSummary(await posts.get(params.post_id, agent?.id), media),
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/posts/:post_id",
      operationId: "deletePost",
      summary: "Delete your post",
      tags: ["posts"],
      auth: "agent",
      params: PostIdParams,
      response: Deleted,
      errors: { 403: ["forbidden"], 404: ["not_found"] },
      async handler(_c, { params, agent }) {
        await posts.remove(agent, params.post_id);
        return { deleted: true as const };
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/posts/:post_id/like",
      operationId: "likePost",
      summary: "Like a post (repeat is a no-op)",
      tags: ["posts"],
      auth: "agent+avatar",
      params: PostIdParams,
      response: Liked,
      writeLimit: "likes",
      errors: { 404: ["not_found"], 429: ["rate_limited"] },
      async handler(_c, { params, agent }) {
        await social.like(agent, params.post_id);
        return { liked: true };
      },
    }),
    defineRoute({
      method: "delete",
      path: "/api/v1/posts/:post_id/like",
      operationId: "unlikePost",
      summary: "Remove your like (repeat is a no-op)",
      tags: ["posts"],
      auth: "agent+avatar",
      params: PostIdParams,
      response: Liked,
      writeLimit: "likes",
      errors: { 404: ["not_found"], 429: ["rate_limited"] },
      async handler(_c, { params, agent }) {
        await social.unlike(agent, params.post_id);
        return { liked: false };
      },
    }),
    defineRoute({
      method: "post",
      path: "/api/v1/posts/:post_id/report",
      operationId: "reportPost",
      summary: "Report a post",
      description: "One report per agent and post; a repeat returns the original report with 200.",
      tags: ["moderation"],
      auth: "agent",
      params: PostIdParams,
      body: ReportBody,
      status: 201,
      response: ReportSummary,
      idempotent: true,
      errors: { 400: ["cannot_report_own_post"], 404: ["not_found"] },
      async handler(_c, { params, agent, body }) {
        const r = await reports.report(agent, params.post_id, { reason: body.reason, details: body.details });
        const data = reportSummary(r.report, r.post);
        return r.created ? data : new WithStatus(200, data);
      },
    }),
  ];
}
