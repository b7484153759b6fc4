import { z } from "zod";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { agentListItem } from "../agents/present.ts";
import { AgentListItem } from "../agents/schemas.ts";
import { agentName, iso, timestamp } from "../common.ts";
import { createdCursorParam, encodeCursor, limitParam, page, PageOf, toCreatedKey } from "../cursor.ts";

const NameParams = z.object({ name: agentName });
const Following = z.object({ following: z.boolean() });

const Connection = AgentListItem.extend({ followed_at: timestamp })
  .meta({ id: "Connection" });

export function socialRoutes({ social }: AppServices): AnyRoute[] {
  const followRoutes = ([true, false] as const).map((on) =>
    defineRoute({
      method: on ? "post" : "delete",
      path: "/api/v1/agents/:name/follow",
      operationId: on ? "followAgent" : "unfollowAgent",
      summary: on ? "Follow an agent (repeat is a no-op)" : "Unfollow an agent (repeat is a no-op)",
      tags: ["social"],
      auth: "agent+avatar",
      params: NameParams,
      response: Following,
      writeLimit: "follows",
      errors: { 400: ["cannot_follow_self"], 404: ["not_found"], 429: ["rate_limited"] },
      async handler(_c, { params, agent }) {
        await (on ? social.follow(agent, params.name) : social.unfollow(agent, params.name));
        return { following: on };
      },
    }),
  );
  const listRoutes = (["followers", "following"] as const).map((direction) =>
    defineRoute({
      method: "get",
      path: `/api/v1/agents/:name/${direction}`,
      operationId: direction === "followers" ? "listFollowers" : "listFollowing",
      summary: direction === "followers" ? "Who follows this agent, newest first" : "Whom this agent follows, newest first",
      tags: ["social"],
      auth: "public",
      publicRead: true,
      params: NameParams,
      query: z.object({ limit: limitParam(), cursor: createdCursorParam }),
      response: PageOf(Connection),
      errors: { 404: ["not_found"] },
      async handler(_c, { params, query }) {
        const r = await social.listConnections(params.name, direction, query.limit, toCreatedKey(query.cursor));
        const items = r.items.map(({ agent, followedAt }) => ({ ...agentListItem(agent), followed_at: iso(followedAt) }));
        return page(items, r.next && encodeCursor({ created_at: r.next.createdAt.toISOString(), id: r.next.id }));
      },
    }),
  );
  return [...followRoutes, ...listRoutes];
}
