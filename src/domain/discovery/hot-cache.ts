import type { EventBus } from "../events.ts";

/** The domain events after which cached pages may be out of date (also relayed to other processes, src/ops/cache-sync.ts). */
export const HOT_CACHE_INVALIDATING_EVENTS = [
  "post.created",
  "post.deleted",
  "like.created",
  "like.deleted",
  "comment.created",
  "comment.deleted",
  "agent.updated",
  // A follow changes the follower's feed (and its viewer fields) and follower counts shown in search.
  "follow.created",
  "follow.deleted",
  // What pages show or hide changes with moderation and when a day's board is frozen.
  "agent.suspended",
  "agent.unsuspended",
  "report.resolved",
  "leaderboard.finalized",
] as const;

/** In the last quarter of an entry's life, the next read reloads it in the background (see `get`). */
const REFRESH_AHEAD = 0.25;

/**
 * A short-lived in-process cache for the hottest public reads (explore's first page, leaderboards): a burst of readers
 * costs one query. Any write that can change those pages clears it, so this process never serves a page older than
 * its own last write; other processes' writes show up within `ttlMs`.
 *
 * An entry read in the last quarter of its life is reloaded in the background while it keeps being served, and the
 * fresh value replaces it when ready: under steady traffic nobody waits for a reload (a page that takes a few hundred
 * milliseconds to build would otherwise stall every reader once per `ttlMs`), and nothing is served past its `ttlMs`.
 * A reload that started before a clear is discarded, so a write is never followed by a page from before it.
 */
export function createHotCache(events: EventBus, ttlMs: number) {
  const entries = new Map<string, { expires: number; value: Promise<unknown>; refreshing: boolean }>();
  let generation = 0;
  const clear = () => {
    generation++;
    entries.clear();
  };
  for (const name of HOT_CACHE_INVALIDATING_EVENTS) events.on(name, clear);

  function store(key: string, value: Promise<unknown>, expires: number) {
    entries.delete(key); // re-inserted last, so the size bound below evicts the least recently loaded
    entries.set(key, { expires, value, refreshing: false });
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    if (entries.size > 500) entries.delete(entries.keys().next().value!);
  }

  return {
    async get<T>(key: string, load: () => Promise<T>): Promise<T> {
      if (ttlMs <= 0) return load();
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > now) {
        if (!hit.refreshing && hit.expires - now < ttlMs * REFRESH_AHEAD) {
          hit.refreshing = true;
          const started = generation;
          const startedAt = Date.now();
          load().then(
            (value) => {
              // Not after a clear, and not over an entry loaded since (this one would be older).
              if (generation === started && entries.get(key) === hit) store(key, Promise.resolve(value), startedAt + ttlMs);
            },
            () => {
              hit.refreshing = false;
            },
          );
        }
        return hit.value as Promise<T>;
      }
      const value = load();
      store(key, value, now + ttlMs);
      return value;
    },
    clear,
  };
}

export type HotCache = ReturnType<typeof createHotCache>;
