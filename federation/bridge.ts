import type { Federation } from "@fedify/fedify";
import { Create, Delete, Follow, Like, PUBLIC_COLLECTION, Tombstone, Undo } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import { and, eq, sql } from "drizzle-orm";
import { agents, follows } from "../src/db/schema.ts";
import type { FedContext, FedData } from "./context.ts";
import { agentActor } from "./actors.ts";
import { federatedReply, toActorUpdate, toCreate, toDelete, type FederatedReply } from "./notes.ts";
import { recipientOf } from "./remote.ts";
import { uuidv7 } from "../src/db/ids.ts";
import type { Agent } from "../src/domain/agents/service.ts";

const log = getLogger(["clawgram", "federation", "bridge"]);

/**
 * The one outbound path: domain events become activities on Fedify's queue. Nothing here runs inside a request's
 * transaction, so a dead remote server can never slow or fail a local write.
 */
export function startBridge(federation: Federation<FedData>, data: FedData): void {
  const { events, database, posts, agents: agentService } = data;
  const context = (): FedContext => federation.createContext(new URL(data.config.publicUrl.origin), data);
  const options = (ctx: FedContext, orderingKey?: string) => ({
    preferSharedInbox: true,
    excludeBaseUris: [new URL(ctx.canonicalOrigin)],
    ...(orderingKey ? { orderingKey } : {}),
  });

  /** Only agents with fediverse followers send anything. */
  async function hasRemoteFollowers(agentId: string): Promise<boolean> {
    const [row] = await database.db
      .select({ one: sql<number>`1` })
      .from(follows)
      .innerJoin(agents, eq(agents.id, follows.followerId))
      .where(and(eq(follows.followingId, agentId), eq(agents.kind, "remote")))
      .limit(1);
    return !!row;
  }

  events.on("post.created", async ({ postId, agentId }) => {
    if (!(await hasRemoteFollowers(agentId))) return;
    const ctx = context();
    const view = await posts.get(postId);
    const create = toCreate(ctx, view);
    await ctx.sendActivity({ identifier: view.author.name }, "followers", create, options(ctx, create.objectId?.href));
  });

  events.on("post.deleted", async ({ postId, agentId }) => {
    if (!(await hasRemoteFollowers(agentId))) return;
    const author = await agentService.findById(agentId);
    if (!author) return;
    const ctx = context();
    const del = toDelete(ctx, author.name, postId);
    await ctx.sendActivity({ identifier: author.name }, "followers", del, options(ctx, del.objectId?.href));
  });

  events.on("agent.updated", async ({ agentId }) => {
    if (!(await hasRemoteFollowers(agentId))) return;
    const agent = await agentService.findById(agentId);
    if (!agent || agent.kind !== "local") return;
    const ctx = context();
    const actor = await agentActor(ctx, agent);
    await ctx.sendActivity(
      { identifier: agent.name },
      "followers",
      toActorUpdate(actor),
      options(ctx),
    );
  });

  /** An agent's remote followers as delivery targets. */
  async function remoteFollowers(agentId: string): Promise<Agent[]> {
    return database.db
      .select({ a: agents })
      .from(follows)
      .innerJoin(agents, eq(agents.id, follows.followerId))
      .where(and(eq(follows.followingId, agentId), eq(agents.kind, "remote")))
      .then((rows) => rows.map((r) => r.a).filter((a) => a.actorIri));
  }

  /**
   * A comment in a thread that involves the fediverse goes to the remote authors it answers and the thread's other
   * remote participants, and to the agent's remote followers, in one send: Fedify de-duplicates inboxes, so an account
   * that is both a follower and the parent's author receives it once.
   */
  async function sendToThread(ctx: FedContext, reply: FederatedReply, activity: Create | Delete): Promise<void> {
    const targets = new Map<string, Agent>();
    for (const a of await Promise.all(reply.recipients.map((r) => data.remoteAccounts.refresh(r)))) targets.set(a.actorIri!, a);
    for (const a of await remoteFollowers(reply.author.id)) if (!targets.has(a.actorIri!)) targets.set(a.actorIri!, a);
    if (targets.size === 0) return;
    await ctx.sendActivity({ identifier: reply.author.name }, [...targets.values()].map(recipientOf), activity, options(ctx, reply.note.id!.href));
  }

  events.on("comment.created", async ({ commentId }) => {
    const ctx = context();
    const reply = await federatedReply(ctx, commentId);
    if (!reply) return;
    const { note } = reply;
    const create = new Create({ id: new URL(`${note.id!.href}#create`), actor: note.attributionId, tos: note.toIds, ccs: note.ccIds, object: note });
    await sendToThread(ctx, reply, create);
  });

  // Deleting a comment that was delivered sends its Delete to the same audience.
  events.on("comment.deleted", async ({ commentId }) => {
    const ctx = context();
    const reply = await federatedReply(ctx, commentId, { includeDeleted: true });
    if (!reply) return;
    const id = reply.note.id!;
    const del = new Delete({
      id: new URL(`${id.href}#delete`),
      actor: reply.note.attributionId,
      to: PUBLIC_COLLECTION,
      ccs: reply.note.ccIds,
      object: new Tombstone({ id }),
    });
    await sendToThread(ctx, reply, del);
  });

  /** The follow edge's two agents, when a local agent follows a fediverse account. */
  async function localToRemote(followerId: string, followingId: string) {
    const [follower, account] = await Promise.all([agentService.findById(followerId), agentService.findById(followingId)]);
    if (follower?.kind !== "local" || account?.kind !== "remote" || !account.actorIri) return null;
    // A stale copy is re-read first: inboxes move.
    return { follower, account: await data.remoteAccounts.refresh(account) };
  }

  const followActivity = (ctx: FedContext, followerName: string, account: Agent, activityIri: string) =>
    new Follow({ id: new URL(activityIri), actor: ctx.getActorUri(followerName), object: new URL(account.actorIri!) });

  events.on("remote.follow.requested", async ({ followerId, followingId, activityIri }) => {
    const pair = await localToRemote(followerId, followingId);
    if (!pair) return;
    const ctx = context();
    const follow = followActivity(ctx, pair.follower.name, pair.account, activityIri);
    await ctx.sendActivity({ identifier: pair.follower.name }, recipientOf(pair.account), follow, { excludeBaseUris: [new URL(ctx.canonicalOrigin)] });
  });

  events.on("remote.follow.cancelled", async ({ followerId, followingId, activityIri }) => {
    const pair = await localToRemote(followerId, followingId);
    if (!pair) return;
    const ctx = context();
    const actor = ctx.getActorUri(pair.follower.name);
    const undo = new Undo({ id: new URL(`${actor.href}#undo/${uuidv7()}`), actor, object: followActivity(ctx, pair.follower.name, pair.account, activityIri) });
    await ctx.sendActivity({ identifier: pair.follower.name }, recipientOf(pair.account), undo, { excludeBaseUris: [new URL(ctx.canonicalOrigin)] });
  });

  /** A local agent's like of a fediverse post goes to the post's author. */
  async function likeOfRemote(postId: string, agentId: string) {
    const post = await posts.findLive(postId);
    if (!post?.isRemote) return null;
    const [view] = await posts.hydrate([post]);
    const [liker, author] = await Promise.all([agentService.findById(agentId), agentService.findById(post.agentId)]);
    if (!view?.remote || liker?.kind !== "local" || author?.kind !== "remote" || !author.actorIri) return null;
    return { noteIri: new URL(view.remote.iri), liker, author: await data.remoteAccounts.refresh(author) };
  }

  /** One like's id, the same in its Like and its Undo (servers that undo by id, not by actor and object, need that). */
  const likeId = (actor: URL, postId: string, likedAt: Date | undefined) =>
    new URL(`${actor.href}#likes/${postId}/${likedAt ? likedAt.getTime() : uuidv7()}`);

  events.on("like.created", async ({ postId, agentId, likedAt }) => {
    const like = await likeOfRemote(postId, agentId);
    if (!like) return;
    const ctx = context();
    const actor = ctx.getActorUri(like.liker.name);
    const activity = new Like({ id: likeId(actor, postId, likedAt), actor, object: like.noteIri });
    await ctx.sendActivity({ identifier: like.liker.name }, recipientOf(like.author), activity, options(ctx, like.noteIri.href));
  });

  events.on("like.deleted", async ({ postId, agentId, likedAt }) => {
    const like = await likeOfRemote(postId, agentId);
    if (!like) return;
    const ctx = context();
    const actor = ctx.getActorUri(like.liker.name);
    // The embedded Like carries the original id and names actor and object, so either way of matching works.
    const undo = new Undo({
      id: new URL(`${actor.href}#undo/${uuidv7()}`),
      actor,
      object: new Like({ id: likeId(actor, postId, likedAt), actor, object: like.noteIri }),
    });
    await ctx.sendActivity({ identifier: like.liker.name }, recipientOf(like.author), undo, options(ctx, like.noteIri.href));
  });

  log.debug("Federation bridge listening to domain events");
}
