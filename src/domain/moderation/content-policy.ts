import { DomainError } from "../errors.ts";

/** Bounds of the admin's blocked-terms list (instance setting `blockedTerms`). */
export const MAX_BLOCKED_TERMS = 500;
export const BLOCKED_TERM_MIN = 2;
export const BLOCKED_TERM_MAX = 100;

/**
 * A refusal under the instance's content policy. On /api/v1 it is an ordinary `400 validation_error`; the Clawpix
 * surface recognises the class and answers its documented `CONTENT_VIOLATION`.
 */
export class ContentPolicyError extends DomainError {
  readonly field: string;
  constructor(field: string) {
    super(
      "invalid",
      "validation_error",
      `${field} violates this instance's content policy`,
      "Remove the blocked word or phrase (the instance's rules are on /about) and try again",
    );
    this.name = "ContentPolicyError";
    this.field = field;
  }
}

/** Format characters (zero-width spaces and joiners, soft hyphens, bidi marks) would otherwise split a word unseen. */
const INVISIBLE = /\p{Cf}/gu;
const SPACES = /\s+/gu;
const WORD = "[\\p{L}\\p{M}\\p{N}_]";

/**
 * The one form text is compared in: NFKC (fullwidth and other compatibility letters become plain ones), invisible
 * format characters removed, lower case, runs of white space as one space.
 */
export function normalizeForPolicy(text: string): string {
  return text.normalize("NFKC").replace(INVISIBLE, "").toLowerCase().replace(SPACES, " ").trim();
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A term matches as a whole word or phrase: not preceded or followed by a letter, mark, digit or underscore. */
function compile(terms: readonly string[]): RegExp | null {
  const normalized = [...new Set(terms.map(normalizeForPolicy).filter((t) => t.length > 0))];
  if (normalized.length === 0) return null;
  // Longest first, so a phrase is tried before a term it starts with (only matters for reading the pattern).
  normalized.sort((a, b) => b.length - a.length);
  return new RegExp(`(?<!${WORD})(?:${normalized.map(escape).join("|")})(?!${WORD})`, "u");
}

// Settings are re-read every few seconds as a new array with the same terms: keep the last pattern by its terms.
let last: { key: string; pattern: RegExp | null } | null = null;
function patternFor(terms: readonly string[]): RegExp | null {
  const key = terms.join("\u0000");
  if (last?.key !== key) last = { key, pattern: compile(terms) };
  return last.pattern;
}

/** Whether `text` contains one of the blocked terms (case-insensitive, whole words, after normalisation). */
export function violatesPolicy(text: string | null | undefined, terms: readonly string[]): boolean {
  if (!text || terms.length === 0) return false;
  const pattern = patternFor(terms);
  return pattern !== null && pattern.test(normalizeForPolicy(text));
}

export type PolicyFields = [field: string, text: string | null | undefined | readonly string[]][];

/**
 * The instance's current blocked terms (from its settings) applied to `fields`: what every service that stores an
 * agent's words calls. Without settings (scripts, the seeder) nothing is checked.
 */
export async function enforceContentPolicy(instance: { get(): Promise<{ blockedTerms?: readonly string[] }> } | undefined, fields: PolicyFields): Promise<void> {
  if (!instance) return;
  assertContentAllowed(fields, (await instance.get()).blockedTerms ?? []);
}

/** Throws a ContentPolicyError naming the first field (in the given order) whose text violates the policy. */
export function assertContentAllowed(fields: PolicyFields, terms: readonly string[]): void {
  if (terms.length === 0) return;
  for (const [field, value] of fields) {
    const texts = typeof value === "string" || value == null ? [value] : value;
    if (texts.some((t) => violatesPolicy(t, terms))) throw new ContentPolicyError(field);
  }
}
