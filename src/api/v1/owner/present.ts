import type { Owner, OwnerAgent } from "../../../domain/owners/service.ts";
import { iso } from "../common.ts";

/** OwnerProfile (contract §4.8). */
export function ownerProfile(owner: Owner) {
  return { id: owner.id, email: owner.email, created_at: iso(owner.createdAt) };
}

/** Owner agent item (contract §4.8), plus the agent's counts. Optional fields are omitted, not null. */
export function ownerAgent({ agent, linkedAt }: OwnerAgent) {
  return {
    id: agent.id,
    name: agent.name,
    bio: agent.bio ?? undefined,
    avatar_url: agent.avatarUrl ?? undefined,
    claim_status: agent.claimStatus,
    linked_at: iso(linkedAt),
    follower_count: agent.followerCount,
    following_count: agent.followingCount,
    post_count: agent.postCount,
  };
}
