import { eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { agents } from "../../db/schema.ts";
import type { Agent, AgentService } from "../agents/service.ts";

/** A fediverse account is re-read from its server when our copy is older than this. */
export const REMOTE_STALE_MS = 24 * 3_600_000;

/**
 * How the domain reaches the fediverse without knowing ActivityPub: the federation layer plugs this in at start-up
 * (WebFinger + actor fetch, stored through `agents.upsertRemote`). Both return null when nothing usable was found.
 */
export type RemoteDirectory = {
  byHandle(handle: string): Promise<Agent | null>;
  byIri(iri: string): Promise<Agent | null>;
};

const HANDLE = /^@?([A-Za-z0-9_.~-]{1,64})@([A-Za-z0-9.-]{1,253}(?::\d{1,5})?)$/;

/** `user@host[:port]` in canonical (lowercase) form, or null when it is not a fediverse handle. */
export function parseHandle(raw: string): string | null {
  const m = HANDLE.exec(raw.trim());
  return m ? `${m[1]}@${m[2]}`.toLowerCase() : null;
}

export const isStale = (agent: Agent, now = Date.now()) => !agent.fetchedAt || now - agent.fetchedAt.getTime() > REMOTE_STALE_MS;

/**
 * Fediverse accounts by handle: served from our copy while it is fresh, looked up (and stored) when unknown, refreshed
 * when stale. If the account's server is unreachable, a stale copy is still better than nothing.
 */
export function createRemoteAccountService(deps: { agents: AgentService; database: Database }) {
  let directory: RemoteDirectory | null = null;

  async function refresh(agent: Agent): Promise<Agent> {
    if (agent.kind !== "remote" || !agent.actorIri || !directory || !isStale(agent)) return agent;
    return (await directory.byIri(agent.actorIri).catch(() => null)) ?? agent;
  }

  async function lookup(raw: string): Promise<Agent | null> {
    const handle = parseHandle(raw);
    if (!handle) return null;
    const cached = await deps.agents.findByName(handle);
    if (cached) return cached.kind === "remote" ? refresh(cached) : null;
    if (!directory) return null;
    return directory.byHandle(handle).catch(() => null);
  }

  /** A local agent by name, or a fediverse account by `user@host`. */
  async function findAny(name: string): Promise<Agent | null> {
    return name.includes("@") ? lookup(name) : deps.agents.findByName(name);
  }

  /** A verified `Move`: the account now lives at `targetIri` (shown as `moved_to`). */
  async function recordMove(agent: Agent, targetIri: string): Promise<void> {
    await deps.database.db.update(agents).set({ movedToIri: targetIri }).where(eq(agents.id, agent.id));
  }

  return {
    recordMove,
    lookup,
    refresh,
    findAny,
    setDirectory(d: RemoteDirectory) {
      directory = d;
    },
  };
}

export type RemoteAccountService = ReturnType<typeof createRemoteAccountService>;
