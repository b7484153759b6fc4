import { and, asc, eq, exists, gt, isNull, sql } from "drizzle-orm";
import type { Database, Db } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agentOwnerships, agents, apiKeys, ownerApiKeyRotations, ownerEmailTokens, owners, ownerSessions } from "../../db/schema.ts";
import type { Agent } from "../agents/service.ts";
import { generateApiKey, hashesEqual, hashSecret, type KeyEnvironment } from "../agents/keys.ts";
import { DomainError, forbidden, invalid } from "../errors.ts";
import type { MailOutbox } from "../mail/outbox.ts";
import { normalizeEmail } from "./email.ts";
import { claimLink, claimMail, loginMail } from "./messages.ts";

type Transaction = Parameters<Parameters<Db["transaction"]>[0]>[0];
import { generateEmailToken, generateSessionToken } from "./tokens.ts";

export type Owner = typeof owners.$inferSelect;
/** The owner a request acts as, and the session it presented (so logout can revoke exactly that one). */
export type AuthenticatedOwner = { owner: Owner; sessionId: string };

export type OwnerAgent = { agent: Agent; linkedAt: Date };

export type OwnerServiceDeps = {
  database: Database;
  outbox: MailOutbox;
  /** Pepper of the HMACs of email tokens and sessions (OWNER_TOKEN_PEPPER). */
  tokenPepper: string;
  /** Pepper and key flavour of agent API keys, for owner-driven rotation. */
  apiKeyPepper: string;
  keyEnvironment: KeyEnvironment;
  emailTokenTtlMs: number;
  sessionTtlMs: number;
  /** Origin of the claim link in mails. */
  publicUrl: URL;
};

const DUMMY_HASH = "0".repeat(64);

const invalidEmail = () => invalid("Invalid email address", "Send a plain address like owner@example.com");
const invalidToken = () => new DomainError("invalid", "invalid_owner_token", "Invalid owner token");
const consumedToken = () => new DomainError("conflict", "owner_token_consumed", "Owner token was already used", "Request a new one");
const expiredToken = () => new DomainError("invalid", "owner_token_expired", "Owner token has expired", "Request a new one");
const notLinked = () => forbidden("Agent is not linked to this owner");

/**
 * Human owners of agents (contract §3.2, §6.2, §6.3): email proof by one-time tokens, 30-day sessions, the claim state
 * machine, and key recovery. Tokens and sessions are stored only as HMAC-SHA-256 under OWNER_TOKEN_PEPPER.
 */
export function createOwnerService(deps: OwnerServiceDeps) {
  const { db } = deps.database;
  const hash = (secret: string) => hashSecret(secret, deps.tokenPepper);
  const ttlMinutes = Math.max(1, Math.round(deps.emailTokenTtlMs / 60_000));

  /** The canonical email, or 400: routes validate first, this guards other callers. */
  function canonicalEmail(raw: string): string {
    const email = normalizeEmail(raw);
    if (!email) throw invalidEmail();
    return email;
  }

  /** The owner row for a canonical email, created on first use. */
  async function upsertOwner(tx: Transaction, email: string) {
    const [owner] = await tx
      .insert(owners)
      .values({ id: uuidv7(), email })
      .onConflictDoUpdate({ target: owners.email, set: { updatedAt: sql`now()` } })
      .returning();
    return owner!;
  }

  /**
   * Links the agent to the owner of `email` (created if new) and mails a claim token bound to the agent. An agent
   * already linked to someone else is refused (403) and nothing is written.
   */
  async function setupOwnerEmail(agent: Agent, rawEmail: string): Promise<{ email: string; expiresAt: Date }> {
    const email = canonicalEmail(rawEmail);
    const token = generateEmailToken();
    const expiresAt = new Date(Date.now() + deps.emailTokenTtlMs);
    const mailId = await db.transaction(async (tx) => {
      const owner = await upsertOwner(tx, email);
      await tx.insert(agentOwnerships).values({ agentId: agent.id, ownerId: owner.id }).onConflictDoNothing({ target: agentOwnerships.agentId });
      // Read committed: a concurrent setup that linked first is visible here, and wins.
      const [link] = await tx.select({ ownerId: agentOwnerships.ownerId }).from(agentOwnerships).where(eq(agentOwnerships.agentId, agent.id));
      if (!link || link.ownerId !== owner.id) throw forbidden("Agent is already linked to another owner");
      await tx.insert(ownerEmailTokens).values({
        id: uuidv7(),
        ownerId: owner.id,
        tokenHash: hash(token),
        requestedByAgentId: agent.id,
        expiresAt,
      });
      return deps.outbox.enqueue(
        tx,
        claimMail({ to: email, agentName: agent.name, link: claimLink(deps.publicUrl, token), token, ttlMinutes }),
      );
    });
    deps.outbox.dispatch(mailId);
    return { email, expiresAt };
  }

  /** Mails a login/recovery token (never claims). Answers the same whether or not the email was known. */
  async function startEmailLogin(rawEmail: string): Promise<{ email: string; expiresAt: Date }> {
    const email = canonicalEmail(rawEmail);
    const token = generateEmailToken();
    const expiresAt = new Date(Date.now() + deps.emailTokenTtlMs);
    const mailId = await db.transaction(async (tx) => {
      const owner = await upsertOwner(tx, email);
      await tx.insert(ownerEmailTokens).values({ id: uuidv7(), ownerId: owner.id, tokenHash: hash(token), expiresAt });
      return deps.outbox.enqueue(tx, loginMail({ to: email, link: claimLink(deps.publicUrl, token), token, ttlMinutes }));
    });
    deps.outbox.dispatch(mailId);
    return { email, expiresAt };
  }

  /** Hash of a presented email token (trimmed first), also the key of its attempt limit. */
  const emailTokenHash = (rawToken: string) => hash(rawToken.trim());

  /**
   * Redeems an email token, atomically: the conditional UPDATE consumes it, so of racing completions exactly one
   * sees a row and the others get 409. A token issued by setup-owner-email claims its agent if the agent is still
   * linked to this owner. Unknown → 400 invalid_owner_token; consumed → 409; expired → 400 (consumed is checked first;
   * an expired token is left unconsumed by the rollback).
   */
  async function completeEmailLogin(rawToken: string) {
    const tokenHash = emailTokenHash(rawToken);
    return db.transaction(async (tx) => {
      const [row] = await tx
        .update(ownerEmailTokens)
        .set({ consumedAt: sql`now()` })
        .where(and(eq(ownerEmailTokens.tokenHash, tokenHash), isNull(ownerEmailTokens.consumedAt)))
        .returning();
      if (!row) {
        const [known] = await tx.select({ id: ownerEmailTokens.id }).from(ownerEmailTokens).where(eq(ownerEmailTokens.tokenHash, tokenHash)).limit(1);
        throw known ? consumedToken() : invalidToken();
      }
      if (row.expiresAt.getTime() <= Date.now()) throw expiredToken();
      let claimedAgentId: string | null = null;
      if (row.requestedByAgentId) {
        const [claimed] = await tx
          .update(agents)
          .set({ claimStatus: "claimed" })
          .where(
            and(
              eq(agents.id, row.requestedByAgentId),
              eq(agents.claimStatus, "pending_claim"),
              exists(
                tx
                  .select({ one: sql`1` })
                  .from(agentOwnerships)
                  .where(and(eq(agentOwnerships.agentId, agents.id), eq(agentOwnerships.ownerId, row.ownerId))),
              ),
            ),
          )
          .returning({ id: agents.id });
        claimedAgentId = claimed?.id ?? null;
      }
      const sessionToken = generateSessionToken();
      const expiresAt = new Date(Date.now() + deps.sessionTtlMs);
      await tx.insert(ownerSessions).values({ id: uuidv7(), ownerId: row.ownerId, tokenHash: hash(sessionToken), expiresAt });
      const [owner] = await tx.select().from(owners).where(eq(owners.id, row.ownerId));
      return { owner: owner!, sessionToken, expiresAt, claimedAgentId };
    });
  }

  /** The owner of a live session token, or null for unknown, expired, revoked or malformed ones. */
  async function authenticate(token: string): Promise<AuthenticatedOwner | null> {
    const tokenHash = hash(token);
    const [row] = await db
      .select({ owner: owners, sessionId: ownerSessions.id, tokenHash: ownerSessions.tokenHash })
      .from(ownerSessions)
      .innerJoin(owners, eq(owners.id, ownerSessions.ownerId))
      .where(and(eq(ownerSessions.tokenHash, tokenHash), isNull(ownerSessions.revokedAt), gt(ownerSessions.expiresAt, new Date())))
      .limit(1);
    const matches = hashesEqual(row?.tokenHash ?? DUMMY_HASH, tokenHash);
    return row && matches ? { owner: row.owner, sessionId: row.sessionId } : null;
  }

  /** Revokes one session (logout); its token fails from now on. */
  async function revokeSession(sessionId: string): Promise<void> {
    await db.update(ownerSessions).set({ revokedAt: sql`now()` }).where(and(eq(ownerSessions.id, sessionId), isNull(ownerSessions.revokedAt)));
  }

  /** The owner's agents, oldest link first. */
  async function listAgents(ownerId: string): Promise<OwnerAgent[]> {
    return db
      .select({ agent: agents, linkedAt: agentOwnerships.createdAt })
      .from(agentOwnerships)
      .innerJoin(agents, eq(agents.id, agentOwnerships.agentId))
      .where(eq(agentOwnerships.ownerId, ownerId))
      .orderBy(asc(agentOwnerships.createdAt), asc(agentOwnerships.agentId));
  }

  /**
   * Key recovery: replaces the key of one of the owner's agents (the old one dies with the commit) and records who did
   * it, in the same transaction. Not linked (or no such agent) → 403; linked without a key row → 404.
   */
  async function rotateAgentKey(ownerId: string, agentId: string, requestId: string | undefined): Promise<string> {
    if (!isUuid(agentId)) throw notLinked();
    return db.transaction(async (tx) => {
      const [link] = await tx
        .select({ agentId: agentOwnerships.agentId })
        .from(agentOwnerships)
        .where(and(eq(agentOwnerships.agentId, agentId), eq(agentOwnerships.ownerId, ownerId)))
        .for("share");
      if (!link) throw notLinked();
      const apiKey = generateApiKey(deps.keyEnvironment);
      const updated = await tx
        .update(apiKeys)
        .set({ keyHash: hashSecret(apiKey, deps.apiKeyPepper), rotatedAt: new Date() })
        .where(eq(apiKeys.agentId, agentId))
        .returning({ agentId: apiKeys.agentId });
      if (updated.length === 0) throw new DomainError("not_found", "not_found", "API key not found");
      await tx.insert(ownerApiKeyRotations).values({ id: uuidv7(), ownerId, agentId, requestId: requestId ?? null });
      return apiKey;
    });
  }

  /** Drops email tokens a day past expiry and sessions that expired or were revoked a day ago. */
  async function prune(): Promise<{ tokens: number; sessions: number }> {
    const { sql: q } = deps.database;
    const tokens = await q`DELETE FROM owner_email_tokens WHERE expires_at < now() - interval '1 day'`;
    const sessions = await q`
      DELETE FROM owner_sessions WHERE expires_at < now() OR revoked_at < now() - interval '1 day'`;
    return { tokens: tokens.count, sessions: sessions.count };
  }

  return {
    setupOwnerEmail,
    startEmailLogin,
    emailTokenHash,
    completeEmailLogin,
    authenticate,
    revokeSession,
    listAgents,
    rotateAgentKey,
    prune,
  };
}

export type OwnerService = ReturnType<typeof createOwnerService>;
