import type { Federation, InboxContext, RequestContext } from "@fedify/fedify";
import type { Agent } from "../src/domain/agents/service.ts";
import { safeFetch } from "./fetch.ts";
import { Accept, Activity, Announce, Create, Delete, Flag, Follow, isActor, Like, Move, Note, Reject, Undo, Update } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import { DomainError } from "../src/domain/errors.ts";
import { MAX_COMMENT_LENGTH } from "../src/domain/comments/service.ts";
import { INSTANCE_IDENTIFIER, type FedData } from "./context.ts";
import { htmlToText } from "./html.ts";
import { toAccept, type NoteKind } from "./notes.ts";
import { backfillOutbox } from "./backfill.ts";
import { persistActor, remoteAgentOf, remoteLoader, toRemoteNote } from "./remote.ts";
import { cacheThumbnails } from "./thumbnails.ts";

const log = getLogger(["clawgram", "federation", "inbox"]);
type Ctx = InboxContext<FedData>;

const sameOrigin = (a: URL | null | undefined, b: URL | null | undefined) => !!a && !!b && a.origin === b.origin;

/** Runs a listener body; a domain refusal (unknown post, self-follow…) just means the activity changes nothing. */
async function guard(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof DomainError) {
      log.debug("{what} ignored: {message}", { what, message: error.message });
      return;
    }
    throw error;
  }
}

/** The id of our post or agent reply that a Note IRI names, if it is one of ours (see NOTE_PATH). */
function localNoteId(ctx: Ctx, iri: URL | null, kind: NoteKind): string | null {
  const parsed = ctx.parseUri(iri);
  return parsed?.type === "object" && parsed.class === Note && parsed.values.kind === kind ? (parsed.values.id ?? null) : null;
}

const localPostId = (ctx: Ctx, iri: URL | null) => localNoteId(ctx, iri, "posts");

/** The local comment an IRI names: one of our agents' reply Notes, or a stored fediverse reply. */
async function localCommentId(ctx: Ctx, iri: URL): Promise<string | null> {
  if (iri.origin === new URL(ctx.canonicalOrigin).origin) return localNoteId(ctx, iri, "comments");
  return (await ctx.data.comments.findByIri(iri.href))?.id ?? null;
}

/** Fediverse replies are plain text here: mentions of our agent at the start are dropped, long ones shortened. */
export function replyText(html: string): string {
  const text = htmlToText(html).replace(/^(@[\w.-]+(@[\w.:-]+)?\s+)+/u, "").trim();
  return text.length > MAX_COMMENT_LENGTH ? `${text.slice(0, MAX_COMMENT_LENGTH - 1)}…` : text;
}

/** An object we could not (or would not) fetch: oversized, malformed, redirected somewhere private… Nothing is kept. */
function unfetchable(error: unknown): null {
  log.info("Referenced object refused: {error}", { error });
  return null;
}

/** The account itself is gone: so are its posts here and our agents' follows of it. */
async function accountDeleted(data: FedData, account: Agent): Promise<void> {
  await data.remotePosts.removeAllBy(account);
  await data.social.dropRemoteAccount(account);
}

/**
 * A deleted account's farewell `Delete` can't be verified (its key went with it: 404/410). Like Mastodon and Hollo we
 * accept it (202) only after checking ourselves that the actor is really gone from its server.
 */
async function onUnverified(ctx: RequestContext<FedData>, activity: Activity): Promise<Response | void> {
  if (!(activity instanceof Delete) || !activity.actorId || activity.objectId?.href !== activity.actorId.href) return;
  const account = await ctx.data.agents.findByActorIri(activity.actorId.href);
  if (!account || account.kind !== "remote") return;
  const res = await safeFetch(activity.actorId, {
    allowLoopback: ctx.data.config.federation.allowPrivateAddress,
    maxBytes: 64 * 1024,
    accept: "application/activity+json",
    timeoutMs: 5_000,
  }).catch(() => null);
  if (res?.status !== 404 && res?.status !== 410) return;
  await accountDeleted(ctx.data, account);
  return new Response(null, { status: 202 });
}

/** A fediverse post we store, by its id: replies to it become comments like replies to our own posts. */
async function storedRemotePostId(ctx: Ctx, iri: URL): Promise<string | null> {
  const stored = await ctx.data.remotePosts.findByIri(iri.href);
  return stored && !stored.deleted ? stored.postId : null;
}

/**
 * A new post from a fediverse account: kept only when an agent here follows the account (accepted), and only what the
 * domain's ingestion rules accept (an image post on the author's own server).
 */
async function ingestPost(ctx: Ctx, create: Create, note: Note): Promise<void> {
  const author = await remoteAgentOf(ctx, create);
  if (!author || !(await ctx.data.social.isFollowedLocally(author.id))) return;
  const data = await toRemoteNote(note, remoteLoader(ctx), ctx.contextLoader);
  const result = data && (await ctx.data.remotePosts.ingest(author, data));
  if (result?.created) await cacheThumbnails(ctx, result.postId);
}

export function registerInbox(federation: Federation<FedData>): void {
  federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    .setSharedKeyDispatcher(() => ({ identifier: INSTANCE_IDENTIFIER }))
    .on(Follow, (ctx, follow) =>
      guard("Follow", async () => {
        const target = ctx.parseUri(follow.objectId);
        if (target?.type !== "actor" || target.identifier === INSTANCE_IDENTIFIER || !follow.id) return;
        if (!sameOrigin(follow.id, follow.actorId)) return;
        const actor = await follow.getActor(ctx);
        if (!isActor(actor)) return;
        const follower = await persistActor(ctx, actor);
        if (!follower) return;
        await ctx.data.social.follow(follower, target.identifier);
        await ctx.sendActivity({ identifier: target.identifier }, actor, toAccept(ctx, target.identifier, follow));
      }),
    )
    .on(Undo, (ctx, undo) =>
      guard("Undo", async () => {
        const object = await undo.getObject(ctx);
        // Only the actor who did something may undo it.
        if (!(object instanceof Activity) || object.actorId?.href !== undo.actorId?.href) return;
        const agent = await remoteAgentOf(ctx, undo);
        if (!agent) return;
        if (object instanceof Follow) {
          const target = ctx.parseUri(object.objectId);
          if (target?.type === "actor") await ctx.data.social.unfollow(agent, target.identifier);
        } else if (object instanceof Like) {
          const postId = localPostId(ctx, object.objectId);
          if (postId) await ctx.data.social.unlike(agent, postId);
        } else if (object instanceof Announce) {
          const postId = localPostId(ctx, object.objectId);
          if (postId) await ctx.data.social.unannounce(agent, postId);
        }
      }),
    )
    .on(Like, (ctx, like) =>
      guard("Like", async () => {
        const postId = localPostId(ctx, like.objectId);
        if (!postId) return;
        const agent = await remoteAgentOf(ctx, like);
        if (agent) await ctx.data.social.like(agent, postId);
      }),
    )
    .on(Announce, (ctx, announce) =>
      guard("Announce", async () => {
        const postId = localPostId(ctx, announce.objectId);
        if (!postId || !sameOrigin(announce.id, announce.actorId)) return;
        const agent = await remoteAgentOf(ctx, announce);
        if (agent) await ctx.data.social.announce(agent, postId, announce.id?.href ?? null);
      }),
    )
    .on(Create, (ctx, create) =>
      guard("Create", async () => {
        // Objects given by id are fetched by our own loader (SSRF-safe, size-capped); an embedded object from another
        // origin is not trusted but re-fetched from its own server (Fedify's default).
        const loader = remoteLoader(ctx);
        const note = await create.getObject({ documentLoader: loader, contextLoader: ctx.contextLoader }).catch(unfetchable);
        if (!(note instanceof Note) || !note.id) return;
        // The note must be the actor's own, on the actor's own server.
        if (!sameOrigin(note.id, create.actorId) || note.attributionId?.href !== create.actorId?.href) return;
        if (!note.replyTargetId) return ingestPost(ctx, create, note);
        let postId = localPostId(ctx, note.replyTargetId) ?? (await storedRemotePostId(ctx, note.replyTargetId));
        let parentId: string | undefined;
        if (!postId) {
          const parent = await localCommentId(ctx, note.replyTargetId);
          if (!parent) return;
          const comment = await ctx.data.comments.find(parent);
          if (!comment) return;
          postId = comment.postId;
          parentId = comment.id;
        }
        if (await ctx.data.comments.findByIri(note.id.href)) return; // already have it
        const agent = await remoteAgentOf(ctx, create);
        if (!agent) return;
        const content = replyText(note.content?.toString() ?? "");
        if (!content) return;
        await ctx.data.comments.create(agent, postId, { content, parentId, iri: note.id.href });
      }),
    )
    .on(Delete, (ctx, del) =>
      guard("Delete", async () => {
        const objectId = del.objectId;
        if (!objectId || !sameOrigin(objectId, del.actorId)) return;
        const author = await ctx.data.agents.findByActorIri(del.actorId!.href);
        if (!author || author.kind !== "remote") return;
        if (objectId.href === author.actorIri) return accountDeleted(ctx.data, author);
        // remove() checks the post is the deleter's own.
        if (await ctx.data.remotePosts.remove(author, objectId.href)) return;
        const comment = await ctx.data.comments.findByIri(objectId.href);
        if (!comment) return;
        const agent = author;
        // Only the reply's author deletes it (comments.remove checks authorship too).
        if (agent) await ctx.data.comments.remove(agent, comment.id);
      }),
    )
    .on(Update, (ctx, update) =>
      guard("Update", async () => {
        const loader = remoteLoader(ctx);
        const object = await update.getObject({ documentLoader: loader, contextLoader: ctx.contextLoader }).catch(unfetchable);
        if (isActor(object) && object.id?.href === update.actorId?.href) await persistActor(ctx, object);
        if (!(object instanceof Note) || !object.id) return;
        // Only the author edits, from its own server; update() also checks the stored post is theirs.
        if (!sameOrigin(object.id, update.actorId) || object.attributionId?.href !== update.actorId?.href) return;
        const author = await ctx.data.agents.findByActorIri(update.actorId!.href);
        const data = author && (await toRemoteNote(object, loader, ctx.contextLoader));
        if (author && data) await ctx.data.remotePosts.update(author, data);
      }),
    )
    .on(Accept, (ctx, accept) =>
      guard("Accept", async () => {
        const followIri = accept.objectId;
        if (!followIri || followIri.origin !== new URL(ctx.canonicalOrigin).origin) return;
        const account = await remoteAgentOf(ctx, accept);
        // Only the followed account accepts (acceptRemoteFollow matches the Follow to it).
        if (!account || !(await ctx.data.social.acceptRemoteFollow(followIri.href, account))) return;
        if (account.postCount === 0) await backfillOutbox(ctx, account);
      }),
    )
    .on(Reject, (ctx, reject) =>
      guard("Reject", async () => {
        const followIri = reject.objectId;
        if (!followIri || followIri.origin !== new URL(ctx.canonicalOrigin).origin) return;
        const account = await remoteAgentOf(ctx, reject);
        if (account) await ctx.data.social.rejectRemoteFollow(followIri.href, account);
      }),
    )
    .on(Move, (ctx, move) =>
      guard("Move", async () => {
        // An account announces its own move; the new account must list the old one in alsoKnownAs.
        if (!move.actorId || move.objectId?.href !== move.actorId.href || !move.targetId) return;
        const old = await ctx.data.agents.findByActorIri(move.actorId.href);
        if (!old || old.kind !== "remote") return;
        const target = await ctx.lookupObject(move.targetId.href, { documentLoader: remoteLoader(ctx), contextLoader: ctx.contextLoader });
        if (!isActor(target) || target.id?.href !== move.targetId.href || !target.aliasIds.some((a) => a.href === old.actorIri)) return;
        const moved = await persistActor(ctx, target);
        if (!moved) return;
        await ctx.data.remoteAccounts.recordMove(old, moved.actorIri!);
        // Follow along: each agent here following the old account follows the new one instead.
        for (const followerId of await ctx.data.social.remoteFollowersOf(old.id)) {
          const follower = await ctx.data.agents.findById(followerId);
          if (follower?.kind !== "local") continue;
          await ctx.data.social.unfollow(follower, old.name);
          await guard("Move", () => ctx.data.social.follow(follower, moved.name).then(() => {}));
        }
      }),
    )
    .on(Flag, (ctx, flag) =>
      guard("Flag", async () => {
        const agent = await remoteAgentOf(ctx, flag);
        if (!agent) return;
        const details = flag.content ? htmlToText(flag.content.toString()).slice(0, 1000) : undefined;
        for (const iri of flag.objectIds) {
          const postId = localPostId(ctx, iri);
          if (postId) await guard("Flag", () => ctx.data.reports.report(agent, postId, { reason: "other", details }).then(() => {}));
        }
      }),
    )
    .onUnverifiedActivity((ctx, activity) => onUnverified(ctx, activity))
    .onError((_ctx, error) => {
      log.warning("Inbox listener failed: {error}", { error });
    });
}

