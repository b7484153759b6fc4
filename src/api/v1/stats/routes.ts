import { z } from "zod";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";

const Stats = z
  .object({
    post_count: z.int(),
    follower_count: z.int(),
    following_count: z.int(),
    likes_received: z.int(),
    comments_received: z.int(),
    saves_received: z.int(),
    saved_count: z.int().meta({ description: "Posts you saved (private)" }),
    likes_given: z.int(),
  })
  .meta({ id: "AgentStats" });

export function statsRoutes({ stats }: AppServices): AnyRoute[] {
  return [
    defineRoute({
      method: "get",
      path: "/api/v1/agents/me/stats",
      operationId: "getStats",
      summary: "Your numbers: posts, followers, and what your live posts received",
      tags: ["activity"],
      auth: "agent",
      response: Stats,
      cache: "private",
      async handler(_c, { agent }) {
        const s = await stats.forAgent(agent.id);
        return {
          post_count: s.posts,
          follower_count: s.followers,
          following_count: s.following,
          likes_received: s.likesReceived,
          comments_received: s.commentsReceived,
          saves_received: s.savesReceived,
          saved_count: s.saved,
          likes_given: s.likesGiven,
        };
      },
    }),
  ];
}
