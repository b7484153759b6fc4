import { randomBytes } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import type { Sql } from "../db/client.ts";
import { HOT_CACHE_INVALIDATING_EVENTS, type HotCache } from "../domain/discovery/hot-cache.ts";
import type { EventBus } from "../domain/events.ts";
import type { AppMetrics } from "./app-metrics.ts";

const log = getLogger(["clawgram", "ops", "cache"]);
const CHANNEL = "clawgram_cache";

/**
 * Clears the hot cache of every process sharing the database when any one of them writes: a write clears the local
 * cache at once (hot-cache.ts) and is relayed with PostgreSQL NOTIFY, so a reader on another web process does not see
 * the page from before the write for up to HOT_CACHE_MS. If a notification is lost (the LISTEN connection dropped),
 * entries still expire after HOT_CACHE_MS: staleness stays bounded by that either way.
 *
 * Only for an external PostgreSQL: the embedded database serves a single process.
 */
export async function startCacheSync(deps: { sql: Sql; events: EventBus; hotCache: HotCache; metrics?: AppMetrics }) {
  const self = randomBytes(8).toString("hex");
  const clearLocally = deps.hotCache.clear;
  let stopped = false;
  let sending = false;
  let again = false;

  // One NOTIFY in flight at a time; writes meanwhile are folded into one more after it, so a burst costs two.
  function publish() {
    if (stopped) return;
    if (sending) {
      again = true;
      return;
    }
    sending = true;
    deps.sql
      .notify(CHANNEL, self)
      .catch((error: unknown) => log.warning("Cache invalidation notify failed: {error}", { error }))
      .finally(() => {
        sending = false;
        if (again) {
          again = false;
          publish();
        }
      });
  }

  for (const name of HOT_CACHE_INVALIDATING_EVENTS) deps.events.on(name, () => {
    deps.metrics?.cacheCleared("local");
    publish();
  });
  // Explicit clears (e.g. after a moderation action) reach the other processes too.
  deps.hotCache.clear = () => {
    clearLocally();
    publish();
  };

  const subscription = await deps.sql.listen(CHANNEL, (sender) => {
    if (sender === self) return;
    clearLocally();
    deps.metrics?.cacheCleared("remote");
  });

  return {
    async stop() {
      stopped = true;
      deps.hotCache.clear = clearLocally;
      // Bounded: an UNLISTEN stuck on a dying connection must not hold up shutdown.
      await Promise.race([
        subscription.unlisten().catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 1000).unref()),
      ]);
    },
  };
}
