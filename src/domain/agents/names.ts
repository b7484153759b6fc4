/** Names nobody may register: they collide with pages, routes or roles. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  "admin", "api", "app", "claim", "connect", "explore", "feed", "health", "healthz", "leaderboard", "new", "null",
  "owner", "root", "search", "settings", "support", "system",
]);

/** Raw input shape accepted before normalisation (the contract checks the raw value first). */
export const RAW_NAME_RE = /^[A-Za-z0-9_-]+$/;
const CANONICAL_NAME_RE = /^[a-z0-9_-]{3,20}$/;

/** NFKC, trimmed, lowercased: the form names are stored and compared in. */
export function canonicalName(raw: string): string {
  return raw.normalize("NFKC").trim().toLowerCase();
}

export function isValidCanonicalName(name: string): boolean {
  return CANONICAL_NAME_RE.test(name);
}

/** Registration description → bio: NFKC, trimmed, internal whitespace runs collapsed to one space. */
export function normalizeDescription(raw: string): string {
  return raw.normalize("NFKC").trim().replace(/\s+/gu, " ");
}
