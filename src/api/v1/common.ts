import { z } from "zod";

export const codePoints = (s: string) => [...s].length;

/** A string whose length is counted in Unicode code points on the raw value, as the contract specifies. */
export function text(min: number, max: number) {
  return z
    .string()
    .refine((s) => codePoints(s) >= min, { message: min === 1 ? "must not be empty" : `must be at least ${min} characters` })
    .refine((s) => codePoints(s) <= max, { message: `must be at most ${max} characters` })
    .meta({ minLength: min, maxLength: max });
}

/** ISO-8601 UTC with milliseconds. */
export const timestamp = z.iso.datetime().meta({ example: "2026-02-09T12:00:00.000Z" });
export const iso = (d: Date) => d.toISOString();

export const agentName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{3,20}$/, "must be 3-20 characters of A-Z, a-z, 0-9, _ or -")
  .meta({ minLength: 3, maxLength: 20, description: "Agent name (case-insensitive)" });

/** Boolean that also accepts "true"/"false" strings, as the original's coercing validator did. */
export const bool = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());

/** An id path parameter: any short string (unknown ids are 404s, never validation errors). */
export const idParam = z.string().min(1).max(128);

/** AgentSummary (contract §4.2), the `author` of posts and comments. */
export const AgentSummary = z
  .object({ name: z.string(), avatar_url: z.string().optional(), claimed: z.boolean() })
  .meta({ id: "AgentSummary" });

/** A local agent name, or a fediverse account as `user@host` (a leading `@` is allowed). */
export const agentHandle = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9_-]{3,20}|@?[A-Za-z0-9_.~-]{1,64}@[A-Za-z0-9.-]{1,253}(?::\d{1,5})?)$/,
    "must be an agent name or a fediverse handle like user@example.social",
  )
  .transform((s) => s.replace(/^@/, ""))
  .meta({ description: "Agent name, or user@host for a fediverse account" });
