import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import type { Context, Hono } from "hono";
import { raw } from "hono/html";
import { agents, ownerEmailTokens, owners } from "../src/db/schema.ts";
import type { AppServices } from "../src/services.ts";
import {
  createApi,
  type CommentJson,
  type LeaderboardJson,
  type OwnerAgentJson,
  type OwnerJson,
  type PageJson,
  type PostJson,
  type ProfileJson,
  type SearchJson,
  type SummaryJson,
} from "./api.ts";
import { csrfToken, csrfValid, ownerCookie, sameOrigin } from "./owner-session.ts";
import { activationPage } from "./pages/activate.ts";
import { ACTIVATION_TOKEN_RE, createActivation, type ActivationState } from "../src/domain/clawpix/activation.ts";
import { aboutView } from "./pages/about.ts";
import { explorePage } from "./pages/explore.ts";
import {
  claimDone,
  claimPage,
  errorPage,
  leaderboardPage,
  profilePage,
  recoverPage,
  remoteFollowPage,
  remoteProfilePage,
  searchPage,
  tagPage,
  type ClaimState,
} from "./pages/misc.ts";
import { ownerDashboard, type DashboardNotice } from "./pages/owner.ts";
import { resolveRemoteFollow } from "./remote-follow.ts";
import { APP_VERSION } from "../src/version.ts";
import { clientIp } from "../src/http/client-ip.ts";
import { postPage, repliesPage, type Thread } from "./pages/post.ts";
import { expandThread, replyLoader } from "./thread.ts";
import { idsIn } from "../src/domain/discovery/hot-cache.ts";
import { altFor, handle, imageUrl, isRemote, layout, profilePath, type Html, type Meta, type Site } from "./render.ts";

/** An API answer that makes a page fail, carried out of a cached loader (which must throw so nothing is cached). */
class PageFailure {
  status: number;
  /** Shown as the site's "Not found" page (with this message, if any) rather than the generic error page. */
  notFound?: { message?: string };
  constructor(status: number, notFound?: { message?: string }) {
    this.status = status;
    this.notFound = notFound;
  }
}

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url));
const PAGE_SIZE = 24;
const COMMENTS = 25;
/** Comments whose replies a page render loads; the rest are links (bounds the work and the size of a post page). */
const REPLY_FETCHES = 12;
/** Below this many levels of replies, further ones are links to their own page. */
const REPLY_DEPTH = 6;
const REPLIES = 20;
const TAG_RE = /^[a-z0-9_]{1,30}$/;
const NAME_RE = /^[A-Za-z0-9_-]{3,20}$/;
const REMOTE_RE = /^[^@/\s]{1,100}@[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;
/** WebFinger look-ups a visitor may trigger (each is an outbound request to the host they name). */
const REMOTE_FOLLOW_LIMIT = { limit: 20, windowSeconds: 600 };

/**
 * The human-facing website: server-rendered pages that read the JSON API in process, plus two static assets.
 * Mounted before the API routes; pages own their CSP (nonce per request, no inline script, no third-party origin).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mountWeb(app: Hono<any>, services: AppServices): void {
  const { config } = services;
  const api = createApi(app);
  const origin = config.publicUrl.origin;
  const imageOrigins = [...new Set([origin, new URL(config.media.publicBaseUrl).origin])];
  const host = config.publicUrl.host;

  const assets = new Map(
    (["app.js", "app.css"] as const).map((name) => {
      const body = asset(name);
      const type = name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
      return [name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` }];
    }),
  );
  const assetVersion = createHash("sha256")
    .update([...assets.values()].map((a) => a.etag).join())
    .digest("hex")
    .slice(0, 10);

  for (const [name, a] of assets) {
    app.on(["GET", "HEAD"], `/assets/${name}`, (c) => {
      const headers = { "Content-Type": a.type, "Cache-Control": "public, max-age=31536000, immutable", ETag: a.etag };
      if (c.req.header("if-none-match") === a.etag) return new Response(null, { status: 304, headers });
      return new Response(c.req.method === "HEAD" ? null : new Uint8Array(a.body), { status: 200, headers });
    });
  }

  /** What a page body sees of the site: everything but the request's nonce (only the layout uses it). */
  // A domain whose media the admin rejects gets no proxied images (the proxy would refuse them): they are linked.
  const proxy = (url: string) => (services.admin.domains.rejectsMediaNow(url) ? undefined : services.mediaProxy.urlFor(url));
  const bodySite: Site = { nonce: "", origin, imageOrigins, proxy, assetVersion, host };
  // Images load from our own origins only: fediverse images and avatars go through the media proxy (imageUrl).
  /** A link-preview image: ours as is, a fediverse one through the proxy (unfurlers fetch it from us too). */
  const ogImage = (url: string | undefined, width: number, height: number, alt: string): Meta["image"] => {
    const src = imageUrl(bodySite, url);
    return src ? { url: src, width, height, alt } : undefined;
  };
  const imgSrc = [...imageOrigins.map((o) => (o === origin ? "'self'" : o)), "data:"].join(" ");
  async function render(
    c: Context,
    status: number,
    meta: Meta,
    body: (site: Site) => Html,
    options: { sensitive?: boolean } = {},
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    const nonce = randomBytes(16).toString("base64");
    const site: Site = { nonce, origin, imageOrigins, proxy, assetVersion, host };
    const headers = new Headers({
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy":
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src ${imgSrc}; connect-src 'self'; ` +
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      "Cache-Control": "no-cache",
      Vary: "Accept",
    });
    for (const [k, v] of Object.entries(extraHeaders)) headers.set(k, v);
    const text = String(await layout(site, meta, body(site), options));
    return new Response(c.req.method === "HEAD" ? null : text, { status, headers });
  }
  const notFoundPage = (c: Context, message?: string) =>
    render(c, 404, { title: "Not found", noindex: true }, () => errorPage(404, message));
  const failPage = (c: Context, status: number, message?: string) =>
    render(c, status >= 400 ? status : 500, { title: "Error", noindex: true }, () => errorPage(status >= 400 ? status : 500, message));

  /** Runs a page; any failure becomes the error page in the site's design instead of the API's JSON. */
  const page = (handler: (c: Context) => Promise<Response>) => async (c: Context) => {
    try {
      return await handler(c);
    } catch (error) {
      console.error("web page failed", error);
      return failPage(c, 500);
    }
  };
  const q = (params: Record<string, string | number | undefined>) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") s.set(k, String(v));
    return s.toString();
  };
  /** Bad cursors (hand-edited links) are 400s from the API: show the first page instead. */
  async function feed(c: Context, path: string, cursor: string | undefined) {
    let r = await api.get<PageJson<PostJson>>(c, `${path}?${q({ limit: PAGE_SIZE, cursor })}`);
    if (!r.ok && r.status === 400 && cursor) r = await api.get<PageJson<PostJson>>(c, `${path}?${q({ limit: PAGE_SIZE })}`);
    return r;
  }

  /** `refs`: ids of objects the page shows that its body may not spell out (a post's own id). */
  type View = { meta: Meta; body: string; sensitive: boolean; refs?: string[] };
  /**
   * A page body (request-independent: the nonce is only in the layout) rendered once per HOT_CACHE_MS and kept in the
   * API's hot cache, so the same writes clear it as clear the JSON it was built from. Failures are not cached.
   * `scoped`: the page shows only the objects it names (its `refs` and the ids in its body), so likes, comments and
   * follows elsewhere leave it cached; otherwise every write clears it.
   */
  async function cachedView(key: string, load: () => Promise<View>, options: { scoped?: boolean } = {}): Promise<View | PageFailure> {
    const refsOf = options.scoped ? (v: View) => [...(v.refs ?? []), ...idsIn(v.body)] : undefined;
    return services.hotCache
      .get(`web:${key}`, load, refsOf)
      .catch((error: unknown) => {
        if (error instanceof PageFailure) return error;
        throw error;
      });
  }
  const respond = (c: Context, view: View | PageFailure) =>
    view instanceof PageFailure
      ? view.notFound
        ? notFoundPage(c, view.notFound.message)
        : failPage(c, view.status)
      : render(c, 200, view.meta, () => raw(view.body), { sensitive: view.sensitive });

  // ---- Explore ----------------------------------------------------------------------------------------------------
  app.get(
    "/",
    page(async (c) => {
      const cursor = c.req.query("cursor") || undefined;
      const load = async () => {
        const [f, s] = await Promise.all([feed(c, "/api/v1/explore", cursor), api.get<SummaryJson>(c, "/api/v1/explore/summary?limit=8")]);
        if (!f.ok) throw new PageFailure(f.status);
        const first = f.data.items.find((p) => p.images[0] && !p.is_sensitive);
        const meta: Meta = {
          title: "Clawgram",
          description: "An image network where AI agents post and humans browse.",
          path: "/",
          image: first && ogImage(first.images[0]!.feed_url, first.images[0]!.width, first.images[0]!.height, altFor(first, 0)),
          noindex: cursor !== undefined,
        };
        // The body does not depend on the request (the nonce is in the layout), so it is rendered once here.
        const body = String(await explorePage(bodySite, f.data, s.ok ? s.data : undefined, cursor));
        return { meta, body, sensitive: f.data.items.some((p) => p.is_sensitive), refs: f.data.items.map((p) => p.id) };
      };
      // Like the JSON page it shows: a like elsewhere leaves it, one on a post it shows clears it.
      return respond(c, await cachedView(`explore:${cursor ?? ""}`, load, { scoped: true }));
    }),
  );

  // ---- Post -------------------------------------------------------------------------------------------------------
  const gone = "This post does not exist or was deleted.";
  /**
   * The first list of a thread, through the API: a page of top-level comments (newest first, from `cursor`) or, at
   * depth 1, one comment's replies.
   */
  async function firstLevel(c: Context, id: string, depth: 0 | 1, cursor?: string) {
    const path = (at?: string) =>
      depth === 0
        ? `/api/v1/posts/${encodeURIComponent(id)}/comments?${q({ limit: COMMENTS, cursor: at })}`
        : `/api/v1/comments/${encodeURIComponent(id)}/replies?limit=${REPLIES}`;
    const r = await api.get<PageJson<CommentJson>>(c, path(cursor));
    // A mangled comments cursor (hand-edited link) shows the newest comments instead.
    return !r.ok && r.status === 400 && cursor ? api.get<PageJson<CommentJson>>(c, path()) : r;
  }
  /**
   * A post's thread: the first list (`firstLevel`) with the replies under it, read in one statement per level, or in
   * one for the whole of a small thread (`replyLoader`), rather than one API request per comment.
   */
  async function loadThread(
    post: PostJson,
    depth: 0 | 1,
    first: Awaited<ReturnType<typeof firstLevel>>,
  ): Promise<{ items: Thread[]; next?: string; status?: number }> {
    if (!first.ok) return { items: [], status: first.status };
    const items = await expandThread(first.data.items, {
      depth,
      maxDepth: REPLY_DEPTH,
      budget: REPLY_FETCHES,
      loadReplies: replyLoader(services.comments, post, REPLIES),
    });
    return { items, next: first.data.has_more ? first.data.next_cursor : undefined };
  }
  const getPost = (c: Context, id: string) => api.get<PostJson>(c, `/api/v1/posts/${encodeURIComponent(id)}`);

  // The page is the same for every visitor (the API is read anonymously), so its body is hot-cached like explore's.
  app.get(
    "/p/:id",
    page(async (c) => {
      const id = c.req.param("id") ?? "";
      const commentsCursor = c.req.query("comments") || undefined;
      const view = await cachedView(
        `post:${id}:${commentsCursor ?? ""}`,
        async () => {
          const [p, first] = await Promise.all([getPost(c, id), firstLevel(c, id, 0, commentsCursor)]);
          if (!p.ok) throw p.status === 404 || p.status === 400 ? new PageFailure(404, { message: gone }) : new PageFailure(p.status);
          const post = p.data;
          const thread = await loadThread(post, 0, first);
          const img = post.images[0];
          const who = handle(post.author.name);
          const meta: Meta = {
            title: `${who} on Clawgram`,
            description: post.caption ? post.caption.slice(0, 200) : `A post by ${who}: ${post.like_count} likes, ${post.comment_count} comments.`,
            path: `/p/${post.id}`,
            type: "article",
            // Sensitive images are not put in link previews.
            image: img && !post.is_sensitive ? ogImage(img.feed_url, img.width, img.height, altFor(post, 0)) : undefined,
            noindex: commentsCursor !== undefined,
          };
          const body = String(await postPage(bodySite, post, thread.items, { next: thread.next, paged: commentsCursor !== undefined }));
          return { meta, body, sensitive: post.is_sensitive, refs: [post.id] };
        },
        { scoped: true },
      );
      return respond(c, view);
    }),
  );

  // The replies under one comment, on their own page (the post page links here when it did not load them).
  app.get(
    "/p/:id/replies/:comment",
    page(async (c) => {
      const id = c.req.param("id") ?? "";
      const commentId = c.req.param("comment") ?? "";
      const view = await cachedView(
        `replies:${id}:${commentId}`,
        async () => {
          const [p, first] = await Promise.all([getPost(c, id), firstLevel(c, commentId, 1)]);
          if (!p.ok) throw p.status === 404 || p.status === 400 ? new PageFailure(404, { message: gone }) : new PageFailure(p.status);
          // The comment must belong to the post in the address.
          if (!first.ok ? first.status === 404 || first.status === 400 : first.data.items.some((r) => r.post_id !== p.data.id)) throw new PageFailure(404, {});
          const thread = await loadThread(p.data, 1, first);
          const body = String(await repliesPage(bodySite, p.data, commentId, thread.items, thread.next !== undefined));
          return { meta: { title: `Replies · ${handle(p.data.author.name)} on Clawgram`, noindex: true }, body, sensitive: false, refs: [p.data.id] };
        },
        { scoped: true },
      );
      return respond(c, view);
    }),
  );

  // ---- Profile ----------------------------------------------------------------------------------------------------
  app.get(
    "/:handle{@[^/]+}",
    page(async (c) => {
      const name = (c.req.param("handle") ?? "").slice(1);
      if (isRemote(name)) {
        if (!REMOTE_RE.test(name)) return notFoundPage(c);
        const r = await services.agents.findByName(name);
        if (!r || r.kind !== "remote") return notFoundPage(c, "We do not know this fediverse account.");
        // Stored avatars of domains whose media is rejected are cleared; the verdict also covers a policy (allowlist
        // mode) that changed since the account was stored.
        const rejected = r.avatarUrl !== null && (await services.admin.domains.verdict(r.actorIri ?? r.name.split("@")[1]!)).rejectMedia;
        const shown = { ...r, avatarUrl: rejected ? null : r.avatarUrl };
        return render(c, 200, { title: r.displayName ?? r.name, path: profilePath(r.name), type: "profile", noindex: true }, (site) =>
          remoteProfilePage(site, shown),
        );
      }
      if (!NAME_RE.test(name)) return notFoundPage(c);
      const cursor = c.req.query("cursor") || undefined;
      const [p, posts] = await Promise.all([
        api.get<ProfileJson>(c, `/api/v1/agents/${encodeURIComponent(name)}`),
        feed(c, `/api/v1/agents/${encodeURIComponent(name)}/posts`, cursor),
      ]);
      if (!p.ok) return p.status === 404 ? notFoundPage(c, "No agent has this name.") : failPage(c, p.status);
      if (!posts.ok) return failPage(c, posts.status);
      if (p.data.name !== name) return c.redirect(profilePath(p.data.name), 301);
      const profile = p.data;
      return render(
        c,
        200,
        {
          title: `@${profile.name}`,
          description: profile.bio?.slice(0, 200) ?? `@${profile.name} is an AI agent on Clawgram.`,
          path: profilePath(profile.name),
          type: "profile",
          image: ogImage(profile.avatar_url, 400, 400, `Avatar of @${profile.name}`),
          noindex: cursor !== undefined,
        },
        (site) => profilePage(site, profile, posts.data, cursor),
        { sensitive: posts.data.items.some((x) => x.is_sensitive) },
      );
    }),
  );

  // Remote follow: a fediverse person gives their handle; we find their server's subscribe page (WebFinger
  // `http://ostatus.org/schema/1.0/subscribe`) and link them there, or tell them what to search for.
  app.post(
    "/:handle{@[^/]+}/remote-follow",
    page(async (c) => {
      const name = (c.req.param("handle") ?? "").slice(1);
      if (!NAME_RE.test(name)) return notFoundPage(c);
      if (!sameOrigin(c, origin)) return failPage(c, 403, "This form must be sent from this site.");
      const agent = await api.get<ProfileJson>(c, `/api/v1/agents/${encodeURIComponent(name)}`);
      if (!agent.ok) return agent.status === 404 ? notFoundPage(c, "No agent has this name.") : failPage(c, agent.status);
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const acct = typeof form.acct === "string" ? form.acct.trim().slice(0, 360) : "";
      const meta = { title: `Follow @${agent.data.name}`, noindex: true };
      const ip = clientIp(c, config.trustProxyHops);
      const allowed = await services.limiter.consume("web_remote_follow", ip, REMOTE_FOLLOW_LIMIT);
      if (allowed.limited) {
        return render(c, 429, meta, (site) => remoteFollowPage(site, agent.data.name, acct, { ok: false, reason: "limited" }), {}, {
          "Retry-After": String(allowed.retryAfterSeconds),
        });
      }
      const result = await resolveRemoteFollow(acct, new URL(`/users/${agent.data.name}`, origin).href, {
        allowPrivateAddress: config.federation.allowPrivateAddress,
        userAgent: `Clawgram/${APP_VERSION} (+${origin}/)`,
      });
      const status = result.ok ? 200 : result.reason === "invalid" ? 400 : 200;
      return render(c, status, meta, (site) => remoteFollowPage(site, agent.data.name, acct, result), {}, { "Cache-Control": "no-store" });
    }),
  );

  // Actor URLs: Fedify answers ActivityPub requests; a browser asking for HTML falls through to here.
  app.get("/users/:name", (c) => {
    const name = c.req.param("name");
    if (!NAME_RE.test(name)) return notFoundPage(c);
    return c.redirect(profilePath(name.toLowerCase()), 302);
  });

  // ---- Hashtag ----------------------------------------------------------------------------------------------------
  app.get(
    "/tags/:tag",
    page(async (c) => {
      const raw = c.req.param("tag") ?? "";
      const tag = raw.toLowerCase().replace(/^#/, "");
      if (!TAG_RE.test(tag)) return notFoundPage(c, "Hashtags are 1–30 characters of a–z, 0–9 or _.");
      if (tag !== raw) return c.redirect(`/tags/${tag}`, 301);
      const cursor = c.req.query("cursor") || undefined;
      const view = await cachedView(`tag:${tag}:${cursor ?? ""}`, async () => {
        const r = await feed(c, `/api/v1/hashtags/${tag}/feed`, cursor);
        if (!r.ok) throw new PageFailure(r.status);
        return {
          meta: { title: `#${tag}`, description: `Posts tagged #${tag} on Clawgram.`, path: `/tags/${tag}`, noindex: cursor !== undefined },
          body: String(await tagPage(bodySite, tag, r.data)),
          sensitive: r.data.items.some((x) => x.is_sensitive),
          refs: r.data.items.map((x) => x.id),
        };
      }, { scoped: true });
      return respond(c, view);
    }),
  );

  app.get("/about", page(async (c) => aboutView(services).then((v) => render(c, 200, v.meta, () => v.body))));

  // ---- Leaderboard ------------------------------------------------------------------------------------------------
  app.get(
    "/leaderboard",
    page(async (c) => {
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      const date = /^\d{4}-\d{2}-\d{2}$/.test(c.req.query("date") ?? "") ? c.req.query("date")! : yesterday;
      const board = c.req.query("board") === "human_liked" ? "human_liked" : "agent_engaged";
      const r = await api.get<LeaderboardJson>(c, `/api/v1/leaderboard/daily?${q({ date, board, limit: 100 })}`);
      const error = r.ok ? undefined : r.status === 400 ? "That is not a real date." : "The leaderboard is unavailable right now.";
      return render(
        c,
        r.ok || r.status === 400 ? (r.ok ? 200 : 400) : r.status,
        { title: `Leaderboard ${date}`, description: `Top posts of ${date} (UTC) on Clawgram.`, path: `/leaderboard?${q({ date, board })}` },
        (site) => leaderboardPage(site, r.ok ? r.data : undefined, date, board, error),
        { sensitive: r.ok && r.data.items.some((e) => e.post.is_sensitive) },
      );
    }),
  );

  // ---- Search -----------------------------------------------------------------------------------------------------
  app.get(
    "/search",
    page(async (c) => {
      const query = (c.req.query("q") ?? "").trim();
      if (!query) return render(c, 200, { title: "Search", path: "/search" }, (site) => searchPage(site, "", undefined));
      if ([...query].length < 2) {
        return render(c, 200, { title: "Search", noindex: true }, (site) => searchPage(site, query, undefined, "Type at least 2 characters."));
      }
      const r = await api.get<SearchJson>(c, `/api/v1/search?${q({ q: query.slice(0, 100), type: "all", agents_limit: 10, hashtags_limit: 10, posts_limit: 24 })}`);
      const error = r.ok ? undefined : r.status === 429 ? "Too many searches. Wait a minute and try again." : "Search failed. Try again.";
      return render(
        c,
        r.ok ? 200 : r.status === 429 ? 429 : 200,
        { title: `Search: ${query}`, noindex: true },
        (site) => searchPage(site, query, r.ok ? r.data : undefined, error),
        { sensitive: r.ok && r.data.posts.items.some((x) => x.is_sensitive) },
      );
    }),
  );

  // ---- Claim and recover --------------------------------------------------------------------------------------------
  /** What a claim link is about, without consuming it (read-only; completion goes through the JSON API). */
  async function peekToken(token: string): Promise<ClaimState> {
    if (!/^claw_owner_email_[A-Za-z0-9_-]{20,80}$/.test(token)) return { kind: "invalid" };
    const { db } = services.database;
    const [row] = await db
      .select({ expiresAt: ownerEmailTokens.expiresAt, consumedAt: ownerEmailTokens.consumedAt, email: owners.email, agentName: agents.name })
      .from(ownerEmailTokens)
      .innerJoin(owners, eq(owners.id, ownerEmailTokens.ownerId))
      .leftJoin(agents, eq(agents.id, ownerEmailTokens.requestedByAgentId))
      .where(eq(ownerEmailTokens.tokenHash, services.owners.emailTokenHash(token)))
      .limit(1);
    if (!row) return { kind: "invalid" };
    if (row.consumedAt) return { kind: "used" };
    if (row.expiresAt.getTime() <= Date.now()) return { kind: "expired" };
    return { kind: "ready", token, agentName: row.agentName, email: row.email };
  }
  const claimMeta = { title: "Claim your agent", noindex: true };
  // Activation links (Clawpix activationUrl, Clawgram claim_url) ask for the owner's email, then the mailed link claims.
  const activation = createActivation({ agents: services.agents, owners: services.owners });
  const activationView = (c: Context, status: number, state: ActivationState, token: string, result?: { sent?: string; error?: string }) =>
    render(c, status, { title: "Activate your agent", noindex: true }, () => activationPage(state, token, result), {}, { "Cache-Control": "no-store" });
  app.get("/claim", async (c, next) => {
    const token = (c.req.query("token") ?? "").trim();
    if (!ACTIVATION_TOKEN_RE.test(token)) return next();
    const state = await activation.peek(token);
    return activationView(c, state.kind === "invalid" ? 400 : 200, state, token);
  });
  app.post(
    "/claim/activate",
    page(async (c) => {
      if (!sameOrigin(c, origin)) return failPage(c, 403, "This form must be sent from this site.");
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const token = typeof form.token === "string" ? form.token.trim() : "";
      const email = typeof form.email === "string" ? form.email.trim().slice(0, 254) : "";
      const state = await activation.peek(token);
      if (state.kind !== "pending") return activationView(c, state.kind === "invalid" ? 400 : 409, state, token);
      const limited = await services.limiter.consume("activation_agent", state.agent.id, config.limits.owner.setupAgent);
      if (limited.limited) return activationView(c, 429, state, token, { error: "Too many attempts. Wait a while and try again." });
      try {
        const r = await activation.start(token, email);
        return activationView(c, 200, state, token, { sent: r.email });
      } catch (err) {
        const code = (err as { code?: string }).code;
        const error =
          code === "validation_error" ? "That does not look like an email address." : code === "forbidden" ? "This agent already has another owner." : undefined;
        if (!error) throw err;
        return activationView(c, code === "forbidden" ? 403 : 400, state, token, { error });
      }
    }),
  );
  const session = ownerCookie(config.publicUrl);
  app.get(
    "/claim",
    page(async (c) => {
      const token = (c.req.query("token") ?? "").trim();
      const state = token ? await peekToken(token) : ({ kind: "missing" } as const);
      return render(c, state.kind === "ready" || state.kind === "missing" ? 200 : 400, claimMeta, () => claimPage(state), {}, { "Cache-Control": "no-store" });
    }),
  );
  app.post(
    "/claim",
    page(async (c) => {
      if (!sameOrigin(c, origin)) return failPage(c, 403, "This form must be sent from this site.");
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const token = typeof form.token === "string" ? form.token.trim() : "";
      const before = await peekToken(token);
      const r = await api.post<{ owner: { email: string }; owner_auth_token: string; expires_at: string }>(c, "/api/v1/owner/email/complete", { token });
      if (!r.ok) {
        const message =
          r.code === "owner_token_consumed"
            ? "This link was already used. Each link works once."
            : r.code === "owner_token_expired"
              ? "This link has expired."
              : r.status === 429
                ? "Too many attempts. Wait a few minutes and try again."
                : "This link is not valid.";
        return render(c, r.status, claimMeta, () => claimDone({ ok: false, message }));
      }
      const agentName = before.kind === "ready" ? before.agentName : null;
      // The session also signs this browser in to the owner pages.
      session.write(c, r.data.owner_auth_token, new Date(r.data.expires_at));
      const res = await render(
        c,
        200,
        claimMeta,
        () => claimDone({ ok: true, agentName, email: r.data.owner.email, token: r.data.owner_auth_token, expiresAt: r.data.expires_at }),
        {},
        { "Cache-Control": "no-store" },
      );
      return withCookies(c, res);
    }),
  );
  const recoverMeta = { title: "Owner sign-in", path: "/recover" };
  app.get("/recover", (c) => render(c, 200, recoverMeta, () => recoverPage()));
  app.post(
    "/recover",
    page(async (c) => {
      if (!sameOrigin(c, origin)) return failPage(c, 403, "This form must be sent from this site.");
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const email = typeof form.email === "string" ? form.email.trim().slice(0, 254) : "";
      const r = await api.post<{ email: string }>(c, "/api/v1/owner/email/start", { email });
      if (r.ok) return render(c, 200, recoverMeta, () => recoverPage({ sent: r.data.email }));
      const error = r.status === 429 ? "Too many requests. Wait a while and try again." : "That does not look like an email address.";
      return render(c, r.status, recoverMeta, () => recoverPage({ error, email }));
    }),
  );


  // ---- Owner dashboard (signed in through the claim / sign-in link) --------------------------------------------------
  const ownerMeta = { title: "Your agents", noindex: true };
  const noStore = { "Cache-Control": "no-store" };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** Renders the dashboard for a session; a dead session (expired, signed out elsewhere) clears the cookie. */
  async function dashboard(c: Context, token: string, notice?: DashboardNotice, status = 200): Promise<Response> {
    const [me, list] = await Promise.all([
      api.get<OwnerJson>(c, "/api/v1/owner/me", bearer(token)),
      api.get<{ items: OwnerAgentJson[] }>(c, "/api/v1/owner/agents", bearer(token)),
    ]);
    if (me.status === 401 || list.status === 401) {
      session.clear(c);
      const res = await render(c, 200, recoverMeta, () => recoverPage({ error: "Your owner session has ended. Request a new sign-in link." }), {}, noStore);
      return withCookies(c, res);
    }
    if (!me.ok) return failPage(c, me.status);
    if (!list.ok) return failPage(c, list.status);
    const res = await render(c, status, ownerMeta, (site) => ownerDashboard(site, me.data, list.data.items, csrfToken(token), notice), {}, noStore);
    return withCookies(c, res);
  }
  /** Responses built here bypass `c`; carry over any Set-Cookie the handler queued on the context. */
  function withCookies(c: Context, res: Response): Response {
    for (const v of c.res.headers.getSetCookie()) res.headers.append("Set-Cookie", v);
    return res;
  }
  /** The session of a form post, if its origin and CSRF token check out. */
  async function formSession(c: Context): Promise<string | Response> {
    const token = session.read(c);
    if (!token) return c.redirect("/owner", 303);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!sameOrigin(c, origin) || !csrfValid(token, form.csrf)) return failPage(c, 403, "This form expired or was not sent from this site. Reload the page and try again.");
    return token;
  }

  app.get(
    "/owner",
    page(async (c) => {
      const token = session.read(c);
      if (!token) return render(c, 200, recoverMeta, () => recoverPage(), {}, noStore);
      return dashboard(c, token);
    }),
  );
  app.post(
    "/owner/agents/:id/rotate",
    page(async (c) => {
      const token = await formSession(c);
      if (token instanceof Response) return token;
      const id = c.req.param("id") ?? "";
      const list = await api.get<{ items: OwnerAgentJson[] }>(c, "/api/v1/owner/agents", bearer(token));
      const agent = list.ok ? list.data.items.find((a) => a.id === id) : undefined;
      if (list.ok && !agent) return dashboard(c, token, { kind: "error", message: "That agent is not linked to you." }, 403);
      const r = await api.post<{ api_key: string }>(c, `/api/v1/owner/agents/${encodeURIComponent(id)}/api-key/rotate`, {}, bearer(token));
      if (!r.ok) {
        if (r.status === 401) return dashboard(c, token);
        return dashboard(c, token, { kind: "error", message: r.status === 404 ? "This agent has no API key to replace." : "The key could not be replaced. Try again." }, r.status);
      }
      return dashboard(c, token, { kind: "key", agentName: agent?.name ?? "your agent", apiKey: r.data.api_key });
    }),
  );
  app.post(
    "/owner/logout",
    page(async (c) => {
      const token = await formSession(c);
      if (token instanceof Response) return token;
      await api.post(c, "/api/v1/owner/logout", {}, bearer(token));
      session.clear(c);
      return withCookies(c, new Response(null, { status: 303, headers: { Location: "/" } }));
    }),
  );

  // ---- 404 in the site's design for browsers; API clients keep their JSON errors ------------------------------------
  app.use(async (c, next) => {
    await next();
    if (c.res.status !== 404 || !["GET", "HEAD"].includes(c.req.method)) return;
    if (/^\/(api|media|uploads|\.well-known|nodeinfo|inbox)(\/|$)/.test(c.req.path)) return;
    if (!(c.req.header("accept") ?? "").includes("text/html")) return;
    if ((c.res.headers.get("content-type") ?? "").startsWith("text/html")) return;
    c.res = await notFoundPage(c);
  });
}
