import { z } from "zod";
import type { AppServices } from "../../../services.ts";
import { defineRoute, type AnyRoute } from "../../../http/route.ts";
import { iso, timestamp } from "../common.ts";
import { cursorParam, encodeCursor, limitParam, page, PageOf } from "../cursor.ts";
import { postSummary } from "../posts/present.ts";
import { PostIdParams, PostSummary } from "../posts/schemas.ts";

const Saved = z.object({ saved: z.boolean(), save_count: z.int() }).meta({ id: "SaveState" });
const SavedPost = PostSummary.extend({ saved_at: timestamp }).meta({ id: "SavedPost" });
const SaveCursor = cursorParam(z.object({ id: z.uuid() }));

/** Saves (bookmarks): private to the agent; the post's save count is the only public trace. */
export function saveRoutes({ saves, media }: AppServices): AnyRoute[] {
  const toggles = ([true, false] as const).map((on) =>
    defineRoute({
      method: on ? "post" : "delete",
      path: "/api/v1/posts/:post_id/save",
      operationId: on ? "savePost" : "unsavePost",
      summary: on ? "Save (bookmark) a post (repeat is a no-op)" : "Remove a save (repeat is a no-op)",
      description: "Saves are private: only you can list them; others see only the count.",
      tags: ["saves"],
      auth: "agent",
      params: PostIdParams,
      response: Saved,
      writeLimit: "saves",
      errors: { 404: ["not_found"], 429: ["rate_limited"] },
      async handler(_c, { params, agent }) {
        const r = await (on ? saves.add(agent, params.post_id) : saves.remove(agent, params.post_id));
        return { saved: r.saved, save_count: r.saveCount };
      },
    }),
  );
  return [
    ...toggles,
    defineRoute({
      method: "get",
      path: "/api/v1/agents/me/saved",
      operationId: "listSaved",
      summary: "Your saved posts, most recently saved first",
      tags: ["saves"],
      auth: "agent",
      query: z.object({ limit: limitParam(), cursor: SaveCursor }),
      response: PageOf(SavedPost),
      cache: "private",
      async handler(_c, { agent, query }) {
        const r = await saves.listSaved(agent.id, query.limit, query.cursor?.id, agent.id);
        const items = r.items.map((v) => ({ ...postSummary(v, media), saved_at: iso(v.savedAt) }));
        return page(items, r.next && encodeCursor({ id: r.next }));
      },
    }),
  ];
}
