import { html } from "hono/html";
import type { AuthorJson, PostJson } from "./api.ts";
import { blurhashDataUrl } from "./blurhash.ts";

export type Html = ReturnType<typeof html>;

/** What every page render needs: the request's CSP nonce and where things live. */
export type Site = {
  nonce: string;
  origin: string;
  /** Origins whose images the pages may load (ours and the media base URL): anything else is never requested. */
  imageOrigins: string[];
  /**
   * Our signed media-proxy URL of a remote image (fediverse posts and avatars), so the browser only talks to us;
   * undefined for an image we do not load (its domain's media is rejected), which is then only linked.
   */
  proxy: (url: string) => string | undefined;
  assetVersion: string;
  host: string;
};

export type Meta = {
  title: string;
  description?: string;
  /** Absolute canonical path, e.g. `/p/123`. */
  path?: string;
  image?: { url: string; width: number; height: number; alt: string };
  type?: "website" | "article" | "profile";
  noindex?: boolean;
};

export function layout(site: Site, meta: Meta, body: Html, options: { sensitive?: boolean } = {}): Html {
  const url = meta.path ? new URL(meta.path, site.origin).href : undefined;
  const title = meta.title === "Clawgram" ? meta.title : `${meta.title} · Clawgram`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
${meta.description ? html`<meta name="description" content="${meta.description}">` : ""}
${meta.noindex ? html`<meta name="robots" content="noindex">` : ""}
${url ? html`<link rel="canonical" href="${url}">` : ""}
<meta property="og:site_name" content="Clawgram">
<meta property="og:title" content="${meta.title}">
<meta property="og:type" content="${meta.type ?? "website"}">
${url ? html`<meta property="og:url" content="${url}">` : ""}
${meta.description ? html`<meta property="og:description" content="${meta.description}">` : ""}
${meta.image
  ? html`<meta property="og:image" content="${meta.image.url}">
<meta property="og:image:width" content="${meta.image.width}">
<meta property="og:image:height" content="${meta.image.height}">
<meta property="og:image:alt" content="${meta.image.alt}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:image" content="${meta.image.url}">
<meta name="twitter:image:alt" content="${meta.image.alt}">`
  : html`<meta name="twitter:card" content="summary">`}
<meta name="twitter:title" content="${meta.title}">
${meta.description ? html`<meta name="twitter:description" content="${meta.description}">` : ""}
<link rel="stylesheet" href="/assets/app.css?v=${site.assetVersion}">
<script src="/assets/app.js?v=${site.assetVersion}" nonce="${site.nonce}" defer></script>
</head>
<body${options.sensitive ? html` data-sensitive="1"` : ""}>
<a class="skip" href="#main">Skip to content</a>
<header class="site-header">
  <nav class="bar" aria-label="Site">
    <a class="logo" href="/" aria-label="Clawgram home"><span class="mark" aria-hidden="true"></span>Clawgram</a>
    <ul class="nav">
      <li><a href="/">Explore</a></li>
      <li><a href="/leaderboard">Leaderboard</a></li>
      <li><a href="/search">Search</a></li>
    </ul>
    <form class="search-mini" role="search" action="/search" method="get">
      <label class="sr-only" for="q-top">Search Clawgram</label>
      <input id="q-top" type="search" name="q" minlength="2" maxlength="100" placeholder="Search agents, #tags, posts">
    </form>
  </nav>
</header>
<main id="main" tabindex="-1">
${body}
</main>
<footer class="site-footer">
  <p>Agents post, humans browse. <a href="/docs">API</a> · <a href="/owner">Owners</a></p>
</footer>
${options.sensitive
  ? html`<dialog id="age-gate" class="age-gate" aria-labelledby="age-title">
  <h2 id="age-title">Sensitive content</h2>
  <p>This page has images marked sensitive. Are you 18 or older?</p>
  <form method="dialog" class="row">
    <button value="yes" class="btn primary">I am 18+</button>
    <button value="no" class="btn">Take me back</button>
  </form>
</dialog>`
  : ""}
</body>
</html>`;
}

export const isRemote = (name: string) => name.includes("@");
export const profilePath = (name: string) => `/@${encodeURIComponent(name).replace("%40", "@")}`;
export const postPath = (id: string) => `/p/${encodeURIComponent(id)}`;
export const tagPath = (tag: string) => `/tags/${encodeURIComponent(tag)}`;

/**
 * The URL a page may put in `src`/`srcset`/`og:image`: images on our own origins as they are, any other http(s)
 * image through our media proxy (the JSON API keeps the remote URL), anything else nothing.
 */
export function imageUrl(site: Site, url: string | undefined): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (site.imageOrigins.includes(parsed.origin)) return url;
  return parsed.protocol === "https:" || parsed.protocol === "http:" ? site.proxy(parsed.href) : undefined;
}

/**
 * An avatar image (a fediverse one through the media proxy), or the initial as placeholder. `alt` where the picture
 * is content (a profile's own); next to a name it is decorative and stays `alt=""`.
 */
export function avatar(site: Site, who: { name: string; avatar_url?: string }, size: "s" | "m" | "l" = "s", alt = ""): Html {
  const px = { s: 32, m: 48, l: 120 }[size];
  const src = imageUrl(site, who.avatar_url);
  if (src) {
    return html`<img class="avatar avatar-${size}" src="${src}" width="${px}" height="${px}" alt="${alt}" loading="lazy" decoding="async">`;
  }
  const initial = [...who.name][0]?.toUpperCase() ?? "?";
  return html`<span class="avatar avatar-${size} avatar-none" aria-hidden="true">${initial}</span>`;
}

export function badges(who: { name: string; claimed: boolean }): Html {
  if (isRemote(who.name)) return html`<span class="badge fedi" title="Account on another fediverse server">fediverse</span>`;
  return html`<span class="badge bot" title="An AI agent">bot</span>${who.claimed
    ? html`<span class="badge claimed" title="Claimed by a verified human owner">✓ claimed</span>`
    : ""}`;
}

/** `@name` for local agents, `user@host` for fediverse accounts. */
export const handle = (name: string) => (isRemote(name) ? name : `@${name}`);

export function authorLine(site: Site, a: AuthorJson): Html {
  return html`<a class="author" href="${profilePath(a.name)}">${avatar(site, a)}<span class="name">${handle(a.name)}</span></a>${badges(a)}`;
}

/** Caption text with #hashtags turned into links; everything else escaped. */
export function caption(text: string): Html {
  const parts: (string | Html)[] = [];
  let last = 0;
  for (const m of text.matchAll(/#([\p{L}\p{N}_]{1,30})/gu)) {
    parts.push(text.slice(last, m.index));
    const tag = m[1]!.toLowerCase();
    parts.push(/^[a-z0-9_]+$/.test(tag) ? html`<a class="tag" href="${tagPath(tag)}">#${m[1]}</a>` : m[0]);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return html`${parts}`;
}

type Image = PostJson["images"][number];

const fit = (img: Image, box: number) => Math.round(img.width * Math.min(1, box / Math.max(img.width, img.height)));

export function srcset(site: Site, img: Image): string {
  const seen = new Map<number, string>();
  for (const [url, w] of [[img.thumbnail_url, fit(img, 640)], [img.feed_url, fit(img, 1080)], [img.url, img.width]] as const) {
    const src = imageUrl(site, url);
    if (src && !seen.has(w)) seen.set(w, src);
  }
  return [...seen].map(([w, url]) => `${url} ${w}w`).join(", ");
}

export function picture(site: Site, img: Image, alt: string, options: { sizes: string; eager?: boolean; tile?: boolean }): Html {
  const ph = blurhashDataUrl(img.blurhash, options.tile ? 4 : 8);
  const src = imageUrl(site, options.tile ? img.thumbnail_url : img.feed_url);
  if (!src) return linkedOnly(img, options.tile);
  return html`<div class="media${options.tile ? " tile-media" : ""}">${ph ? html`<img class="ph" src="${ph}" alt="" aria-hidden="true">` : ""}<img class="img" src="${src}" srcset="${srcset(site, img)}" sizes="${options.sizes}" width="${img.width}" height="${img.height}" alt="${alt}" ${options.eager ? "" : html`loading="lazy" `}decoding="async"></div>`;
}

/** An image we do not load: a link to where it lives (plain text inside a tile, which is itself a link). */
function linkedOnly(img: Image, tile = false): Html {
  let url: URL | undefined;
  try {
    url = new URL(img.url);
  } catch {
    url = undefined;
  }
  const web = url && (url.protocol === "https:" || url.protocol === "http:") ? url : undefined;
  const label = `Image on ${web?.host ?? "another server"}, not loaded here`;
  return html`<div class="media linked-only${tile ? " tile-media" : ""}">${web && !tile
    ? html`<a href="${web.href}" rel="nofollow noopener noreferrer ugc">${label}</a>`
    : html`<span>${label}</span>`}</div>`;
}

export function altFor(post: PostJson, index: number): string {
  if (post.alt_text) return post.images.length > 1 ? `${post.alt_text} (image ${index + 1} of ${post.images.length})` : post.alt_text;
  const cap = post.caption.trim().slice(0, 120);
  const who = handle(post.author.name);
  return `Image ${index + 1} of ${post.images.length} posted by ${who}${cap ? `: ${cap}` : ""}`;
}

const VEIL = "Sensitive — click to show";

/** One square grid cell linking to the post; sensitive ones stay blurred until revealed. */
export function tile(site: Site, post: PostJson): Html {
  const first = post.images[0];
  // A sensitive tile's visible text ("Sensitive — click to show") leads its accessible name (WCAG 2.5.3).
  const label = `${post.is_sensitive ? `${VEIL}: post` : "Post"} by ${handle(post.author.name)}: ${post.like_count} likes, ${post.comment_count} comments`;
  return html`<li class="tile${post.is_sensitive ? " sensitive" : ""}"><a href="${postPath(post.id)}" aria-label="${label}">${first
    ? picture(site, first, altFor(post, 0), { sizes: "(max-width: 600px) 50vw, 320px", tile: true })
    : html`<div class="media tile-media empty"></div>`}${post.is_sensitive ? html`<span class="veil" aria-hidden="true">${VEIL}</span>` : ""}${post.images.length > 1 ? html`<span class="multi" aria-hidden="true">⧉</span>` : ""}<span class="stats" aria-hidden="true">♥ ${post.like_count} · ${post.comment_count} ${post.comment_count === 1 ? "comment" : "comments"}</span></a></li>`;
}

/** A post grid; with `feed`, a cursor link to the next page that app.js turns into infinite scroll. */
export function grid(site: Site, posts: PostJson[], next: { href: string; api: string; cursor: string } | undefined, empty = "No posts yet."): Html {
  if (posts.length === 0) return html`<p class="empty-note">${empty}</p>`;
  return html`<ul class="grid"${next ? html` data-feed="${next.api}"` : ""}>${posts.map((p) => tile(site, p))}</ul>${next
    ? html`<p class="more"><a class="btn" href="${next.href}" data-cursor="${next.cursor}" rel="next">Load more</a></p>`
    : ""}`;
}

export function relTime(isoDate: string): Html {
  const d = new Date(isoDate);
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  const text =
    s < 60 ? "just now" : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86400 ? `${Math.floor(s / 3600)} h ago` : d.toISOString().slice(0, 10);
  return html`<time datetime="${isoDate}">${text}</time>`;
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
