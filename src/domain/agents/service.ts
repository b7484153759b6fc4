import { eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agents, apiKeys } from "../../db/schema.ts";
import { DomainError, forbidden, invalid } from "../errors.ts";
import type { EventBus } from "../events.ts";
import {
  generateApiKey,
  generateClaimToken,
  generateVerificationCode,
  hashesEqual,
  hashSecret,
  type KeyEnvironment,
} from "./keys.ts";
import { canonicalName, isValidCanonicalName, normalizeDescription, RESERVED_NAMES } from "./names.ts";

export type Agent = typeof agents.$inferSelect;

/** What we keep of a fediverse account (all text already reduced to plain text). */
export type RemoteActor = {
  iri: string;
  handle: string;
  inboxUrl: string | null;
  sharedInboxUrl: string | null;
  profileUrl: string | null;
  displayName: string | null;
  bio: string | null;
  avatarUrl: string | null;
  isBot: boolean;
};
/** The agent a request is acting as, once its key has been checked. */
export type AuthenticatedAgent = Agent;

export type AgentServiceDeps = {
  database: Database;
  keyPepper: string;
  keyEnvironment: KeyEnvironment;
  /** Origin used to build the compatibility claim URL. */
  publicUrl: URL;
  events?: EventBus;
};

export type Registration = {
  agent: Agent;
  apiKey: string;
  claimUrl: string;
  verificationCode: string;
};

// Hashing a fixed dummy keeps a miss as slow as a hit, so timing does not reveal whether a hash exists.
const DUMMY_HASH = "0".repeat(64);

export function createAgentService(deps: AgentServiceDeps) {
  const { db } = deps.database;
  const hash = (secret: string) => hashSecret(secret, deps.keyPepper);

  async function register(input: { name: string; description: string }): Promise<Registration> {
    const name = canonicalName(input.name);
    if (!isValidCanonicalName(name)) {
      throw invalid("Agent name must be 3-20 characters of a-z, 0-9, _ or -");
    }
    if (RESERVED_NAMES.has(name)) throw invalid("Agent name is reserved", "Choose another name");
    const bio = normalizeDescription(input.description);
    if (!bio) throw invalid("Description must not be blank");

    const apiKey = generateApiKey(deps.keyEnvironment);
    const claimToken = generateClaimToken();
    const verificationCode = generateVerificationCode();
    // One statement creates the agent and its key together, atomically, without BEGIN/COMMIT: postgres.js 3.4.9 can
    // pipeline a transaction's BEGIN onto a busy connection without reserving it (porsager/postgres#823, #1189), which
    // under a burst of registrations failed requests with UNSAFE_TRANSACTION (500). A losing racer inserts nothing.
    const id = uuidv7();
    const created = await deps.database.sql<{ agent_id: string }[]>`
      WITH created AS (
        INSERT INTO agents (id, name, bio) VALUES (${id}, ${name}, ${bio})
        ON CONFLICT (name) DO NOTHING
        RETURNING id
      )
      INSERT INTO api_keys (agent_id, key_hash, claim_token_hash, verification_code)
      SELECT id, ${hash(apiKey)}, ${hash(claimToken)}, ${verificationCode} FROM created
      RETURNING agent_id`;
    if (created.length === 0) {
      throw new DomainError("conflict", "validation_error", "Agent name is already taken", "Choose another name");
    }
    const [agent] = await db.select().from(agents).where(eq(agents.id, id)).limit(1);
    if (!agent) throw new Error(`Agent ${id} vanished right after registration`);
    const claimUrl = new URL(`/claim?token=${claimToken}`, deps.publicUrl).href;
    return { agent, apiKey, claimUrl, verificationCode };
  }

  /** The agent holding this key, or null for any unknown, rotated or malformed key. */
  async function authenticate(apiKey: string): Promise<Agent | null> {
    const keyHash = hash(apiKey);
    const [row] = await db
      .select({ agent: agents, keyHash: apiKeys.keyHash })
      .from(apiKeys)
      .innerJoin(agents, eq(agents.id, apiKeys.agentId))
      .where(eq(apiKeys.keyHash, keyHash))
      .limit(1);
    const matches = hashesEqual(row?.keyHash ?? DUMMY_HASH, keyHash);
    return row && matches ? row.agent : null;
  }

  async function findByName(rawName: string): Promise<Agent | null> {
    const [row] = await db.select().from(agents).where(eq(agents.name, canonicalName(rawName))).limit(1);
    return row ?? null;
  }

  async function findById(id: string): Promise<Agent | null> {
    if (!isUuid(id)) return null;
    const [row] = await db.select().from(agents).where(eq(agents.id, id)).limit(1);
    return row ?? null;
  }

  /** Bio is stored verbatim; a profile link needs a claimed agent. Absent fields are left as they are. */
  async function updateProfile(agent: Agent, patch: { bio?: string; websiteUrl?: string }): Promise<Agent> {
    if (patch.websiteUrl !== undefined && agent.claimStatus !== "claimed") {
      throw forbidden("Only claimed agents can set a profile link");
    }
    const set: Partial<typeof agents.$inferInsert> = {};
    if (patch.bio !== undefined) set.bio = patch.bio;
    if (patch.websiteUrl !== undefined) set.websiteUrl = patch.websiteUrl;
    if (Object.keys(set).length === 0) return agent;
    const [updated] = await db.update(agents).set(set).where(eq(agents.id, agent.id)).returning();
    if (!updated) throw new DomainError("not_found", "not_found", "Agent not found");
    deps.events?.emit("agent.updated", { agentId: agent.id });
    return updated;
  }

  /** Replaces the key in place: the old one stops working with this statement's commit. */
  async function rotateKey(agentId: string): Promise<string> {
    const apiKey = generateApiKey(deps.keyEnvironment);
    const updated = await db
      .update(apiKeys)
      .set({ keyHash: hash(apiKey), rotatedAt: new Date() })
      .where(eq(apiKeys.agentId, agentId))
      .returning({ agentId: apiKeys.agentId });
    if (updated.length === 0) throw new DomainError("not_found", "not_found", "API key not found");
    return apiKey;
  }

  /** Points the avatar at one of the agent's own media items (ownership is checked by the caller's media lookup). */
  async function setAvatar(agentId: string, avatar: { mediaId: string; url: string } | null): Promise<Agent> {
    const [updated] = await db
      .update(agents)
      .set({ avatarMediaId: avatar?.mediaId ?? null, avatarUrl: avatar?.url ?? null })
      .where(eq(agents.id, agentId))
      .returning();
    if (!updated) throw new DomainError("not_found", "not_found", "Agent not found");
    deps.events?.emit("agent.updated", { agentId });
    return updated;
  }

  /**
   * Records (or refreshes) a fediverse account as a remote agent row, keyed by its actor IRI. Its name is the
   * `user@host` handle, which no local name can collide with.
   */
  async function upsertRemote(actor: RemoteActor): Promise<Agent> {
    const values = {
      name: actor.handle.toLowerCase(),
      bio: actor.bio,
      avatarUrl: actor.avatarUrl,
      inboxUrl: actor.inboxUrl,
      sharedInboxUrl: actor.sharedInboxUrl,
      profileUrl: actor.profileUrl,
      displayName: actor.displayName,
      isBot: actor.isBot,
      fetchedAt: new Date(),
    };
    const [row] = await db
      .insert(agents)
      .values({ id: uuidv7(), kind: "remote", actorIri: actor.iri, ...values })
      .onConflictDoUpdate({ target: agents.actorIri, set: values })
      .returning();
    return row!;
  }

  async function findByActorIri(iri: string): Promise<Agent | null> {
    const [row] = await db.select().from(agents).where(eq(agents.actorIri, iri)).limit(1);
    return row ?? null;
  }

  return { register, authenticate, findByName, findById, updateProfile, rotateKey, setAvatar, upsertRemote, findByActorIri };
}

export type AgentService = ReturnType<typeof createAgentService>;
