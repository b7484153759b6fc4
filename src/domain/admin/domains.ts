import { asc, eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import type { HotCache } from "../discovery/hot-cache.ts";
import type { MediaService } from "../media/service.ts";
import { agents, domainAllows, domainBlocks } from "../../db/schema.ts";
import { DomainError, invalid } from "../errors.ts";
import type { InstanceSettingsService } from "../instance/settings.ts";
import { writeAudit } from "./audit.ts";

export type DomainBlock = typeof domainBlocks.$inferSelect;
export type Severity = DomainBlock["severity"];
export type DomainBlockInput = {
  severity: Severity;
  rejectMedia?: boolean;
  rejectReports?: boolean;
  publicComment?: string | null;
  privateComment?: string | null;
};

/** What the policy says about one remote host. */
export type DomainVerdict = {
  /** No deliveries to it, and its activities are refused. */
  refused: boolean;
  /** Its accounts are limited (hidden from explore, search and leaderboards). */
  limited: boolean;
  rejectMedia: boolean;
  rejectReports: boolean;
};

const OPEN: DomainVerdict = { refused: false, limited: false, rejectMedia: false, rejectReports: false };
const DOMAIN = /^(?=.{1,253}(:\d{1,5})?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/;

/** `Example.COM.` → `example.com`; a port is kept (loopback test peers are told apart by port). */
export function normalizeDomain(raw: string): string {
  let value = raw.trim().toLowerCase();
  if (/^https?:\/\//.test(value)) {
    try {
      value = new URL(value).host;
    } catch {
      // falls through to the pattern check
    }
  }
  value = value.replace(/\.$/, "");
  if (!DOMAIN.test(value)) throw invalid(`"${raw}" is not a domain name`, "e.g. spam.example or mastodon.example:8443");
  return value;
}

/** The rule that covers a host: the host itself (with or without port), else the nearest parent domain. */
function covering<T>(byDomain: Map<string, T>, host: string): T | undefined {
  const lower = host.toLowerCase();
  const direct = byDomain.get(lower);
  if (direct) return direct;
  let name = lower.replace(/:\d+$/, "");
  for (;;) {
    const rule = byDomain.get(name);
    if (rule) return rule;
    const dot = name.indexOf(".");
    if (dot < 0) return undefined;
    name = name.slice(dot + 1);
  }
}

/** SQL: the agent's actor IRI lives on `domain` or one of its subdomains. */
const onDomain = (domain: string) => {
  const hostOnly = domain.includes(":");
  return hostOnly
    ? sql`${agents.actorIri} LIKE ${`https://${domain}/%`} OR ${agents.actorIri} LIKE ${`http://${domain}/%`}`
    : sql`substring(${agents.actorIri} from '^https?://([^/:]+)') = ${domain} OR substring(${agents.actorIri} from '^https?://([^/:]+)') LIKE ${`%.${domain}`}`;
};

/** A short cache: every inbound activity and delivery asks, blocks change rarely (and clear it here when they do). */
const CACHE_MS = 5_000;

/**
 * Mastodon-style federation policy: domain blocks (`suspend` refuses everything, `limit` hides the domain's accounts
 * from discovery, `noop` only carries flags), plus an optional allow-list mode in which only listed domains federate.
 */
export function createDomainPolicy(deps: {
  database: Database;
  instance: InstanceSettingsService;
  /** Where rejected media is deleted from (local thumbnails of the domain's posts). */
  media?: Pick<MediaService, "purgeRemoteThumbnails">;
  hotCache?: Pick<HotCache, "clear">;
}) {
  const { db } = deps.database;
  let cache: { at: number; blocks: Map<string, DomainBlock>; allows: Set<string>; allowlist: boolean } | null = null;

  async function snapshot() {
    if (cache && Date.now() - cache.at < CACHE_MS) return cache;
    const [blocks, allows, settings] = await Promise.all([
      db.select().from(domainBlocks),
      db.select().from(domainAllows),
      deps.instance.get(),
    ]);
    cache = {
      at: Date.now(),
      blocks: new Map(blocks.map((b) => [b.domain, b])),
      allows: new Set(allows.map((a) => a.domain)),
      allowlist: settings.allowlistMode,
    };
    return cache;
  }

  async function verdict(hostOrUrl: string | URL): Promise<DomainVerdict> {
    const host = hostOf(hostOrUrl);
    return host === null ? OPEN : judge(await snapshot(), host);
  }

  /**
   * For code that cannot wait (rendering a page): whether we load no media from the URL's domain, by the policy as
   * last read in this process (read again in the background when older than the cache's lifetime).
   */
  function rejectsMediaNow(url: string): boolean {
    const host = hostOf(url);
    if (!cache || Date.now() - cache.at >= CACHE_MS) void snapshot().catch(() => {});
    if (host === null || !cache) return false;
    const v = judge(cache, host);
    return v.refused || v.rejectMedia;
  }

  function hostOf(hostOrUrl: string | URL): string | null {
    try {
      return typeof hostOrUrl === "string" && !hostOrUrl.includes("/") ? hostOrUrl : new URL(hostOrUrl).host;
    } catch {
      return null;
    }
  }

  function judge(s: NonNullable<typeof cache>, host: string): DomainVerdict {
    if (s.allowlist) {
      const allowed = covering(new Map([...s.allows].map((d) => [d, true])), host);
      if (!allowed) return { refused: true, limited: false, rejectMedia: true, rejectReports: true };
    }
    const block = covering(s.blocks, host);
    if (!block) return OPEN;
    return {
      refused: block.severity === "suspend",
      limited: block.severity === "limit",
      rejectMedia: block.rejectMedia || block.severity === "suspend",
      rejectReports: block.rejectReports || block.severity === "suspend",
    };
  }

  /** Ids of the remote accounts we know on `domain` (and its subdomains). */
  async function accountsOn(domain: string): Promise<string[]> {
    const rows = await db.select({ id: agents.id }).from(agents).where(sql`${agents.kind} = 'remote' AND (${onDomain(domain)})`);
    return rows.map((r) => r.id);
  }

  /**
   * Reject media: nothing we fetched from the domain stays. Its accounts' avatars (linked) are dropped and the local
   * thumbnails of their posts deleted with their files; the posts keep linking their images, as with caching off.
   * Audited as its own entry, after the block, with what was removed.
   */
  async function removeMedia(domain: string, accountIds: string[], actor: string) {
    const avatars = await db
      .update(agents)
      .set({ avatarUrl: null })
      .where(sql`${agents.kind} = 'remote' AND ${agents.avatarUrl} IS NOT NULL AND (${onDomain(domain)})`)
      .returning({ id: agents.id });
    let thumbnails = 0;
    // In slices: a big domain's accounts would not fit in one statement's parameters.
    for (let i = 0; deps.media && i < accountIds.length; i += 1000) thumbnails += await deps.media.purgeRemoteThumbnails(accountIds.slice(i, i + 1000));
    await writeAudit(db, {
      actor,
      action: "domain.reject_media",
      targetType: "domain",
      targetId: domain,
      details: { clearedAvatars: avatars.length, deletedThumbnails: thumbnails },
    });
  }

  return {
    verdict,
    rejectsMediaNow,
    normalizeDomain,
    invalidate: () => {
      cache = null;
    },

    listBlocks: () => db.select().from(domainBlocks).orderBy(asc(domainBlocks.domain)),
    listAllows: () => db.select().from(domainAllows).orderBy(asc(domainAllows.domain)),

    /** Creates or replaces the block of a domain; returns it and the accounts on the domain the severity applies to. */
    async block(rawDomain: string, input: DomainBlockInput, actor: string, reason?: string) {
      const domain = normalizeDomain(rawDomain);
      const values = {
        severity: input.severity,
        rejectMedia: input.rejectMedia ?? false,
        rejectReports: input.rejectReports ?? false,
        publicComment: input.publicComment ?? null,
        privateComment: input.privateComment ?? null,
        updatedAt: new Date(),
      };
      const block = await db.transaction(async (tx) => {
        const [row] = await tx
          .insert(domainBlocks)
          .values({ domain, ...values })
          .onConflictDoUpdate({ target: domainBlocks.domain, set: values })
          .returning();
        await writeAudit(tx, { actor, action: "domain.block", targetType: "domain", targetId: domain, reason, details: { ...values, updatedAt: undefined } });
        return row!;
      });
      cache = null;
      await snapshot(); // pages rendered from now on (rejectsMediaNow) already see the block
      const accountIds = await accountsOn(domain);
      if (block.rejectMedia || block.severity === "suspend") await removeMedia(domain, accountIds, actor);
      deps.hotCache?.clear();
      return { block, accountIds: input.severity === "noop" ? [] : accountIds };
    },

    async unblock(rawDomain: string, actor: string, reason?: string): Promise<DomainBlock> {
      const domain = normalizeDomain(rawDomain);
      const removed = await db.transaction(async (tx) => {
        const [row] = await tx.delete(domainBlocks).where(eq(domainBlocks.domain, domain)).returning();
        if (!row) throw new DomainError("not_found", "not_found", `${domain} is not blocked`);
        await writeAudit(tx, { actor, action: "domain.unblock", targetType: "domain", targetId: domain, reason });
        return row;
      });
      cache = null;
      await snapshot();
      deps.hotCache?.clear();
      return removed;
    },

    async allow(rawDomain: string, actor: string, reason?: string) {
      const domain = normalizeDomain(rawDomain);
      await db.transaction(async (tx) => {
        await tx.insert(domainAllows).values({ domain }).onConflictDoNothing();
        await writeAudit(tx, { actor, action: "domain.allow", targetType: "domain", targetId: domain, reason });
      });
      cache = null;
      return { domain };
    },

    async disallow(rawDomain: string, actor: string, reason?: string) {
      const domain = normalizeDomain(rawDomain);
      await db.transaction(async (tx) => {
        const [row] = await tx.delete(domainAllows).where(eq(domainAllows.domain, domain)).returning();
        if (!row) throw new DomainError("not_found", "not_found", `${domain} is not on the allow list`);
        await writeAudit(tx, { actor, action: "domain.disallow", targetType: "domain", targetId: domain, reason });
      });
      cache = null;
      return { domain };
    },

    /** A fediverse account just stored: the policy of its domain applies to it (limit, suspend, reject media). */
    async applyToRemote<A extends { id: string; actorIri: string | null; kind: string; limitedAt: Date | null; suspendedAt: Date | null; avatarUrl: string | null }>(agent: A): Promise<A> {
      if (agent.kind !== "remote" || !agent.actorIri) return agent;
      const v = await verdict(agent.actorIri);
      const set: Partial<typeof agents.$inferInsert> = {};
      if (v.limited && !agent.limitedAt) set.limitedAt = new Date();
      if (v.refused && !agent.suspendedAt) set.suspendedAt = new Date();
      if (v.rejectMedia && agent.avatarUrl) set.avatarUrl = null;
      if (Object.keys(set).length === 0) return agent;
      await db.update(agents).set(set).where(eq(agents.id, agent.id));
      return { ...agent, ...set };
    },
  };
}

export type DomainPolicy = ReturnType<typeof createDomainPolicy>;
