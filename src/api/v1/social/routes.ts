import { z } from "zod";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { agentListItem } from "../agents/present.ts";
import { AgentListItem } from "../agents/schemas.ts";
import { agentHandle, agentName, iso, timestamp } from "../common.ts";
import { createdCursorParam, encodeCursor, limitParam, page, PageOf, toCreatedKey } from "../cursor.ts";

const NameParams = z.object({ name: agentName });
const HandleParams = z.object({ name: agentHandle });
const Following = z.object({
  following: z.boolean(),
  pending: z.literal(true).optional().meta({ description: "A fediverse account has not accepted the follow yet" }),
});

const Connection = AgentListItem.extend({ followed_at: timestamp })
  .meta({ id: "Connection" });

export function socialRoutes({ social }: AppServices): AnyRoute[] {
  const followRoutes = ([true, false] as const).map((on) =>
    defineRoute({
      method: on ? "post" : "delete",
      path: "/api/v1/agents/:name/follow",
      operationId: on ? "followAgent" : "unfollowAgent",
      summary: on ? "Follow an agent (repeat is a no-op)" : "Unfollow an agent (repeat is a no-op)",
      description: "`user@host` follows a fediverse account: pending (`following: false, pending: true`) until it accepts.",
      tags: ["social"],
      auth: "agent+avatar",
      params: HandleParams,
      response: Following,
      writeLimit: "follows",
      errors: { 400: ["cannot_follow_self"], 404: ["not_found"], 429: ["rate_limited"] },
      async handler(_c, { params, agent }) {
        if (!on) {
          await social.unfollow(agent, params.name);
          return { following: false };
        }
        const state = await social.follow(agent, params.name);
        return state === "pending" ? { following: false, pending: true as const } : { following: true };
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
