import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { Database, Db } from "../../db/client.ts";
import { uuidv7 } from "../../db/ids.ts";
import { adminAuditLog } from "../../db/schema.ts";

export type AuditEntry = typeof adminAuditLog.$inferSelect;

export type AuditInput = {
  actor: string;
  action: string;
  targetType?: string;
  targetId?: string;
  reason?: string | null;
  details?: Record<string, unknown>;
};

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** Writes one audit entry; pass the transaction of the action so the entry exists exactly when the action does. */
export async function writeAudit(db: Db | Tx, input: AuditInput): Promise<AuditEntry> {
  const [row] = await db
    .insert(adminAuditLog)
    .values({
      id: uuidv7(),
      actor: input.actor,
      action: input.action,
      targetType: input.targetType ?? null,
      targetId: input.targetId ?? null,
      reason: input.reason ?? null,
      details: input.details ?? null,
    })
    .returning();
  return row!;
}

export function createAuditLog(deps: { database: Database }) {
  const { db } = deps.database;
  return {
    write: (input: AuditInput) => writeAudit(db, input),

    /** Newest first; `before` is the id of the last entry of the previous page (ids are time-ordered UUIDv7). */
    async list(query: { limit: number; before?: string; action?: string; targetId?: string }): Promise<AuditEntry[]> {
      const where: SQL[] = [];
      if (query.before) where.push(lt(adminAuditLog.id, query.before));
      if (query.action) where.push(eq(adminAuditLog.action, query.action));
      if (query.targetId) where.push(eq(adminAuditLog.targetId, query.targetId));
      return db
        .select()
        .from(adminAuditLog)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(adminAuditLog.id))
        .limit(query.limit);
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
