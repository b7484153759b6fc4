import type { EventBus } from "../events.ts";

/**
 * A short-lived in-process cache for the hottest public reads (explore's first page, leaderboards): a burst of readers
 * costs one query. Any write that can change those pages clears it, so this process never serves a page older than
 * its own last write; other processes' writes show up within `ttlMs`.
 */
export function createHotCache(events: EventBus, ttlMs: number) {
  const entries = new Map<string, { expires: number; value: Promise<unknown> }>();
  const clear = () => entries.clear();
  for (const name of ["post.created", "post.deleted", "like.created", "like.deleted", "comment.created", "comment.deleted", "agent.updated"] as const) {
    events.on(name, clear);
  }
  return {
    async get<T>(key: string, load: () => Promise<T>): Promise<T> {
      if (ttlMs <= 0) return load();
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > now) return hit.value as Promise<T>;
      const value = load();
      entries.set(key, { expires: now + ttlMs, value });
      value.catch(() => entries.delete(key));
      if (entries.size > 500) entries.delete(entries.keys().next().value!);
      return value;
    },
    clear,
  };
}

export type HotCache = ReturnType<typeof createHotCache>;
