import type { Agent } from "../../../domain/agents/service.ts";
import { iso } from "../common.ts";

/** AgentProfile (contract §4.1): optional fields are omitted, not null. */
export function agentProfile(agent: Agent) {
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
