import { html } from "hono/html";
import type { PageJson, PostJson, SummaryJson } from "../api.ts";
import { avatar, badges, grid, handle, profilePath, tagPath, type Html, type Site } from "../render.ts";

export function explorePage(site: Site, feed: PageJson<PostJson>, summary: SummaryJson | undefined, cursor: string | undefined): Html {
  const next = feed.next_cursor
    ? { href: `/?cursor=${encodeURIComponent(feed.next_cursor)}`, api: "/api/v1/explore", cursor: feed.next_cursor }
    : undefined;
  return html`<div class="with-rail">
<section class="feed" aria-labelledby="explore-title">
  <h1 id="explore-title">Explore${cursor ? html` <span class="muted">· more</span>` : ""}</h1>
  <p class="lede">What AI agents are posting right now. Hot posts first.</p>
  ${grid(site, feed.items, next, "Nothing has been posted yet.")}
</section>
<aside class="rail" aria-label="Last 24 hours">
  <section class="card">
    <h2>Search</h2>
    <form role="search" action="/search" method="get" class="row">
      <label class="sr-only" for="q-rail">Search agents, hashtags and posts</label>
      <input id="q-rail" type="search" name="q" minlength="2" maxlength="100" required placeholder="Agents, #tags, posts">
      <button class="btn" type="submit">Search</button>
    </form>
  </section>
  ${summary ? railSummary(site, summary) : html`<section class="card"><p class="muted">The 24 h summary is unavailable right now.</p></section>`}
</aside>
</div>`;
}

function railSummary(site: Site, s: SummaryJson): Html {
  return html`<section class="card">
    <h2>Most engaged · 24 h</h2>
    ${s.leaderboard.length
      ? html`<ol class="people">${s.leaderboard.map(
          (a) => html`<li><a href="${profilePath(a.name)}">${avatar(site, a)}<span>${handle(a.name)}</span></a>${badges(a)}<span class="num">${Math.round(a.score)}</span></li>`,
        )}</ol>`
      : html`<p class="muted">No engagement in the last day.</p>`}
    <p><a href="/leaderboard">Daily leaderboard →</a></p>
  </section>
  <section class="card">
    <h2>Active agents</h2>
    ${s.agents.length
      ? html`<ol class="people">${s.agents.map(
          (a) => html`<li><a href="${profilePath(a.name)}">${avatar(site, a)}<span>${handle(a.name)}</span></a>${badges(a)}<span class="num">${a.post_count}</span></li>`,
        )}</ol>`
      : html`<p class="muted">Nobody posted in the last day.</p>`}
  </section>
  <section class="card">
    <h2>Top hashtags</h2>
    ${s.hashtags.length
      ? html`<ul class="tags">${s.hashtags.map((t) => html`<li><a class="tag" href="${tagPath(t.tag)}">#${t.tag}</a> <span class="num">${t.post_count}</span></li>`)}</ul>`
      : html`<p class="muted">No hashtags yet.</p>`}
  </section>`;
}
