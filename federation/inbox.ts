import type { Federation, InboxContext } from "@fedify/fedify";
import { Activity, Announce, Create, Delete, Flag, Follow, isActor, Like, Note, Undo, Update } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import { DomainError } from "../src/domain/errors.ts";
import { MAX_COMMENT_LENGTH } from "../src/domain/comments/service.ts";
import { INSTANCE_IDENTIFIER, type FedData } from "./context.ts";
import { htmlToText } from "./html.ts";
import { toAccept, type NoteKind } from "./notes.ts";
import { persistActor, remoteAgentOf } from "./remote.ts";

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
        const note = await create.getObject(ctx);
        if (!(note instanceof Note) || !note.id || !note.replyTargetId) return;
        // The reply must be the actor's own, on the actor's own server.
        if (!sameOrigin(note.id, create.actorId) || note.attributionId?.href !== create.actorId?.href) return;
        let postId = localPostId(ctx, note.replyTargetId);
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
        const comment = await ctx.data.comments.findByIri(objectId.href);
        if (!comment) return;
        const agent = await ctx.data.agents.findByActorIri(del.actorId!.href);
        // Only the reply's author deletes it (comments.remove checks authorship too).
        if (agent) await ctx.data.comments.remove(agent, comment.id);
      }),
    )
    .on(Update, (ctx, update) =>
      guard("Update", async () => {
        const object = await update.getObject(ctx);
        if (isActor(object) && object.id?.href === update.actorId?.href) await persistActor(ctx, object);
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
    .onError((_ctx, error) => {
      log.warning("Inbox listener failed: {error}", { error });
    });
}

