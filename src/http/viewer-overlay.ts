/**
 * A shared public page made personal: the anonymous response of a hot-cached read plus the caller's own fields. Only
 * PostSummary carries viewer fields (`viewer_has_liked`, `viewer_follows_author`, present exactly when the request is
 * authenticated), so an authenticated read of explore, a hashtag or profile feed or search is the cached anonymous
 * page with those two fields filled in for each post, instead of a whole handler run per caller.
 */

type Json = unknown;
type PostLike = Record<string, unknown> & { id: string };
export type ViewerFlags = Map<string, { liked: boolean; follows: boolean }>;

/** A PostSummary as the presenters build it (these keys together appear on nothing else). */
const isPostSummary = (v: Record<string, unknown>): v is PostLike =>
  typeof v.id === "string" && typeof v.author === "object" && v.author !== null && "like_count" in v && "comment_count" in v;

/** The ids of every PostSummary in a response's data, in order, once each. */
export function postIdsIn(data: Json): string[] {
  const ids = new Set<string>();
  const walk = (v: Json) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (isPostSummary(o)) ids.add(o.id);
      else for (const x of Object.values(o)) walk(x);
    }
  };
  walk(data);
  return [...ids];
}

/**
 * A copy of `data` whose PostSummaries carry the viewer's fields, placed right after `author` as the presenter puts
 * them (so the bytes match what the handler would have answered). The shared `data` is not touched.
 */
export function withViewerFields(data: Json, flags: ViewerFlags): Json {
  const map = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(map);
    if (!v || typeof v !== "object") return v;
    const o = v as Record<string, unknown>;
    if (isPostSummary(o)) {
      const f = flags.get(o.id) ?? { liked: false, follows: false };
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) {
        if (k === "viewer_has_liked" || k === "viewer_follows_author") continue;
        out[k] = x;
        if (k === "author") {
          out.viewer_has_liked = f.liked;
          out.viewer_follows_author = f.follows;
        }
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = map(x);
    return out;
  };
  return map(data);
}
