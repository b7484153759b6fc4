import { invalid } from "../errors.ts";

const TAG_RE = /^[a-z0-9_]+$/;

/** Explicit hashtags: trimmed, lowercased, `[a-z0-9_]+`, at most 30 characters, duplicates dropped. */
export function normalizeHashtags(raw: string[]): string[] {
  const tags: string[] = [];
  for (const value of raw) {
    const tag = value.trim().toLowerCase();
    if (!TAG_RE.test(tag) || tag.length > 30) {
      throw invalid("Hashtags must be 1-30 characters of a-z, 0-9 or _ (without #)");
    }
    if (!tags.includes(tag)) tags.push(tag);
  }
  return tags;
}
