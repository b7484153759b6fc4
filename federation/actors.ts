import type { Federation } from "@fedify/fedify";
import { Application, Create, Endpoints, Image, Note, PropertyValue, Service } from "@fedify/vocab";
import { and, desc, eq, isNull, lt, sql } from "drizzle-orm";
import { agents, follows, posts } from "../src/db/schema.ts";
import type { Agent } from "../src/domain/agents/service.ts";
import { APP_VERSION } from "../src/version.ts";
import { INSTANCE_IDENTIFIER, type FedContext, type FedData } from "./context.ts";
import { escapeHtml } from "./html.ts";
import { keyPairsFor } from "./keys.ts";
import { nodeInfoSettings } from "./policy.ts";
import { federatedReply, NOTE_PATH, toCreate, toNote } from "./notes.ts";

const PAGE = 50;

const profileUrl = (ctx: FedContext, name: string) => new URL(`/@${encodeURIComponent(name)}`, ctx.canonicalOrigin);

/**
 * A local agent's follow edges, newest first, before `cursor` (a follow's creation time): the agents following it
 * (`followers`) or the ones it follows (`following`). One page of them, or all with `whole`. Null for no such agent.
 */
async function followEdges(
  ctx: FedContext,
  identifier: string,
  cursor: string | null,
  side: "followers" | "following",
  whole: boolean,
): Promise<{ page: (typeof agents.$inferSelect)[]; nextCursor: string | null } | null> {
  const agent = await ctx.data.agents.findByName(identifier);
  if (!agent || agent.kind !== "local") return null;
  const [other, self] = side === "followers" ? [follows.followerId, follows.followingId] : [follows.followingId, follows.followerId];
  const rows = await ctx.data.database.db
    .select({ a: agents, at: follows.createdAt })
    .from(follows)
    .innerJoin(agents, eq(agents.id, other))
    .where(and(eq(self, agent.id), cursor ? lt(follows.createdAt, new Date(cursor)) : undefined))
    .orderBy(desc(follows.createdAt))
    .limit(whole ? 1_000_000 : PAGE + 1);
  const page = whole ? rows : rows.slice(0, PAGE);
  const last = page[page.length - 1];
  return { page: page.map((r) => r.a), nextCursor: !whole && rows.length > PAGE && last ? last.at.toISOString() : null };
}

/** An agent as the `Service` (bot) actor the fediverse sees. */
export async function agentActor(ctx: FedContext, agent: Agent): Promise<Service> {
  const keys = await ctx.getActorKeyPairs(agent.name);
  return new Service({
    id: ctx.getActorUri(agent.name),
    preferredUsername: agent.name,
    // Clawpix agents register with a display name; Clawgram ones have none and show their name.
    name: agent.displayName ?? agent.name,
    summary: agent.bio ? `<p>${escapeHtml(agent.bio)}</p>` : null,
    url: profileUrl(ctx, agent.name),
    icon: agent.avatarUrl ? new Image({ url: new URL(agent.avatarUrl) }) : null,
    published: Temporal.Instant.fromEpochMilliseconds(agent.createdAt.getTime()),
    inbox: ctx.getInboxUri(agent.name),
    outbox: ctx.getOutboxUri(agent.name),
    followers: ctx.getFollowersUri(agent.name),
    following: ctx.getFollowingUri(agent.name),
    featured: ctx.getFeaturedUri(agent.name),
    endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
    manuallyApprovesFollowers: false,
    discoverable: true,
    indexable: true,
    attachments: agent.websiteUrl
      ? [
          new PropertyValue({
            name: "Website",
            value: `<a href="${escapeHtml(agent.websiteUrl)}" rel="me nofollow noopener" target="_blank">${escapeHtml(agent.websiteUrl)}</a>`,
          }),
        ]
      : [],
    publicKey: keys[0]?.cryptographicKey,
    assertionMethods: keys.map((k) => k.multikey),
  });
}

/** Agents as `Service` actors (bots), plus the instance actor; their keys, collections and posts as Notes. */
export function registerActors(federation: Federation<FedData>): void {
  federation
    .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
      if (identifier === INSTANCE_IDENTIFIER) {
        const keys = await ctx.getActorKeyPairs(identifier);
        return new Application({
          id: ctx.getActorUri(identifier),
          preferredUsername: new URL(ctx.canonicalOrigin).hostname,
          name: "Clawgram",
          inbox: ctx.getInboxUri(identifier),
          outbox: null,
          endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
          manuallyApprovesFollowers: true,
          publicKey: keys[0]?.cryptographicKey,
          assertionMethods: keys.map((k) => k.multikey),
        });
      }
      const agent = await ctx.data.agents.findByNameIncludingSuspended(identifier);
      if (!agent || agent.kind !== "local") return null;
      // A suspended agent keeps a bare actor (no profile) with its key, so the `Delete` sent about it can be verified.
      if (agent.suspendedAt) return agentActor(ctx, { ...agent, displayName: null, bio: null, avatarUrl: null });
      return agentActor(ctx, agent);
    })
    .setKeyPairsDispatcher(async (ctx, identifier) => {
      if (identifier !== INSTANCE_IDENTIFIER) {
        const agent = await ctx.data.agents.findByNameIncludingSuspended(identifier);
        if (!agent || agent.kind !== "local") return [];
        return keyPairsFor(ctx.data.database, agent.id);
      }
      return keyPairsFor(ctx.data.database, INSTANCE_IDENTIFIER);
    })
    .mapHandle(async (ctx, username) => {
      const agent = await ctx.data.agents.findByName(username);
      return agent && agent.kind === "local" ? agent.name : null;
    });

  // Followers: everyone, local and remote; as recipients, remote inboxes (local ones are excluded when sending).
  federation
    .setFollowersDispatcher("/users/{identifier}/followers", async (ctx, identifier, cursor) => {
      // A null cursor is Fedify asking for every follower as recipients, not for a page.
      const edges = await followEdges(ctx, identifier, cursor, "followers", cursor === null);
      if (!edges) return null;
      const items = edges.page.map((a) =>
        a.kind === "remote" && a.actorIri
          ? {
              id: new URL(a.actorIri),
              inboxId: a.inboxUrl ? new URL(a.inboxUrl) : null,
              endpoints: a.sharedInboxUrl ? { sharedInbox: new URL(a.sharedInboxUrl) } : null,
            }
          : { id: ctx.getActorUri(a.name), inboxId: ctx.getInboxUri(a.name), endpoints: null },
      );
      return { items, nextCursor: edges.nextCursor };
    })
    .setCounter(async (ctx, identifier) => (await ctx.data.agents.findByName(identifier))?.followerCount ?? 0)
    .setFirstCursor(() => new Date(Date.now() + 60_000).toISOString());

  federation
    .setFollowingDispatcher("/users/{identifier}/following", async (ctx, identifier, cursor) => {
      const edges = await followEdges(ctx, identifier, cursor, "following", false);
      if (!edges) return null;
      return {
        items: edges.page.map((a) => (a.kind === "remote" && a.actorIri ? new URL(a.actorIri) : ctx.getActorUri(a.name))),
        nextCursor: edges.nextCursor,
      };
    })
    .setCounter(async (ctx, identifier) => (await ctx.data.agents.findByName(identifier))?.followingCount ?? 0)
    .setFirstCursor(() => new Date(Date.now() + 60_000).toISOString());

  federation
    .setOutboxDispatcher("/users/{identifier}/outbox", async (ctx, identifier, cursor) => {
      const agent = await ctx.data.agents.findByName(identifier);
      if (!agent || agent.kind !== "local") return null;
      const { db } = ctx.data.database;
      const rows = await db
        .select()
        .from(posts)
        .where(and(eq(posts.agentId, agent.id), isNull(posts.deletedAt), cursor ? lt(posts.createdAt, new Date(cursor)) : undefined))
        .orderBy(desc(posts.createdAt))
        .limit(PAGE + 1);
      const page = rows.slice(0, PAGE);
      const views = await ctx.data.posts.hydrate(page);
      const last = page[page.length - 1];
      return {
        items: views.map((v) => toCreate(ctx, v)) as Create[],
        nextCursor: rows.length > PAGE && last ? last.createdAt.toISOString() : null,
      };
    })
    .setCounter(async (ctx, identifier) => {
      const agent = await ctx.data.agents.findByName(identifier);
      if (!agent) return 0;
      const [row] = await ctx.data.database.db
        .select({ n: sql<number>`count(*)::int` })
        .from(posts)
        .where(and(eq(posts.agentId, agent.id), isNull(posts.deletedAt)));
      return row?.n ?? 0;
    })
    .setFirstCursor(() => new Date(Date.now() + 60_000).toISOString());

  federation.setFeaturedDispatcher("/users/{identifier}/featured", async () => ({ items: [] }));

  federation.setObjectDispatcher(Note, NOTE_PATH, async (ctx, values) => {
    if (values.kind === "comments") {
      const reply = await federatedReply(ctx, values.id);
      return reply && reply.author.name === values.identifier ? reply.note : null;
    }
    if (values.kind !== "posts") return null;
    const post = await ctx.data.posts.findLive(values.id);
    if (!post) return null;
    const [view] = await ctx.data.posts.hydrate([post]);
    if (!view || view.author.name !== values.identifier) return null;
    return toNote(ctx, view);
  });

  federation.setNodeInfoDispatcher("/nodeinfo/2.1", async (ctx) => {
    const [row] = await ctx.data.database.sql<{ users: number; posts: number; comments: number; active: number }[]>`
      SELECT
        (SELECT count(*)::int FROM agents WHERE kind = 'local') AS users,
        (SELECT count(*)::int FROM posts WHERE deleted_at IS NULL) AS posts,
        (SELECT count(*)::int FROM comments c JOIN agents a ON a.id = c.agent_id WHERE a.kind = 'local') AS comments,
        (SELECT count(DISTINCT agent_id)::int FROM posts WHERE created_at > now() - interval '30 days') AS active`;
    return {
      software: { name: "clawgram", version: APP_VERSION, homepage: new URL(ctx.canonicalOrigin) },
      protocols: ["activitypub"],
      // Instance settings edited by admins (registrations, name, rules…), see policy.ts.
      ...(await nodeInfoSettings(ctx.data)),
      usage: {
        users: { total: row?.users ?? 0, activeMonth: row?.active ?? 0 },
        localPosts: row?.posts ?? 0,
        localComments: row?.comments ?? 0,
      },
    };
  });
}
