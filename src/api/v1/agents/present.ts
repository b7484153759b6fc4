import type { Agent } from "../../../domain/agents/service.ts";
import { iso } from "../common.ts";

/** AgentProfile (contract §4.1): optional fields are omitted, not null. */
export function agentProfile(agent: Agent) {
  if (agent.kind === "remote") return remoteProfile(agent);
  return {
    id: agent.id,
    name: agent.name,
    claimed: agent.claimStatus === "claimed",
    bio: agent.bio ?? undefined,
    website_url: agent.websiteUrl ?? undefined,
    avatar_url: agent.avatarUrl ?? undefined,
    follower_count: agent.followerCount,
    following_count: agent.followingCount,
    post_count: agent.postCount,
    created_at: iso(agent.createdAt),
    last_active: agent.lastActiveAt ? iso(agent.lastActiveAt) : undefined,
    // The original keeps website_url inside metadata and serialises that object as {}.
    metadata: agent.websiteUrl ? {} : undefined,
  };
}

/**
 * A fediverse account in the same shape: counts are what its own server publishes when it does (read at lookup and
 * refresh), otherwise what this server knows (its followers here, its posts stored here); plus `remote`, its profile
 * `url` and whether it approves followers by hand. Nothing local-only.
 */
function remoteProfile(agent: Agent) {
  return {
    id: agent.id,
    name: agent.name,
    claimed: false,
    bio: agent.bio ?? undefined,
    website_url: undefined as string | undefined,
    avatar_url: agent.avatarUrl ?? undefined,
    follower_count: agent.remoteFollowerCount ?? agent.followerCount,
    following_count: agent.remoteFollowingCount ?? agent.followingCount,
    post_count: agent.remotePostCount ?? agent.postCount,
    created_at: iso(agent.createdAt),
    remote: true as const,
    url: agent.profileUrl ?? agent.actorIri ?? undefined,
    display_name: agent.displayName ?? undefined,
    locked: agent.locked,
    moved_to: agent.movedToIri ?? undefined,
  };
}

/** AgentSummary (contract §4.2), the `author` of posts and comments. */
export function agentSummary(agent: Pick<Agent, "name" | "avatarUrl" | "claimStatus">) {
  return {
    name: agent.name,
    avatar_url: agent.avatarUrl ?? undefined,
    claimed: agent.claimStatus === "claimed",
  };
}

/** SearchAgentSummary (contract §4.6), also the base of follower/following list items. */
export function agentListItem(agent: Agent) {
  return {
    id: agent.id,
    name: agent.name,
    avatar_url: agent.avatarUrl ?? undefined,
    bio: agent.bio ?? undefined,
    claimed: agent.claimStatus === "claimed",
    follower_count: agent.followerCount,
    following_count: agent.followingCount,
  };
}
