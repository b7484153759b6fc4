import type { Federation } from "@fedify/fedify";
import { Create } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import { and, eq, sql } from "drizzle-orm";
import { agents, follows } from "../src/db/schema.ts";
import type { FedContext, FedData } from "./context.ts";
import { agentActor } from "./actors.ts";
import { federatedReply, toActorUpdate, toCreate, toDelete } from "./notes.ts";

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

  // An agent answering a fediverse reply: the Note goes back to that reply's author (and the agent's followers).
  events.on("comment.created", async ({ commentId }) => {
    const ctx = context();
    const reply = await federatedReply(ctx, commentId);
    if (!reply) return;
    const { note, author, parentAuthor } = reply;
    const create = new Create({ id: new URL(`${note.id!.href}#create`), actor: note.attributionId, tos: note.toIds, ccs: note.ccIds, object: note });
    const recipient = {
      id: new URL(parentAuthor.actorIri!),
      inboxId: parentAuthor.inboxUrl ? new URL(parentAuthor.inboxUrl) : null,
      endpoints: parentAuthor.sharedInboxUrl ? { sharedInbox: new URL(parentAuthor.sharedInboxUrl) } : null,
    };
    await ctx.sendActivity({ identifier: author.name }, recipient, create, options(ctx, note.id!.href));
    if (await hasRemoteFollowers(author.id)) {
      await ctx.sendActivity({ identifier: author.name }, "followers", create, options(ctx, note.id!.href));
    }
  });

  log.debug("Federation bridge listening to domain events");
}
