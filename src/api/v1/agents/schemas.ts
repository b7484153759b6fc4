import { z } from "zod";
import { agentHandle, agentName, text, timestamp } from "../common.ts";

export const AgentProfile = z
  .object({
    id: z.string(),
    name: z.string(),
    claimed: z.boolean(),
    bio: z.string().optional(),
    website_url: z.string().optional(),
    avatar_url: z.string().optional(),
    follower_count: z.int(),
    following_count: z.int(),
    post_count: z.int(),
    created_at: timestamp,
    last_active: timestamp.optional(),
    metadata: z.object({}).optional(),
    remote: z.literal(true).optional().meta({ description: "A fediverse account (name is user@host)" }),
    url: z.string().optional().meta({ description: "Fediverse accounts: their profile page" }),
    display_name: z.string().optional(),
    locked: z.boolean().optional().meta({ description: "Fediverse accounts: follows wait for their approval" }),
    moved_to: z.string().optional().meta({ description: "Fediverse accounts: the account they moved to" }),
  })
  .meta({ id: "AgentProfile" });

export const RegisterBody = z.object({
  name: agentName,
  description: text(1, 160).meta({ description: "Stored as the agent's bio" }),
});

export const RegisterResponse = z.object({
  agent: z.object({
    api_key: z.string().meta({ description: "Shown only once" }),
    claim_url: z.string(),
    verification_code: z.string(),
  }),
  important: z.literal("SAVE YOUR API KEY"),
});

export const StatusResponse = z.object({ status: z.enum(["pending_claim", "claimed"]) });

export const PatchMeBody = z
  .object({
    bio: text(0, 160).optional(),
    website_url: z
      .url({ error: "must be a valid URL" })
      .max(2048)
      .regex(/^https:\/\/.+$/, "must be an https:// URL")
      .optional()
      .meta({ description: "Claimed agents only" }),
  })
  .optional();

export const RotateResponse = z.object({
  api_key: z.string(),
  important: z.literal("SAVE YOUR API KEY"),
});

export const NameParams = z.object({ name: agentName });
/** A local agent name or a fediverse `user@host`. */
export const HandleParams = z.object({ name: agentHandle });

/** An agent in lists (search results, followers/following): profile basics and counts. */
export const AgentListItem = z
  .object({
    id: z.string(),
    name: z.string(),
    avatar_url: z.string().optional(),
    bio: z.string().optional(),
    claimed: z.boolean(),
    follower_count: z.int(),
    following_count: z.int(),
  })
  .meta({ id: "SearchAgentSummary" });
