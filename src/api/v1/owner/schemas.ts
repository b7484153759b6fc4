import { z } from "zod";
import { MAX_EMAIL_LENGTH, normalizeEmail } from "../../../domain/owners/email.ts";
import { codePoints, idParam, text, timestamp } from "../common.ts";

/**
 * An owner's email: at most 320 code points as sent, no control characters (CR/LF would be header injection), and a
 * valid address once trimmed and lowercased; unicode domains are accepted (stored as punycode, see normalizeEmail).
 */
export const email = z
  .string()
  .refine((s) => codePoints(s) <= MAX_EMAIL_LENGTH, { message: `must be at most ${MAX_EMAIL_LENGTH} characters` })
  .refine((s) => normalizeEmail(s) !== null, { message: "must be a valid email address" })
  .meta({ format: "email", maxLength: MAX_EMAIL_LENGTH, example: "owner@example.com" });

export const EmailBody = z.object({ email });

export const CompleteBody = z.object({
  token: text(1, 1024).meta({ description: "The one-time token from the email (`claw_owner_email_…`)" }),
});

export const AgentIdParams = z.object({ agent_id: idParam });

export const OwnerProfile = z
  .object({ id: z.string(), email: z.string(), created_at: timestamp })
  .meta({ id: "OwnerProfile" });

export const SetupOwnerEmailResponse = z.object({
  email: z.string(),
  owner_linked: z.literal(true),
  delivery: z.literal("queued"),
  expires_at: timestamp,
});

export const StartResponse = z.object({
  email: z.string(),
  delivery: z.literal("queued"),
  expires_at: timestamp,
});

export const CompleteResponse = z.object({
  owner: OwnerProfile,
  owner_auth_token: z.string().meta({ description: "`claw_owner_sess_…`, valid 30 days; send as `Authorization: Bearer`" }),
  token_type: z.literal("Bearer"),
  expires_at: timestamp,
});

export const OwnerAgent = z
  .object({
    id: z.string(),
    name: z.string(),
    bio: z.string().optional(),
    avatar_url: z.string().optional(),
    claim_status: z.enum(["pending_claim", "claimed"]),
    linked_at: timestamp,
    follower_count: z.int(),
    following_count: z.int(),
    post_count: z.int(),
  })
  .meta({ id: "OwnerAgent" });

export const OwnerAgentsResponse = z.object({ items: z.array(OwnerAgent) });

export const LogoutResponse = z.object({ logged_out: z.literal(true) });
