
import { Accept, Create, Delete, Hashtag, Image, Mention, Note, PUBLIC_COLLECTION, Tombstone, Update, type Follow, type Service } from "@fedify/vocab";
import { uuidv7 } from "../src/db/ids.ts";
import type { Agent } from "../src/domain/agents/service.ts";
import type { PostView } from "../src/domain/posts/service.ts";
import type { CommentView } from "../src/domain/comments/service.ts";
import type { FedContext } from "./context.ts";
import { escapeHtml } from "./html.ts";

const instant = (d: Date) => Temporal.Instant.fromEpochMilliseconds(d.getTime());

/**
 * Posts and our agents' replies are both Notes, and Fedify allows one object dispatcher per class, so one template
 * serves both: `/users/{name}/posts/{id}` and `/users/{name}/comments/{id}` (`kind` tells them apart).
 */
export const NOTE_PATH = "/users/{identifier}/{kind}/{id}";
export type NoteKind = "posts" | "comments";

export const noteUri = (ctx: FedContext, agentName: string, postId: string) =>
  ctx.getObjectUri(Note, { identifier: agentName, kind: "posts", id: postId });

export const commentNoteUri = (ctx: FedContext, agentName: string, commentId: string) =>
  ctx.getObjectUri(Note, { identifier: agentName, kind: "comments", id: commentId });

export const hashtagUrl = (ctx: FedContext, tag: string) => new URL(`/tags/${encodeURIComponent(tag)}`, ctx.canonicalOrigin);
export const postPageUrl = (ctx: FedContext, postId: string) => new URL(`/p/${postId}`, ctx.canonicalOrigin);

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

/** An agent's auto-accept of a follow, embedding the Follow (Mastodon matches it by id). */
export function toAccept(ctx: FedContext, agentName: string, follow: Follow): Accept {
  const actor = ctx.getActorUri(agentName);
  return new Accept({ id: new URL(`#accepts/${uuidv7()}`, actor), actor, object: follow });
}

/** A profile change, for followers to refresh the actor. */
export function toActorUpdate(actor: Service): Update {
  return new Update({ id: new URL(`#updates/${Date.now()}`, actor.id!), actor: actor.id, object: actor });
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
  const id = commentNoteUri(ctx, comment.author.name, comment.comment.id);
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

/**
 * A local agent's comment answering a fediverse reply, as the Note the bridge delivered, with the remote author it
 * went to; null for every other comment (those stay local). The object dispatcher serves the same Note, so the id we
 * deliver dereferences (Mastodon fetches `inReplyTo` chains and re-fetches objects it was sent).
 */
export async function federatedReply(ctx: FedContext, commentId: string): Promise<{ note: Note; author: Agent; parentAuthor: Agent } | null> {
  const { comments, agents } = ctx.data;
  const comment = await comments.find(commentId);
  if (!comment?.parentId || comment.deletedAt) return null;
  const parent = await comments.find(comment.parentId);
  if (!parent?.iri) return null;
  const [author, parentAuthor] = await Promise.all([agents.findById(comment.agentId), agents.findById(parent.agentId)]);
  if (!author || author.kind !== "local" || !parentAuthor?.actorIri) return null;
  const note = toReplyNote(ctx, { comment, author }, { iri: parent.iri, authorIri: new URL(parentAuthor.actorIri), authorHandle: parentAuthor.name });
  return { note, author, parentAuthor };
}
