import { randomBytes } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import type { Sql } from "../db/client.ts";
import type { HotCache, Invalidation } from "../domain/discovery/hot-cache.ts";
import type { AppMetrics } from "./app-metrics.ts";

const log = getLogger(["clawgram", "ops", "cache"]);
const CHANNEL = "clawgram_cache";
/** Announced by triggers on instance_settings, domain_blocks and domain_allows (the payload is the table's name). */
const POLICY_CHANNEL = "clawgram_policy";

/** NOTIFY payloads are limited to 8000 bytes: past this many ids, a batch is sent as "clear everything". */
const MAX_IDS = 150;

/**
 * Relays hot-cache invalidations between every process sharing the database: a write invalidates the local cache at
 * once (hot-cache.ts) and is relayed with PostgreSQL NOTIFY (`<sender> *` to clear everything, `<sender> id,id,…`
 * for the entries showing those objects), so a reader on another web process does not see a page from before the
 * write for up to HOT_CACHE_MS. If a notification is lost (the LISTEN connection dropped), entries still expire after
 * HOT_CACHE_MS: staleness stays bounded by that either way.
 *
 * Only for an external PostgreSQL: the embedded database serves a single process.
 */
export async function startCacheSync(deps: {
  sql: Sql;
  hotCache: HotCache;
  metrics?: AppMetrics;
  /**
   * Caches of the instance settings and the domain policy: forgotten when a trigger announces a write to their tables
   * (migration 0011, channel `clawgram_policy`), whoever made it (another process, the admin CLI).
   */
  policy?: { settings: { invalidate(): void }; domains: { invalidate(): void } };
}) {
  const self = randomBytes(8).toString("hex");
  let stopped = false;
  let sending = false;
  // What happened while a NOTIFY was in flight, folded into the next one: a burst costs two.
  let pendingAll = false;
  const pendingIds = new Set<string>();

  function publish(what: Invalidation) {
    if (stopped) return;
    if (what === "all") pendingAll = true;
    else for (const id of what) pendingIds.add(id);
    if (!sending) flush();
  }

  function flush() {
    if (!pendingAll && pendingIds.size === 0) return;
    const body = pendingAll || pendingIds.size > MAX_IDS ? "*" : [...pendingIds].join(",");
    pendingAll = false;
    pendingIds.clear();
    sending = true;
    deps.sql
      .notify(CHANNEL, `${self} ${body}`)
      .catch((error: unknown) => log.warning("Cache invalidation notify failed: {error}", { error }))
      .finally(() => {
        sending = false;
        if (!stopped) flush();
      });
  }

  deps.hotCache.onInvalidate((what) => {
    deps.metrics?.cacheCleared("local");
    publish(what);
  });

  const subscription = await deps.sql.listen(CHANNEL, (payload) => {
    const [sender, body = "*"] = payload.split(" ");
    if (sender === self) return;
    deps.hotCache.applyRemote(body === "*" ? "all" : body.split(",").filter((id) => /^[0-9a-f-]{36}$/.test(id)));
    deps.metrics?.cacheCleared("remote");
  });

  const policy = deps.policy;
  const policySubscription = policy
    ? await deps.sql.listen(POLICY_CHANNEL, (table) => {
        if (table === "instance_settings") policy.settings.invalidate();
        else policy.domains.invalidate();
      })
    : null;

  return {
    async stop() {
      stopped = true;
      // Bounded: an UNLISTEN stuck on a dying connection must not hold up shutdown.
      await Promise.race([
        Promise.all([subscription.unlisten(), policySubscription?.unlisten()]).catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 1000).unref()),
      ]);
    },
  };
}
