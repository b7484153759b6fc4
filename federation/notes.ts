
import { Create, Delete, Hashtag, Image, Mention, Note, PUBLIC_COLLECTION, Tombstone } from "@fedify/vocab";
import type { PostView } from "../src/domain/posts/service.ts";
import type { CommentView } from "../src/domain/comments/service.ts";
import type { FedContext } from "./context.ts";
import { escapeHtml } from "./html.ts";

const instant = (d: Date) => Temporal.Instant.fromEpochMilliseconds(d.getTime());

export const noteUri = (ctx: FedContext, agentName: string, postId: string) =>
  ctx.getObjectUri(Note, { identifier: agentName, id: postId });

export const hashtagUrl = (ctx: FedContext, tag: string) => new URL(`/hashtags/${encodeURIComponent(tag)}`, ctx.canonicalOrigin);
export const postPageUrl = (ctx: FedContext, postId: string) => new URL(`/posts/${postId}`, ctx.canonicalOrigin);

/** Caption as HTML paragraphs, then the hashtags as Mastodon-style tag links. */
export function noteContent(ctx: FedContext, caption: string, tags: string[]): string {
  const paragraphs = caption
    .split(/\n{2,}/)
    .filter((p) => p.trim())
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, "<br>")}</p>`);
  if (tags.length > 0) {
    const links = tags.map(
      (t) => `<a href="${escapeHtml(hashtagUrl(ctx, t).href)}" class="mention hashtag" rel="tag">#<span>${escapeHtml(t)}</span></a>`,
    );
    paragraphs.push(`<p>${links.join(" ")}</p>`);
  }
  return paragraphs.join("");
}

/** A post as the Note the fediverse sees: caption, images with alt text, hashtags, content warning, public. */
export function toNote(ctx: FedContext, view: PostView): Note {
  const { post, author } = view;
  const actor = ctx.getActorUri(author.name);
  const mediaUrl = (key: string) => new URL(ctx.data.media.urlFor(key));
  return new Note({
    id: noteUri(ctx, author.name, post.id),
    attribution: actor,
    to: PUBLIC_COLLECTION,
    cc: ctx.getFollowersUri(author.name),
    content: noteContent(ctx, post.caption ?? "", view.hashtags),
    summary: post.isSensitive ? "Sensitive content" : null,
    sensitive: post.isSensitive,
    url: postPageUrl(ctx, post.id),
    published: instant(post.createdAt),
    attachments: view.media.map(
      (m) =>
        new Image({
          mediaType: m.variants.original.contentType,
          url: mediaUrl(m.variants.original.key),
          name: post.altText ?? null,
          summary: post.altText ?? null,
          width: m.width,
          height: m.height,
        }),
    ),
    tags: view.hashtags.map((t) => new Hashtag({ name: `#${t}`, href: hashtagUrl(ctx, t) })),
  });
}

export function toCreate(ctx: FedContext, view: PostView): Create {
  const note = toNote(ctx, view);
  return new Create({
    id: new URL(`${note.id!.href}#create`),
    actor: note.attributionId,
    to: PUBLIC_COLLECTION,
    cc: ctx.getFollowersUri(view.author.name),
    object: note,
    published: note.published,
  });
}

export function toDelete(ctx: FedContext, agentName: string, postId: string): Delete {
  const id = noteUri(ctx, agentName, postId);
  return new Delete({
    id: new URL(`${id.href}#delete`),
    actor: ctx.getActorUri(agentName),
    to: PUBLIC_COLLECTION,
    cc: ctx.getFollowersUri(agentName),
    object: new Tombstone({ id }),
  });
}

/**
 * A local agent's comment that answers a fediverse reply, as a Note in that thread mentioning the remote author, so
 * the conversation continues on their side.
 */
export function toReplyNote(
  ctx: FedContext,
  comment: CommentView,
  parent: { iri: string; authorIri: URL; authorHandle: string },
): Note {
  const actor = ctx.getActorUri(comment.author.name);
  const id = new URL(`/users/${encodeURIComponent(comment.author.name)}/comments/${comment.comment.id}`, ctx.canonicalOrigin);
  const mention = `<span class="h-card"><a href="${escapeHtml(parent.authorIri.href)}" class="u-url mention">@<span>${escapeHtml(parent.authorHandle.split("@")[0]!)}</span></a></span>`;
  return new Note({
    id,
    attribution: actor,
    to: PUBLIC_COLLECTION,
    ccs: [ctx.getFollowersUri(comment.author.name), parent.authorIri],
    replyTarget: new URL(parent.iri),
    content: `<p>${mention} ${escapeHtml(comment.comment.content)}</p>`,
    published: instant(comment.comment.createdAt),
    tags: [new Mention({ name: `@${parent.authorHandle}`, href: parent.authorIri })],
  });
}
