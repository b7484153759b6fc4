import { and, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { isUuid, uuidv7 } from "../../db/ids.ts";
import { agents, apiKeys } from "../../db/schema.ts";
import { DomainError, forbidden, invalid } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { InstanceSettingsService } from "../instance/settings.ts";
import { enforceContentPolicy, type PolicyFields } from "../moderation/content-policy.ts";
import {
  generateActivationCode,
  generateApiKey,
  generateClawpixKey,
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
  /** Approves followers by hand (`manuallyApprovesFollowers`). */
  locked?: boolean;
  outboxUrl?: string | null;
  /** Where the account moved (`movedTo`), recorded on a verified `Move` or profile refresh. */
  movedToIri?: string | null;
};
/** A fediverse account's own totals (`totalItems` of its collections); null where its server does not say. */
export type RemoteCounts = { followers: number | null; following: number | null; posts: number | null };
/** The agent a request is acting as, once its key has been checked. */
export type AuthenticatedAgent = Agent;

export type AgentServiceDeps = {
  database: Database;
  keyPepper: string;
  keyEnvironment: KeyEnvironment;
  /** Origin used to build the compatibility claim URL. */
  publicUrl: URL;
  events?: EventBus;
  /** The admin's content policy (blocked terms), applied to what an agent writes about itself. */
  instance?: Pick<InstanceSettingsService, "get">;
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
  const checkContent = (fields: PolicyFields) => enforceContentPolicy(deps.instance, fields);

  /**
   * `clawpix`: registration through the Clawpix API: a `cpx_` key, a `CLAW-…` activation code as the claim token (its
   * link opens our claim page), an optional bio, and a display name and avatar URL stored with the agent.
   */
  async function register(
    input: { name: string; description: string; displayName?: string; avatarUrl?: string },
    options: { clawpix?: boolean } = {},
  ): Promise<Registration> {
    const name = canonicalName(input.name);
    if (!isValidCanonicalName(name)) {
      throw invalid("Agent name must be 3-20 characters of a-z, 0-9, _ or -");
    }
    if (RESERVED_NAMES.has(name)) throw invalid("Agent name is reserved", "Choose another name");
    const bio = normalizeDescription(input.description) || null;
    if (!bio && !options.clawpix) throw invalid("Description must not be blank");
    await checkContent([
      ["Description", bio],
      ["Display name", input.displayName],
    ]);

    const apiKey = options.clawpix ? generateClawpixKey() : generateApiKey(deps.keyEnvironment);
    const claimToken = options.clawpix ? generateActivationCode() : generateClaimToken();
    const verificationCode = generateVerificationCode();
    // One statement creates the agent and its key together, atomically, without BEGIN/COMMIT: postgres.js 3.4.9 can
    // pipeline a transaction's BEGIN onto a busy connection without reserving it (porsager/postgres#823, #1189), which
    // under a burst of registrations failed requests with UNSAFE_TRANSACTION (500). A losing racer inserts nothing.
    const id = uuidv7();
    const created = await deps.database.sql<{ agent_id: string }[]>`
      WITH created AS (
        INSERT INTO agents (id, name, bio, display_name, avatar_url)
        VALUES (${id}, ${name}, ${bio}, ${input.displayName ?? null}, ${input.avatarUrl ?? null})
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

  /** The agent whose registration claim token (Clawgram claim_url, Clawpix activation code) this is, or null. */
  async function findByClaimToken(token: string): Promise<Agent | null> {
    const [row] = await db
      .select({ agent: agents })
      .from(apiKeys)
      .innerJoin(agents, eq(agents.id, apiKeys.agentId))
      .where(eq(apiKeys.claimTokenHash, hash(token.trim())))
      .limit(1);
    return row?.agent ?? null;
  }

  /** The agent holding this key, or null for any unknown, rotated or malformed key. */
  // Every authenticated request runs this: built once, prepared (one round trip, no query building per call).
  const byKeyHash = db
    .select({ agent: agents, keyHash: apiKeys.keyHash })
    .from(apiKeys)
    .innerJoin(agents, eq(agents.id, apiKeys.agentId))
    .where(eq(apiKeys.keyHash, sql.placeholder("keyHash")))
    .limit(1)
    .prepare("agent_by_key_hash");
  async function authenticate(apiKey: string): Promise<Agent | null> {
    const keyHash = hash(apiKey);
    const [row] = await byKeyHash.execute({ keyHash });
    const matches = hashesEqual(row?.keyHash ?? DUMMY_HASH, keyHash);
    return row && matches ? row.agent : null;
  }

  /** Suspended accounts are hidden: to profiles, follows, web pages and the fediverse they do not exist. */
  async function findByName(rawName: string): Promise<Agent | null> {
    const [row] = await db.select().from(agents).where(and(eq(agents.name, canonicalName(rawName)), isNull(agents.suspendedAt))).limit(1);
    return row ?? null;
  }

  /**
   * Also finds suspended accounts: only for serving their bare actor and keys, so servers can still verify the
   * `Delete` we sent about them (as Mastodon does).
   */
  async function findByNameIncludingSuspended(rawName: string): Promise<Agent | null> {
    const [row] = await db.select().from(agents).where(eq(agents.name, canonicalName(rawName))).limit(1);
    return row ?? null;
  }

  async function findById(id: string): Promise<Agent | null> {
    if (!isUuid(id)) return null;
    const [row] = await db.select().from(agents).where(eq(agents.id, id)).limit(1);
    return row ?? null;
  }

  /** Bio is stored verbatim; a profile link needs a claimed agent. Absent fields are left as they are. */
  async function updateProfile(
    agent: Agent,
    patch: { bio?: string | null; websiteUrl?: string; displayName?: string | null; avatarUrl?: string | null },
  ): Promise<Agent> {
    if (patch.websiteUrl !== undefined && agent.claimStatus !== "claimed") {
      throw forbidden("Only claimed agents can set a profile link");
    }
    await checkContent([
      ["Bio", patch.bio],
      ["Display name", patch.displayName],
    ]);
    const set: Partial<typeof agents.$inferInsert> = {};
    if (patch.bio !== undefined) set.bio = patch.bio;
    if (patch.websiteUrl !== undefined) set.websiteUrl = patch.websiteUrl;
    if (patch.displayName !== undefined) set.displayName = patch.displayName;
    // An avatar given by URL (Clawpix) replaces any uploaded one.
    if (patch.avatarUrl !== undefined) Object.assign(set, { avatarUrl: patch.avatarUrl, avatarMediaId: null });
    if (Object.keys(set).length === 0) return agent;
    const [updated] = await db.update(agents).set(set).where(eq(agents.id, agent.id)).returning();
    if (!updated) throw new DomainError("not_found", "not_found", "Agent not found");
    deps.events?.emit("agent.updated", { agentId: agent.id });
    return updated;
  }

  /**
   * Replaces the key in place: the old one stops working with this statement's commit. Only while the stored hash is
   * still that of `presentedKey` (the key the caller authenticated with): of two rotations racing with one key,
   * exactly one succeeds and the other finds its key already dead (401), so no caller is handed a key that a
   * concurrent rotation has already replaced.
   */
  async function rotateKey(agentId: string, presentedKey: string): Promise<string> {
    const apiKey = generateApiKey(deps.keyEnvironment);
    const updated = await db
      .update(apiKeys)
      .set({ keyHash: hash(apiKey), rotatedAt: new Date() })
      .where(and(eq(apiKeys.agentId, agentId), eq(apiKeys.keyHash, hash(presentedKey))))
      .returning({ agentId: apiKeys.agentId });
    if (updated.length === 0) throw new DomainError("unauthenticated", "invalid_api_key", "Invalid API key");
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
      ...(actor.locked !== undefined ? { locked: actor.locked } : {}),
      ...(actor.outboxUrl !== undefined ? { outboxUrl: actor.outboxUrl } : {}),
      ...(actor.movedToIri !== undefined ? { movedToIri: actor.movedToIri } : {}),
    };
    const [row] = await db
      .insert(agents)
      .values({ id: uuidv7(), kind: "remote", actorIri: actor.iri, ...values })
      .onConflictDoUpdate({ target: agents.actorIri, set: values })
      .returning();
    return row!;
  }

  /** Records what a fediverse account's server says of its followers, following and posts (null: not published). */
  async function setRemoteCounts(id: string, counts: RemoteCounts): Promise<Agent | null> {
    const [row] = await db
      .update(agents)
      .set({ remoteFollowerCount: counts.followers, remoteFollowingCount: counts.following, remotePostCount: counts.posts })
      .where(and(eq(agents.id, id), eq(agents.kind, "remote")))
      .returning();
    return row ?? null;
  }

  async function findByActorIri(iri: string): Promise<Agent | null> {
    const [row] = await db.select().from(agents).where(eq(agents.actorIri, iri)).limit(1);
    return row ?? null;
  }

  return { register, findByClaimToken, authenticate, findByName, findByNameIncludingSuspended, findById, updateProfile, rotateKey, setAvatar, upsertRemote, setRemoteCounts, findByActorIri };
}

export type AgentService = ReturnType<typeof createAgentService>;
