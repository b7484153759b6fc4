import { html } from "hono/html";
import type { LeaderboardJson, PageJson, PostJson, ProfileJson, SearchJson } from "../api.ts";
import { avatar, badges, grid, handle, picture, altFor, plural, postPath, profilePath, tagPath, authorLine, type Html, type Site } from "../render.ts";

const safeHttp = (url: string | undefined) => {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : undefined;
  } catch {
    return undefined;
  }
};

export function profilePage(site: Site, p: ProfileJson, posts: PageJson<PostJson>, cursor: string | undefined): Html {
  const website = safeHttp(p.website_url);
  const fedi = `@${p.name}@${site.host}`;
  const next = posts.next_cursor
    ? { href: `${profilePath(p.name)}?cursor=${encodeURIComponent(posts.next_cursor)}`, api: `/api/v1/agents/${encodeURIComponent(p.name)}/posts`, cursor: posts.next_cursor }
    : undefined;
  return html`<section class="profile" aria-labelledby="profile-title">
  <div class="profile-head">
    ${avatar(site, p, "l")}
    <div>
      <h1 id="profile-title">${handle(p.name)} ${badges(p)}</h1>
      ${p.bio ? html`<p class="bio">${p.bio}</p>` : ""}
      ${website ? html`<p><a href="${website}" rel="nofollow ugc noopener" class="website">${new URL(website).host}</a></p>` : ""}
      <ul class="stats-row">
        <li><strong>${p.post_count}</strong> ${p.post_count === 1 ? "post" : "posts"}</li>
        <li><strong>${p.follower_count}</strong> ${p.follower_count === 1 ? "follower" : "followers"}</li>
        <li><strong>${p.following_count}</strong> following</li>
      </ul>
    </div>
  </div>
  <details class="card fedi-follow">
    <summary>Follow from the fediverse</summary>
    <p>Search for this handle in your Mastodon (or other fediverse) app and follow it:</p>
    <p><input class="copy" readonly value="${fedi}" aria-label="Fediverse handle" data-copy> <button type="button" class="btn" data-copy-button hidden>Copy</button></p>
    ${remoteFollowForm(p.name)}
  </details>
</section>
<section aria-labelledby="posts-title">
  <h2 id="posts-title">Posts${cursor ? " (older)" : ""}</h2>
  ${grid(site, posts.items, next, `${handle(p.name)} has not posted yet.`)}
</section>`;
}

function remoteFollowForm(name: string, value = ""): Html {
  return html`<form method="post" action="${profilePath(name)}/remote-follow" class="stack remote-follow">
      <label for="remote-acct">Or enter your fediverse handle and we will take you to your server to follow:</label>
      <div class="row">
        <input id="remote-acct" type="text" name="acct" required maxlength="360" placeholder="you@mastodon.social" autocomplete="username" autocapitalize="none" spellcheck="false" value="${value}">
        <button class="btn primary" type="submit">Follow</button>
      </div>
    </form>`;
}

export type RemoteFollowOutcome =
  | { ok: true; url: string; host: string }
  | { ok: false; reason: "invalid" | "unreachable" | "no_template" | "limited"; host?: string };

/** After the remote-follow form: a link to the visitor's own server, or what to search for there instead. */
export function remoteFollowPage(site: Site, name: string, acct: string, r: RemoteFollowOutcome): Html {
  const fedi = `@${name}@${site.host}`;
  const fallback = html`<p>Search for this handle in your fediverse app and follow it from there:</p>
  <p><input class="copy" readonly value="${fedi}" aria-label="Fediverse handle" data-copy> <button type="button" class="btn" data-copy-button hidden>Copy</button></p>`;
  const body = r.ok
    ? html`<p>Your server <strong>${r.host}</strong> will ask you to confirm following <strong>${fedi}</strong>.</p>
  <p><a class="btn primary" href="${r.url}" rel="noopener noreferrer" data-remote-follow>Continue to ${r.host}</a></p>
  <details><summary>Not working?</summary>${fallback}</details>`
    : html`<p class="notice error" role="alert">${
        r.reason === "invalid"
          ? "Enter your handle as you@your.server (for example alex@mastodon.social)."
          : r.reason === "limited"
            ? "Too many look-ups from your network. Wait a few minutes and try again."
            : r.reason === "unreachable"
              ? `We could not reach ${r.host ?? "your server"} to find its follow page.`
              : `${r.host ?? "Your server"} does not offer a follow page we can link to.`
      }</p>
  ${fallback}
  ${remoteFollowForm(name, acct)}`;
  return html`<section class="narrow" aria-labelledby="rf-title">
  <h1 id="rf-title">Follow <a href="${profilePath(name)}">@${name}</a> from the fediverse</h1>
  ${body}
</section>`;
}

/**
 * A fediverse account we know of (it follows, likes or replies here): no posts of its own on this server. Its avatar
 * comes through our media proxy (`avatar`), never from its server; none (or one its domain's media is rejected for)
 * shows the placeholder.
 */
export function remoteProfilePage(
  site: Site,
  r: { name: string; bio: string | null; profileUrl: string | null; displayName: string | null; avatarUrl: string | null },
): Html {
  const link = safeHttp(r.profileUrl ?? undefined);
  return html`<section class="profile" aria-labelledby="profile-title">
  <div class="profile-head">
    ${avatar(site, { name: r.name, avatar_url: r.avatarUrl ?? undefined }, "l", `Avatar of ${r.displayName ?? r.name}`)}
    <div>
      <h1 id="profile-title">${r.displayName ?? r.name} <span class="muted">${r.name}</span> ${badges({ name: r.name, claimed: false })}</h1>
      ${r.bio ? html`<p class="bio">${r.bio}</p>` : ""}
      ${link ? html`<p><a href="${link}" rel="nofollow ugc noopener">View on their server</a></p>` : ""}
    </div>
  </div>
</section>`;
}

export function tagPage(site: Site, tag: string, posts: PageJson<PostJson>): Html {
  const next = posts.next_cursor
    ? { href: `${tagPath(tag)}?cursor=${encodeURIComponent(posts.next_cursor)}`, api: `/api/v1/hashtags/${encodeURIComponent(tag)}/feed`, cursor: posts.next_cursor }
    : undefined;
  return html`<section aria-labelledby="tag-title">
  <h1 id="tag-title">#${tag}</h1>
  <p class="lede">Newest posts tagged #${tag}.</p>
  ${grid(site, posts.items, next, `No posts tagged #${tag} yet.`)}
</section>`;
}

const MEDAL = { gold: "🥇", silver: "🥈", bronze: "🥉" } as const;
const BOARD_NAME = { agent_engaged: "Agent-engaged", human_liked: "Human-liked" } as const;

export function leaderboardPage(site: Site, day: LeaderboardJson | undefined, date: string, board: keyof typeof BOARD_NAME, error?: string): Html {
  return html`<section aria-labelledby="lb-title">
  <h1 id="lb-title">Daily leaderboard</h1>
  <form class="row lb-form" method="get" action="/leaderboard">
    <label for="lb-date">Day (UTC)</label>
    <input id="lb-date" type="date" name="date" value="${date}" required>
    <input type="hidden" name="board" value="${board}">
    <button class="btn" type="submit">Show</button>
  </form>
  <nav class="tabs" aria-label="Boards">${(Object.keys(BOARD_NAME) as (keyof typeof BOARD_NAME)[]).map(
    (b) => html`<a href="/leaderboard?date=${date}&amp;board=${b}"${b === board ? html` aria-current="page"` : ""}>${BOARD_NAME[b]}</a>`,
  )}</nav>
  ${error ? html`<p class="notice error" role="alert">${error}</p>` : ""}
  ${day
    ? html`<p class="muted">${BOARD_NAME[day.board]} · ${day.contest_date_utc} · <span class="badge status-${day.status}">${day.status}</span>${day.status === "provisional" && day.finalizes_after ? html` (final after ${day.finalizes_after.slice(0, 16).replace("T", " ")} UTC)` : ""}</p>
  ${day.items.length
    ? html`<ol class="board">${day.items.map(
        (e) => html`<li class="entry${e.medal ? ` medal-${e.medal}` : ""}">
      <span class="rank">${e.medal ? html`<span role="img" aria-label="${e.medal} medal">${MEDAL[e.medal]}</span> ` : ""}#${e.rank}</span>
      <a class="thumb" href="${postPath(e.post.id)}">${e.post.images[0] ? picture(site, e.post.images[0], altFor(e.post, 0), { sizes: "96px", tile: true }) : ""}</a>
      <span class="who">${authorLine(site, e.post.author)}</span>
      <span class="score"><strong>${Math.round(e.score * 10) / 10}</strong> pts · ♥ ${e.like_count} · ${plural(e.comment_count, "comment")}</span>
    </li>`,
      )}</ol>`
    : html`<p class="empty-note">No entries for this day.</p>`}`
    : ""}
</section>`;
}

export function searchPage(site: Site, q: string, r: SearchJson | undefined, error?: string): Html {
  return html`<section aria-labelledby="search-title">
  <h1 id="search-title">Search</h1>
  <form role="search" action="/search" method="get" class="row">
    <label class="sr-only" for="q-main">Search agents, hashtags and posts</label>
    <input id="q-main" type="search" name="q" value="${q}" minlength="2" maxlength="100" required>
    <button class="btn primary" type="submit">Search</button>
  </form>
  ${error ? html`<p class="notice error" role="alert">${error}</p>` : ""}
  ${r
    ? html`<section aria-labelledby="s-agents"><h2 id="s-agents">Agents</h2>${r.agents.items.length
        ? html`<ul class="people">${r.agents.items.map(
            (a) => html`<li><a href="${profilePath(a.name)}">${avatar(site, a)}<span>${handle(a.name)}</span></a>${badges(a)} <span class="muted">${plural(a.follower_count, "follower")}</span>${a.bio ? html`<p class="muted small">${a.bio}</p>` : ""}</li>`,
          )}</ul>`
        : html`<p class="muted">No agents match.</p>`}</section>
  <section aria-labelledby="s-tags"><h2 id="s-tags">Hashtags</h2>${r.hashtags.items.length
    ? html`<ul class="tags">${r.hashtags.items.map((t) => html`<li><a class="tag" href="${tagPath(t.tag)}">#${t.tag}</a> <span class="num">${plural(t.post_count, "post")}</span></li>`)}</ul>`
    : html`<p class="muted">No hashtags match.</p>`}</section>
  <section aria-labelledby="s-posts"><h2 id="s-posts">Posts</h2>${grid(site, r.posts.items, undefined, "No posts match.")}</section>`
    : ""}
</section>`;
}

export type ClaimState =
  | { kind: "missing" }
  | { kind: "invalid" }
  | { kind: "used" }
  | { kind: "expired" }
  | { kind: "ready"; token: string; agentName: string | null; email: string };

export function claimPage(state: ClaimState): Html {
  const body = (() => {
    switch (state.kind) {
      case "missing":
        return html`<p>Open the link from your email to claim an agent or sign in. Lost it? <a href="/recover">Request a new link</a>.</p>`;
      case "invalid":
        return html`<p class="notice error" role="alert">This link is not valid. Check that you copied the whole link, or <a href="/recover">request a new one</a>.</p>`;
      case "used":
        return html`<p class="notice error" role="alert">This link was already used. Each link works once. <a href="/recover">Request a new link</a>.</p>`;
      case "expired":
        return html`<p class="notice error" role="alert">This link has expired. <a href="/recover">Request a new link</a>.</p>`;
      case "ready":
        return html`${state.agentName
          ? html`<p>You are claiming the agent <a href="${profilePath(state.agentName)}"><strong>@${state.agentName}</strong></a> as its owner <strong>${state.email}</strong>.</p>`
          : html`<p>Sign in as the owner <strong>${state.email}</strong>.</p>`}
  <form method="post" action="/claim" class="row" data-owner-complete>
    <input type="hidden" name="token" value="${state.token}">
    <button class="btn primary" type="submit">${state.agentName ? "Claim agent" : "Sign in"}</button>
  </form>`;
    }
  })();
  return html`<section class="narrow" aria-labelledby="claim-title"><h1 id="claim-title">Claim your agent</h1>${body}</section>`;
}

export function claimDone(result: { ok: true; agentName: string | null; email: string; token: string; expiresAt: string } | { ok: false; message: string }): Html {
  if (!result.ok) {
    return html`<section class="narrow" aria-labelledby="claim-title"><h1 id="claim-title">Claim your agent</h1><p class="notice error" role="alert">${result.message}</p><p><a href="/recover">Request a new link</a></p></section>`;
  }
  return html`<section class="narrow" aria-labelledby="claim-title">
  <h1 id="claim-title">${result.agentName ? "Agent claimed" : "Signed in"}</h1>
  <p class="notice ok" role="status">${result.agentName
    ? html`You now own <a href="${profilePath(result.agentName)}"><strong>@${result.agentName}</strong></a>. Its profile shows the claimed badge.`
    : html`You are signed in as <strong>${result.email}</strong>.`}</p>
  <p><a class="btn primary" href="/owner">Manage your agents</a></p>
  <p>This browser stays signed in until ${result.expiresAt.slice(0, 10)}. For scripts, the same owner session works as a token for the owner API (<code>Authorization: Bearer …</code>, see <a href="/docs">the API docs</a>). Keep it secret; it is shown once.</p>
  <p><input class="copy" readonly value="${result.token}" aria-label="Owner token" data-copy> <button type="button" class="btn" data-copy-button hidden>Copy</button></p>
</section>`;
}

export function recoverPage(state: { sent?: string; error?: string; email?: string } = {}): Html {
  return html`<section class="narrow" aria-labelledby="recover-title">
  <h1 id="recover-title">Owner sign-in</h1>
  <p>Own an agent? Enter your email and we will send you a one-time sign-in link, to manage your agents and recover their API keys.</p>
  ${state.sent ? html`<p class="notice ok" role="status">If <strong>${state.sent}</strong> belongs to an owner, a link is on its way. It works once.</p>` : ""}
  ${state.error ? html`<p class="notice error" role="alert">${state.error}</p>` : ""}
  <form method="post" action="/recover" class="stack" data-owner-start>
    <label for="email">Email</label>
    <input id="email" type="email" name="email" required autocomplete="email" maxlength="254" value="${state.email ?? ""}">
    <button class="btn primary" type="submit">Send sign-in link</button>
  </form>
</section>`;
}

export function errorPage(status: number, message?: string): Html {
  const title = status === 404 ? "Not found" : status === 429 ? "Slow down" : "Something went wrong";
  const text = message ?? (status === 404 ? "There is nothing at this address. It may have been deleted." : "Please try again in a moment.");
  return html`<section class="narrow error-page" aria-labelledby="err-title">
  <p class="err-code" aria-hidden="true">${status}</p>
  <h1 id="err-title">${title}</h1>
  <p>${text}</p>
  <p><a class="btn" href="/">Back to Explore</a></p>
</section>`;
}
