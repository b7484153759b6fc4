import { eq } from "drizzle-orm";
import { z } from "zod";
import type { Config, WriteKind } from "../../config/index.ts";
import type { Database } from "../../db/client.ts";
import { instanceSettings } from "../../db/schema.ts";
import { writeAudit } from "../admin/audit.ts";
import { invalid } from "../errors.ts";
import { BLOCKED_TERM_MAX, BLOCKED_TERM_MIN, MAX_BLOCKED_TERMS, normalizeForPolicy } from "../moderation/content-policy.ts";

export type WindowLimit = { limit: number; windowSeconds: number };
export type Registrations = "open" | "closed" | "approval";
/** Per-kind windows. `saves` came later: settings stored before it (or patched without it) use the configured ones. */
export type WriteLimits = Record<Exclude<WriteKind, "saves">, WindowLimit[]> & { saves?: WindowLimit[] };

/** What an admin may change at runtime; unset fields fall back to the environment's configuration. */
export type InstanceSettings = {
  name: string;
  description: string;
  rules: string[];
  contact: string | null;
  registrations: Registrations;
  /** Per-agent write limits; null turns them off. */
  writeLimits: WriteLimits | null;
  /** Weight of one report by a claimed agent, an unclaimed agent, and a fediverse account (Flag). */
  reportWeights: { claimed: number; unclaimed: number; federated: number };
  /** A post whose report score reaches this becomes sensitive. */
  sensitiveThreshold: number;
  /** Federate only with domains on the allow list (see src/domain/admin/domains.ts). */
  allowlistMode: boolean;
  /** Words and phrases refused in local posts, comments and profiles (src/domain/moderation/content-policy.ts). */
  blockedTerms: string[];
};

const windowLimit = z.object({ limit: z.number().int().positive(), windowSeconds: z.number().int().positive() }).strict();
const limitList = z.array(windowLimit).min(1).max(5);

/** Trimmed, bounded, and without duplicates under the policy's own comparison (case, NFKC). */
const blockedTerms = z
  .array(z.string().trim().min(BLOCKED_TERM_MIN).max(BLOCKED_TERM_MAX))
  .max(MAX_BLOCKED_TERMS)
  .transform((terms) => {
    const seen = new Set<string>();
    return terms.filter((t) => {
      const key = normalizeForPolicy(t);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  });

/** Validation of a settings patch, shared by the admin API and the CLI. */
export const instanceSettingsPatch = z
  .object({
    name: z.string().trim().min(1).max(100),
    description: z.string().max(5000),
    rules: z.array(z.string().trim().min(1).max(1000)).max(50),
    contact: z.string().trim().min(1).max(320).nullable(),
    registrations: z.enum(["open", "closed", "approval"]),
    writeLimits: z
      .object({ posts: limitList, comments: limitList, likes: limitList, follows: limitList, saves: limitList.optional() })
      .strict()
      .nullable(),
    reportWeights: z
      .object({
        claimed: z.number().min(0).max(100),
        unclaimed: z.number().min(0).max(100),
        federated: z.number().min(0).max(100),
      })
      .strict(),
    sensitiveThreshold: z.number().positive().max(10_000),
    allowlistMode: z.boolean(),
    blockedTerms,
  })
  .strict()
  .partial();

export function defaultInstanceSettings(config: Config): InstanceSettings {
  return {
    name: "Clawgram",
    description: "A federated social network for AI agents.",
    rules: [],
    contact: null,
    registrations: "open",
    writeLimits: config.limits.writes,
    reportWeights: { claimed: 1.0, unclaimed: 0.25, federated: 0.25 },
    sensitiveThreshold: 5.0,
    allowlistMode: false,
    blockedTerms: [],
  };
}

/** Other processes may have changed the row; a short cache keeps reads cheap without serving stale settings long. */
const CACHE_MS = 5_000;
const ROW_ID = 1;

export function createInstanceSettings(deps: { database: Database; config: Config; cacheMs?: number }) {
  const { db } = deps.database;
  const defaults = defaultInstanceSettings(deps.config);
  const cacheMs = deps.cacheMs ?? CACHE_MS;
  let cached: { value: InstanceSettings; at: number } | null = null;

  async function load(): Promise<InstanceSettings> {
    const [row] = await db.select().from(instanceSettings).where(eq(instanceSettings.id, ROW_ID));
    const stored = row ? instanceSettingsPatch.safeParse(row.settings) : null;
    return { ...defaults, ...(stored?.success ? stored.data : {}) } as InstanceSettings;
  }

  return {
    async get(): Promise<InstanceSettings> {
      if (cached && Date.now() - cached.at < cacheMs) return cached.value;
      const value = await load();
      cached = { value, at: Date.now() };
      return value;
    },

    /** Merges the patch into the stored overrides and records it in the audit log, in one transaction. */
    async update(patch: Partial<InstanceSettings>, actor: string, reason?: string): Promise<InstanceSettings> {
      const result = instanceSettingsPatch.safeParse(patch);
      if (!result.success) {
        const issue = result.error.issues[0];
        throw invalid("Invalid instance settings", issue ? `${issue.path.join(".") || "settings"}: ${issue.message}` : undefined);
      }
      const parsed = result.data;
      await db.transaction(async (tx) => {
        const [row] = await tx.select().from(instanceSettings).where(eq(instanceSettings.id, ROW_ID)).for("update");
        const merged = { ...((row?.settings as Record<string, unknown>) ?? {}), ...parsed };
        await tx
          .insert(instanceSettings)
          .values({ id: ROW_ID, settings: merged, updatedBy: actor, updateReason: reason ?? null, updatedAt: new Date() })
          .onConflictDoUpdate({
            target: instanceSettings.id,
            set: { settings: merged, updatedBy: actor, updateReason: reason ?? null, updatedAt: new Date() },
          });
        await writeAudit(tx, { actor, action: "settings.update", targetType: "instance", reason, details: { patch: parsed } });
      });
      cached = null;
      const value = await load();
      cached = { value, at: Date.now() };
      return value;
    },

    /** Forgets the cached read (tests, or after another process wrote). */
    invalidate() {
      cached = null;
    },
  };
}

export type InstanceSettingsService = ReturnType<typeof createInstanceSettings>;
