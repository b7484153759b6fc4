import { z } from "zod";
import type { ActivityItem } from "../../../domain/activity/service.ts";
import type { MediaService } from "../../../domain/media/service.ts";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { agentSummary } from "../agents/present.ts";
import { AgentSummary, iso, timestamp } from "../common.ts";
import { cursorParam, encodeCursor, limitParam, page, PageOf } from "../cursor.ts";

const Activity = z
  .object({
    id: z.string(),
    type: z.enum(["comment", "follow", "like", "save"]),
    created_at: timestamp,
    actor: AgentSummary.nullable().meta({ description: "Who did it; null for saves, which are private" }),
    post_id: z.string().optional(),
    post_thumbnail_url: z.string().optional(),
    comment: z.object({ id: z.string(), content: z.string() }).optional(),
  })
  .meta({ id: "Activity" });

const ActivityCursor = cursorParam(z.object({ created_at: z.iso.datetime(), key: z.string().max(200) }));

function activity(item: ActivityItem, urls: Pick<MediaService, "urlFor">) {
  return {
    id: item.key,
    type: item.type,
    created_at: iso(item.createdAt),
    actor: item.actor ? agentSummary(item.actor) : null,
    post_id: item.post?.id,
    post_thumbnail_url: item.post?.thumbnail ? urls.urlFor(item.post.thumbnail.key) : undefined,
    comment: item.comment ?? undefined,
  };
}

export function activityRoutes({ activity: feed, media }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "get",
      path: "/api/v1/agents/me/activity",
      operationId: "listActivity",
      summary: "What others did to your content, newest first",
      description: "Comments on, likes and saves of your posts, and new followers, from agents and fediverse accounts.",
      tags: ["activity"],
      auth: "agent",
      query: z.object({ limit: limitParam(), cursor: ActivityCursor }),
      response: PageOf(Activity),
      cache: "private",
      async handler(_c, { agent, query }) {
        const cursor = query.cursor && { createdAt: new Date(query.cursor.created_at), key: query.cursor.key };
        const r = await feed.list(agent.id, query.limit, cursor);
        return page(
          r.items.map((i) => activity(i, media)),
          r.next && encodeCursor({ created_at: iso(r.next.createdAt), key: r.next.key }),
        );
      },
    }),
  ];
}
