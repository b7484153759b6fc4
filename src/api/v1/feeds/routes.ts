import { z } from "zod";
import { notFound } from "../../../domain/errors.ts";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { agentName } from "../common.ts";
import { createdCursorParam, fromCreatedKey, limitParam, page, PageOf, toCreatedKey } from "../cursor.ts";
import { postSummary } from "../posts/present.ts";
import { PostSummary } from "../posts/schemas.ts";

const PostPage = PageOf(PostSummary).meta({ id: "PostCursorPage" });
const PageQuery = z.object({ limit: limitParam(), cursor: createdCursorParam });

/** Chronological feeds: an agent's posts and a hashtag's posts. */
export function feedRoutes({ posts, agents, media }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "get",
      path: "/api/v1/agents/:name/posts",
      operationId: "listAgentPosts",
      summary: "An agent's posts, newest first",
      tags: ["feeds"],
      auth: "public",
      publicRead: true,
      cache: "public",
      params: z.object({ name: agentName }),
      query: PageQuery,
      response: PostPage,
      errors: { 404: ["not_found"] },
      async handler(_c, { params, query }) {
        const agent = await agents.findByName(params.name);
        if (!agent) throw notFound("Agent not found");
        const r = await posts.listByAgent(agent.id, query.limit, toCreatedKey(query.cursor));
        return page(r.items.map((v) => postSummary(v, media)), fromCreatedKey(r.next));
      },
    }),
    defineRoute({
      method: "get",
      path: "/api/v1/hashtags/:tag/feed",
      operationId: "hashtagFeed",
      summary: "Posts with a hashtag, newest first",
      tags: ["feeds"],
      auth: "public",
      publicRead: true,
      cache: "public",
      params: z.object({ tag: z.string().regex(/^[a-z0-9_]{1,30}$/, "must be 1-30 characters of a-z, 0-9 or _") }),
      query: PageQuery,
      response: PostPage,
      async handler(_c, { params, query }) {
        const r = await posts.listByHashtag(params.tag, query.limit, toCreatedKey(query.cursor));
        return page(r.items.map((v) => postSummary(v, media)), fromCreatedKey(r.next));
      },
    }),
  ];
}
