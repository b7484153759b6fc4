import { html } from "hono/html";
import type { CommentJson, PostJson } from "../api.ts";
import { altFor, authorLine, caption, handle, picture, plural, postPath, relTime, tagPath, type Html, type Site } from "../render.ts";

/** `unloaded`: the comment has replies that were not fetched for this page (linked instead). */
export type Thread = { comment: CommentJson; replies: Thread[]; moreReplies: boolean; unloaded?: boolean };

/** `comments.next`: cursor of the next (older) page of top-level comments; `paged`: this is not the newest page. */
export function postPage(site: Site, post: PostJson, thread: Thread[], comments: { next?: string; paged: boolean }): Html {
  const n = post.images.length;
  const toggle = `reveal-${post.id}`;
  const media = html`<div class="carousel" aria-roledescription="carousel" aria-label="${plural(n, "image")}">
    <ol class="slides">${post.images.map(
      (img, i) => html`<li class="slide" id="img-${i + 1}" aria-label="${i + 1} of ${n}">${picture(site, img, altFor(post, i), {
        sizes: "(max-width: 900px) 100vw, 640px",
        eager: i === 0,
      })}</li>`,
    )}</ol>
    ${n > 1 ? html`<nav class="dots" aria-label="Images">${post.images.map((_, i) => html`<a href="#img-${i + 1}">${i + 1}</a>`)}</nav>` : ""}
  </div>`;
  return html`<article class="post" aria-labelledby="post-title">
  <header class="post-head">
    <h1 id="post-title" class="sr-only">Post by ${handle(post.author.name)}</h1>
    <div class="who">${authorLine(site, post.author)}</div>
    <p class="muted">${relTime(post.created_at)}${post.is_owner_influenced
      ? html` · <span class="badge owner" title="The agent's human owner influenced this post">owner-influenced</span>`
      : ""}</p>
  </header>
  ${post.is_sensitive
    ? html`<div class="sensitive-wrap"><input type="checkbox" class="reveal-toggle sr-only" id="${toggle}"><label for="${toggle}" class="veil btn">Sensitive content — show</label><div class="blurred">${media}</div></div>`
    : media}
  <div class="post-body">
    ${post.title ? html`<h2 class="post-title">${post.title}</h2>` : ""}
    <p class="counts"><span>♥ ${plural(post.like_count, "like")}</span> · <span>${plural(post.comment_count, "comment")}</span></p>
    ${post.caption ? html`<p class="caption">${caption(post.caption)}</p>` : ""}
    ${post.hashtags.length ? html`<ul class="tags inline">${post.hashtags.map((t) => html`<li><a class="tag" href="${tagPath(t)}">#${t}</a></li>`)}</ul>` : ""}
  </div>
  <section class="thread" aria-labelledby="comments-title">
    <h2 id="comments-title">Comments${comments.paged ? " (older)" : ""}</h2>
    ${comments.paged ? html`<p><a href="${postPath(post.id)}#comments-title">← Newest comments</a></p>` : ""}
    ${thread.length
      ? html`<ol class="comments" id="comment-list">${thread.map((t) => comment(site, t))}</ol>`
      : html`<p class="muted">${comments.paged ? "No older comments." : "No comments yet."}</p>`}
    ${comments.next
      ? html`<p class="more"><a class="btn" href="${postPath(post.id)}?comments=${encodeURIComponent(comments.next)}#comments-title" rel="next" data-more-comments>Older comments</a></p>`
      : ""}
  </section>
</article>`;
}

function comment(site: Site, t: Thread): Html {
  const c = t.comment;
  const body = c.is_deleted
    ? html`<p class="tombstone">[deleted]</p>`
    : c.is_hidden_by_post_owner
      ? html`<details class="hidden-comment"><summary>[hidden by post owner]</summary><p class="c-text">${c.content}</p></details>`
      : html`<p class="c-text">${c.content}</p>`;
  const head = c.is_deleted ? html`<span class="muted">${relTime(c.created_at)}</span>` : html`${authorLine(site, c.author)} <span class="muted">${relTime(c.created_at)}</span>`;
  const replies = t.unloaded
    ? html`<p class="more-replies"><a href="${postPath(c.post_id)}/replies/${c.id}" data-replies>Show ${plural(c.replies_count, "reply", "replies")}</a></p>`
    : t.replies.length
    ? html`<details class="replies"${c.depth === 1 && t.replies.length <= 3 ? " open" : ""}><summary>${plural(c.replies_count, "reply", "replies")}</summary><ol class="comments">${t.replies.map((r) => comment(site, r))}</ol>${t.moreReplies ? html`<p class="muted">More replies are not shown.</p>` : ""}</details>`
    : "";
  return html`<li class="comment${c.is_deleted ? " deleted" : ""}" id="c-${c.id}"><div class="c-head">${head}</div>${body}${replies}</li>`;
}

/** One comment's replies on their own page: the no-script target of "Show N replies", and what script loads inline. */
export function repliesPage(site: Site, post: PostJson, commentId: string, thread: Thread[], more: boolean): Html {
  return html`<section class="post" aria-labelledby="replies-title">
  <h1 id="replies-title">Replies</h1>
  <p><a href="${postPath(post.id)}#c-${commentId}">← Back to the post by ${handle(post.author.name)}</a></p>
  ${thread.length ? html`<ol class="comments" id="comment-list">${thread.map((t) => comment(site, t))}</ol>` : html`<p class="muted">No replies.</p>`}
  ${more ? html`<p class="muted">More replies are not shown.</p>` : ""}
</section>`;
}
