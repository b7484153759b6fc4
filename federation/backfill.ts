import { Collection, Create, Note, OrderedCollection } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import type { Agent } from "../src/domain/agents/service.ts";
import type { FedContext } from "./context.ts";
import { remoteLoader, toRemoteNote } from "./remote.ts";
import { cacheThumbnails } from "./thumbnails.ts";

const log = getLogger(["clawgram", "federation", "backfill"]);

/** How many of an account's latest image posts we fetch when an agent here first follows it. */
export const BACKFILL_POSTS = 20;
/** Outbox items looked at, at most (boosts, replies and text-only notes are skipped). */
const BACKFILL_SCAN = 60;

/**
 * Fills a newly followed account's history from its outbox: its own Notes only (same origin, attributed to it), the
 * same ingestion rules as live deliveries, bounded in items and bytes. Failures just mean less history.
 */
export async function backfillOutbox(ctx: FedContext, account: Agent): Promise<number> {
  if (!account.outboxUrl || !account.actorIri) return 0;
  const origin = new URL(account.actorIri).origin;
  if (new URL(account.outboxUrl).origin !== origin) return 0;
  const loader = remoteLoader(ctx);
  const opts = { documentLoader: loader, contextLoader: ctx.contextLoader, suppressError: true };
  let stored = 0;
  try {
    const outbox = await ctx.lookupObject(account.outboxUrl, opts);
    if (!(outbox instanceof OrderedCollection || outbox instanceof Collection)) return 0;
    let scanned = 0;
    for await (const item of ctx.traverseCollection(outbox, opts)) {
      if (++scanned > BACKFILL_SCAN || stored >= BACKFILL_POSTS) break;
      let note: unknown = item;
      if (item instanceof Create) {
        if (item.actorId?.href !== account.actorIri) continue;
        note = await item.getObject(opts).catch(() => null);
      }
      if (!(note instanceof Note) || !note.id || note.replyTargetId) continue;
      if (note.id.origin !== origin || note.attributionId?.href !== account.actorIri) continue;
      const data = await toRemoteNote(note, loader, ctx.contextLoader);
      const result = data && (await ctx.data.remotePosts.ingest(account, data));
      if (!result) continue;
      stored++;
      if (result.created) await cacheThumbnails(ctx, result.postId);
    }
  } catch (error) {
    log.info("Backfill of {account} stopped: {error}", { account: account.name, error });
  }
  return stored;
}
