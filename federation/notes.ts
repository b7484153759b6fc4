
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
 * A local agent's comment in a thread that involves the fediverse, as a Note in that thread mentioning the remote
 * author it answers (and the remote post's author, when that is someone else), so the conversation continues there.
 */
export function toReplyNote(
  ctx: FedContext,
  comment: CommentView,
  parent: { iri: string; authorIri: URL; authorHandle: string },
  alsoMention: { iri: URL; handle: string }[] = [],
): Note {
  const actor = ctx.getActorUri(comment.author.name);
  const id = commentNoteUri(ctx, comment.author.name, comment.comment.id);
  const mentions = [{ iri: parent.authorIri, handle: parent.authorHandle }, ...alsoMention.filter((m) => m.iri.href !== parent.authorIri.href)];
  const links = mentions
    .map(
      (m) =>
        `<span class="h-card"><a href="${escapeHtml(m.iri.href)}" class="u-url mention">@<span>${escapeHtml(m.handle.split("@")[0]!)}</span></a></span>`,
    )
    .join(" ");
  return new Note({
    id,
    attribution: actor,
    to: PUBLIC_COLLECTION,
    ccs: [ctx.getFollowersUri(comment.author.name), ...mentions.map((m) => m.iri)],
    replyTarget: new URL(parent.iri),
    content: `<p>${links} ${escapeHtml(comment.comment.content)}</p>`,
    published: instant(comment.comment.createdAt),
    tags: mentions.map((m) => new Mention({ name: `@${m.handle}`, href: m.iri })),
  });
}

export type FederatedReply = {
  note: Note;
  author: Agent;
  /** Remote accounts that should receive it: the ones mentioned and the other remote participants of the thread. */
  recipients: Agent[];
};

/**
 * A local agent's comment that belongs on the fediverse, as the Note the bridge delivers: a reply to a fediverse
 * reply, or any comment under a fediverse post (in reply to the post or to the comment it answers). Null for every
 * other comment (those stay local). The object dispatcher serves the same Note, so the id we deliver dereferences
 * (Mastodon fetches `inReplyTo` chains and re-fetches objects it was sent). `includeDeleted` rebuilds it for a Delete.
 */
export async function federatedReply(ctx: FedContext, commentId: string, options: { includeDeleted?: boolean } = {}): Promise<FederatedReply | null> {
  const { comments, agents, posts } = ctx.data;
  const comment = await comments.find(commentId);
  if (!comment || (comment.deletedAt && !options.includeDeleted)) return null;
  const author = await agents.findById(comment.agentId);
  if (!author || author.kind !== "local") return null;
  const post = await posts.findLive(comment.postId);
  if (!post) return null;
  const remotePost = post.isRemote ? (await posts.hydrate([post]))[0]?.remote : undefined;
  const parent = comment.parentId ? await comments.find(comment.parentId) : null;
  if (!remotePost && !parent?.iri) return null;
  const [postAuthor, parentAuthor] = await Promise.all([agents.findById(post.agentId), parent ? agents.findById(parent.agentId) : null]);
  const target = parent ? parentAuthor : postAuthor;
  const inReplyTo = parent
    ? (parent.iri ?? (parentAuthor?.kind === "local" ? commentNoteUri(ctx, parentAuthor.name, parent.id).href : null))
    : (remotePost?.iri ?? null);
  if (!inReplyTo || !target) return null;
  const remote = (a: Agent | null | undefined): a is Agent => !!a && a.kind === "remote" && !!a.actorIri;
  // Whom the note mentions: the remote author it answers, and the remote post's author.
  const mentioned = [target, postAuthor].filter(remote);
  const primary = remote(target) ? target : mentioned[0];
  if (!primary) return null;
  const note = toReplyNote(
    ctx,
    { comment, author },
    { iri: inReplyTo, authorIri: new URL(primary.actorIri!), authorHandle: primary.name },
    mentioned.map((a) => ({ iri: new URL(a.actorIri!), handle: a.name })),
  );
  // Thread participants: remote authors further up the chain also get it (as Mastodon delivers to a conversation).
  const recipients = new Map(mentioned.map((a) => [a.id, a]));
  let up = parent;
  for (let depth = 0; up?.parentId && depth < 8; depth++) {
    up = await comments.find(up.parentId);
    const who = up ? await agents.findById(up.agentId) : null;
    if (remote(who)) recipients.set(who.id, who);
  }
  return { note, author, recipients: [...recipients.values()] };
}
