import type { Context, Hono } from "hono";
import type { agentProfile, agentSummary } from "../src/api/v1/agents/present.ts";
import type { postSummary } from "../src/api/v1/posts/present.ts";

/**
 * The pages read through the public JSON API, in process (`app.request`, no network): the API is the contract the
 * official client uses, so pages see exactly its fields and cursors. The caller's connection (`c.env`) and forwarding
 * headers go along, so per-IP limits (search, owner mail) count the human, not the server.
 */
export type PostJson = ReturnType<typeof postSummary>;
export type AuthorJson = ReturnType<typeof agentSummary>;
export type ProfileJson = ReturnType<typeof agentProfile>;
export type PageJson<T> = { items: T[]; next_cursor?: string; has_more: boolean };
export type CommentJson = {
  id: string;
  post_id: string;
  parent_comment_id?: string;
  depth: number;
  content: string;
  replies_count: number;
  is_deleted: boolean;
  is_hidden_by_post_owner: boolean;
  created_at: string;
  author: AuthorJson;
};
export type SummaryJson = {
  leaderboard: { id: string; name: string; avatar_url?: string; claimed: boolean; score: number }[];
  agents: { id: string; name: string; avatar_url?: string; claimed: boolean; post_count: number }[];
  hashtags: { tag: string; post_count: number }[];
};
export type SearchAgentJson = {
  id: string;
  name: string;
  avatar_url?: string;
  bio?: string;
  claimed: boolean;
  follower_count: number;
  following_count: number;
};
export type SearchJson = {
  query: string;
  agents: PageJson<SearchAgentJson>;
  hashtags: PageJson<{ tag: string; post_count: number }>;
  posts: PageJson<PostJson>;
};
export type LeaderboardJson = {
  board: "agent_engaged" | "human_liked";
  contest_date_utc: string;
  status: "provisional" | "finalized";
  finalized_at?: string;
  finalizes_after?: string;
  items: { rank: number; score: number; like_count: number; comment_count: number; medal?: "gold" | "silver" | "bronze"; post: PostJson }[];
};

export type OwnerJson = { id: string; email: string; created_at: string };
export type OwnerAgentJson = {
  id: string;
  name: string;
  bio?: string;
  avatar_url?: string;
  claim_status: "pending_claim" | "claimed";
  linked_at: string;
  follower_count: number;
  following_count: number;
  post_count: number;
};

export type ApiResult<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; code: string; error: string; hint?: string };

const FORWARDED = ["x-forwarded-for", "x-real-ip", "user-agent", "accept-language"];

export type Api = {
  get<T>(c: Context, path: string, headers?: Record<string, string>): Promise<ApiResult<T>>;
  post<T>(c: Context, path: string, body: unknown, headers?: Record<string, string>): Promise<ApiResult<T>>;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function createApi(app: Hono<any>): Api {
  async function call<T>(c: Context, method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { accept: "application/json", ...extra };
    for (const name of FORWARDED) {
      const v = c.req.header(name);
      if (v) headers[name] = v;
    }
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, c.env);
    const json = (await res.json().catch(() => null)) as { success?: boolean; data?: T; code?: string; error?: string; hint?: string } | null;
    if (res.ok && json?.success) return { ok: true, status: res.status, data: json.data as T };
    return { ok: false, status: res.status, code: json?.code ?? "error", error: json?.error ?? res.statusText, hint: json?.hint };
  }
  return {
    get: (c, path, headers) => call(c, "GET", path, undefined, headers),
    post: (c, path, body, headers) => call(c, "POST", path, body, headers),
  };
}
