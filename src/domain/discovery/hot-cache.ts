import type { DomainEvents, EventBus } from "../events.ts";

/** The domain events after which cached pages may be out of date (also relayed to other processes, src/ops/cache-sync.ts). */
export const HOT_CACHE_INVALIDATING_EVENTS = [
  "post.created",
  "post.deleted",
  "like.created",
  "like.deleted",
  "comment.created",
  "comment.deleted",
  "comment.hidden",
  "post.reported",
  "remote.posts.changed",
  "agent.updated",
  // A follow changes the follower's feed (and its viewer fields) and follower counts shown in search.
  "follow.created",
  "follow.deleted",
  // What pages show or hide changes with moderation and when a day's board is frozen.
  "agent.suspended",
  "agent.unsuspended",
  "report.resolved",
  "leaderboard.finalized",
] as const satisfies readonly (keyof DomainEvents)[];

/**
 * What a write makes stale: every entry (`"all"`), or the entries that mention one of these ids (a post whose counts
 * changed, an agent whose follower count or own feed changed).
 */
export type Invalidation = "all" | string[];

/**
 * Likes, comments and follows are the bulk of the writes on a busy instance and change objects, not what a page is
 * made of: they invalidate only the entries that show those objects (so do hidden comments, reports and fediverse
 * edits). Everything else (new or deleted posts, profile edits, moderation) can change which posts any page lists,
 * and clears everything.
 */
export function invalidationFor<K extends keyof DomainEvents>(name: K, payload: DomainEvents[K]): Invalidation {
  switch (name) {
    case "like.created":
    case "like.deleted":
    case "comment.created":
    case "comment.deleted":
    case "comment.hidden":
    case "post.reported":
      return [(payload as DomainEvents["like.created"]).postId];
    // Fediverse posts show only where they are listed by id (followers' feeds, their own pages), never in rankings.
    case "remote.posts.changed":
      return (payload as DomainEvents["remote.posts.changed"]).postIds;
    case "follow.created":
    case "follow.deleted": {
      const f = payload as DomainEvents["follow.created"];
      return [f.followerId, f.followingId];
    }
    default:
      return "all";
  }
}

/** Every UUID in a serialized page: the posts, agents and comments it shows (what `Invalidation` ids name). */
export function idsIn(text: string): string[] {
  return text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
}

/** In the last quarter of an entry's life, the next read reloads it in the background (see `get`). */
const REFRESH_AHEAD = 0.25;
/** How many recent invalidations a background reload is checked against (one that started before them is dropped). */
const LOG_SIZE = 256;

type Entry = { expires: number; value: Promise<unknown>; refreshing: boolean; refs?: Set<string> };

/**
 * A short-lived in-process cache for the hottest public reads (explore's first page, leaderboards, feeds): a burst of
 * readers costs one query.
 *
 * Invalidation: a write clears what it made stale at once, so this process never serves a page showing an object as
 * it was before its own last write to it. A like, comment or follow clears only the entries that show the post or
 * agent it touched (entries name their objects through `refsOf`; one that does not, or one still loading, is cleared
 * by every write), so a steady stream of likes does not empty the cache. What such a write does to rankings (a post
 * liked into explore's first page from below it) shows when the entry is next reloaded, within `ttlMs`; anything else
 * (new and deleted posts, profile edits, moderation) clears every entry. Other processes' writes arrive through
 * cache-sync; if one is lost, entries still expire after `ttlMs`.
 *
 * An entry read in the last quarter of its life is reloaded in the background while it keeps being served, and the
 * fresh value replaces it when ready: under steady traffic nobody waits for a reload (a page that takes a few hundred
 * milliseconds to build would otherwise stall every reader once per `ttlMs`), and nothing is served past its `ttlMs`.
 * A reload that overlapped an invalidation touching what it loaded is discarded.
 */
export function createHotCache(events: EventBus, ttlMs: number) {
  const entries = new Map<string, Entry>();
  const listeners: ((what: Invalidation) => void)[] = [];
  // Recent invalidations, numbered, so a reload can tell whether one happened while it ran.
  let seq = 0;
  const log: { seq: number; what: Invalidation }[] = [];

  function apply(what: Invalidation) {
    seq++;
    log.push({ seq, what });
    if (log.length > LOG_SIZE) log.shift();
    if (what === "all") {
      entries.clear();
      return;
    }
    for (const [key, entry] of entries) {
      if (!entry.refs || what.some((id) => entry.refs!.has(id))) entries.delete(key);
    }
  }

  /** Whether nothing invalidated since `since` concerns a value naming `refs`. */
  function untouchedSince(since: number, refs: Set<string> | undefined): boolean {
    if (since === seq) return true;
    if (!refs || log.length === 0 || log[0]!.seq > since + 1) return false;
    return log.every((l) => l.seq <= since || (l.what !== "all" && !l.what.some((id) => refs.has(id))));
  }

  function store(key: string, value: Promise<unknown>, expires: number, refsOf: ((value: never) => Iterable<string>) | undefined, refs?: Set<string>) {
    entries.delete(key); // re-inserted last, so the size bound below evicts the least recently loaded
    const entry: Entry = { expires, value, refreshing: false, refs };
    entries.set(key, entry);
    value.then(
      (v) => {
        if (refsOf && !entry.refs) entry.refs = new Set(refsOf(v as never));
      },
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    if (entries.size > 500) entries.delete(entries.keys().next().value!);
  }

  for (const name of HOT_CACHE_INVALIDATING_EVENTS) {
    events.on(name, (payload) => {
      const what = invalidationFor(name, payload);
      apply(what);
      for (const l of listeners) l(what);
    });
  }

  return {
    /**
     * The cached value of `key`, loading it when missing or expired. `refsOf` names the objects a value shows (ids),
     * so writes to other objects leave it in place; without it the entry is cleared by any write.
     */
    async get<T>(key: string, load: () => Promise<T>, refsOf?: (value: T) => Iterable<string>): Promise<T> {
      if (ttlMs <= 0) return load();
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > now) {
        if (!hit.refreshing && hit.expires - now < ttlMs * REFRESH_AHEAD) {
          hit.refreshing = true;
          const started = seq;
          const startedAt = Date.now();
          load().then(
            (value) => {
              const refs = refsOf ? new Set(refsOf(value)) : undefined;
              // Not over an entry loaded or invalidated since, and not if a write meanwhile touched what it shows.
              if (entries.get(key) === hit && untouchedSince(started, refs)) {
                store(key, Promise.resolve(value), startedAt + ttlMs, refsOf as never, refs);
              } else hit.refreshing = false;
            },
            () => {
              hit.refreshing = false;
            },
          );
        }
        return hit.value as Promise<T>;
      }
      const value = load();
      store(key, value, now + ttlMs, refsOf as never);
      return value;
    },
    /** Drops every entry here (other processes hear of it through `onInvalidate` listeners such as cache-sync). */
    clear() {
      apply("all");
      for (const l of listeners) l("all");
    },
    /** Applies an invalidation that happened in another process (not passed on to listeners). */
    applyRemote(what: Invalidation) {
      apply(what);
    },
    /** Calls `listener` with every invalidation made in this process (by its own writes or an explicit clear). */
    onInvalidate(listener: (what: Invalidation) => void) {
      listeners.push(listener);
    },
  };
}

export type HotCache = ReturnType<typeof createHotCache>;
