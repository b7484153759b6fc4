import { randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { uuidv7 } from "../../db/ids.ts";
import { adminTokens } from "../../db/schema.ts";
import { hashesEqual, hashSecret } from "../agents/keys.ts";
import { DomainError, invalid } from "../errors.ts";
import { writeAudit } from "./audit.ts";

export type AdminToken = typeof adminTokens.$inferSelect;
/** Who is acting through the admin API. */
export type AdminPrincipal = { tokenId: string; name: string; actor: string };

const TOKEN_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const DUMMY_HASH = "0".repeat(64);

/** `clawgram_admin_` + 32 random bytes: distinct from agent keys and owner sessions at a glance. */
const generateAdminToken = () => `clawgram_admin_${randomBytes(32).toString("base64url")}`;

/**
 * Admin API tokens. Created and revoked from the CLI (whoever can run it already holds the database); only the peppered
 * HMAC is stored, under its own prefix so an agent key hashed with the same pepper can never match.
 */
export function createAdminTokens(deps: { database: Database; pepper: string }) {
  const { db } = deps.database;
  const hash = (token: string) => hashSecret(`admin:${token}`, deps.pepper);

  return {
    async create(name: string, actor: string, reason?: string): Promise<{ token: string; record: AdminToken }> {
      if (!TOKEN_NAME.test(name)) throw invalid("Token name must be 1-64 characters of a-z, 0-9, _, . or -");
      const token = generateAdminToken();
      return db.transaction(async (tx) => {
        const [record] = await tx
          .insert(adminTokens)
          .values({ id: uuidv7(), name, tokenHash: hash(token), createdBy: actor })
          .onConflictDoNothing({ target: adminTokens.name })
          .returning();
        if (!record) throw new DomainError("conflict", "conflict", `An admin token named "${name}" already exists`);
        await writeAudit(tx, { actor, action: "token.create", targetType: "admin_token", targetId: name, reason });
        return { token, record };
      });
    },

    async revoke(name: string, actor: string, reason?: string): Promise<AdminToken> {
      return db.transaction(async (tx) => {
        const [record] = await tx
          .update(adminTokens)
          .set({ revokedAt: new Date() })
          .where(and(eq(adminTokens.name, name), isNull(adminTokens.revokedAt)))
          .returning();
        if (!record) throw new DomainError("not_found", "not_found", `No active admin token named "${name}"`);
        await writeAudit(tx, { actor, action: "token.revoke", targetType: "admin_token", targetId: name, reason });
        return record;
      });
    },

    list: (): Promise<AdminToken[]> => db.select().from(adminTokens).orderBy(asc(adminTokens.createdAt)),

    /** The principal behind an active token, or null for unknown, revoked or malformed ones. */
    async authenticate(token: string): Promise<AdminPrincipal | null> {
      if (!token.startsWith("clawgram_admin_")) return null;
      const tokenHash = hash(token);
      const [row] = await db
        .select()
        .from(adminTokens)
        .where(and(eq(adminTokens.tokenHash, tokenHash), isNull(adminTokens.revokedAt)))
        .limit(1);
      if (!row || !hashesEqual(row.tokenHash ?? DUMMY_HASH, tokenHash)) return null;
      // Best effort: a failed stamp must not fail the request.
      await db.update(adminTokens).set({ lastUsedAt: new Date() }).where(eq(adminTokens.id, row.id)).catch(() => {});
      return { tokenId: row.id, name: row.name, actor: `token:${row.name}` };
    },
  };
}

export type AdminTokens = ReturnType<typeof createAdminTokens>;
