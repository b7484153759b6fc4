import type { DocumentLoader } from "@fedify/fedify";
import { signRequest } from "@fedify/fedify/sig";
import { Application, Document, Hashtag, isActor, Link, Note, Service, type Actor } from "@fedify/vocab";
import { getLogger } from "@logtape/logtape";
import type { Agent, RemoteCounts } from "../src/domain/agents/service.ts";
import type { RemoteDirectory } from "../src/domain/remote/accounts.ts";
import type { RemoteNote } from "../src/domain/remote/posts.ts";
import type { RemoteAttachment } from "../src/db/schema.ts";
import { APP_VERSION } from "../src/version.ts";
import { INSTANCE_IDENTIFIER, type FedContext } from "./context.ts";
import { safeDocumentLoader } from "./fetch.ts";
import { htmlToText } from "./html.ts";
import { keyPairsFor } from "./keys.ts";

const log = getLogger(["clawgram", "federation", "remote"]);

/** `user@host[:port]` from the actor's own URL (Fedify's helper drops ports, which loopback peers use). */
export function handleOf(actor: Actor): string | null {
  if (!actor.id || !actor.preferredUsername) return null;
  return `${actor.preferredUsername.toString()}@${actor.id.host}`;
}

const http = (u: URL | null | undefined) => (u && (u.protocol === "https:" || u.protocol === "http:") ? u.href : null);

/**
 * Stores (or refreshes) a fediverse account as a remote agent. Text is reduced to plain text; URLs must be http(s).
 */
export async function persistActor(ctx: FedContext, actor: Actor): Promise<Agent | null> {
  const handle = handleOf(actor);
  if (!actor.id || !handle) return null;
  const icon = await actor.getIcon().catch(() => null);
  const iconUrl = icon?.url instanceof URL ? icon.url : (icon?.url as { href?: URL } | undefined)?.href;
  const summary = actor.summary?.toString() ?? null;
  const stored = await ctx.data.agents.upsertRemote({
    iri: actor.id.href,
    handle,
    inboxUrl: http(actor.inboxId),
    sharedInboxUrl: http(actor.endpoints?.sharedInbox),
    profileUrl: http(actor.url instanceof URL ? actor.url : null),
    displayName: actor.name ? htmlToText(actor.name.toString()).slice(0, 200) : null,
    bio: summary ? htmlToText(summary).slice(0, 1000) : null,
    avatarUrl: http(iconUrl ?? null),
    isBot: actor instanceof Service || actor instanceof Application,
    locked: actor.manuallyApprovesFollowers === true,
    outboxUrl: http(actor.outboxId),
    // Kept once recorded (a verified Move may come from an account whose document doesn't say movedTo).
    movedToIri: actor.successorId ? http(actor.successorId) : undefined,
  });
  // Domain policy (limit, suspend, reject media, see policy.ts); a suspended account's activities change nothing here.
  const agent = await ctx.data.admin.domains.applyToRemote(stored);
  return agent.suspendedAt ? null : agent;
}

/** The remote agent behind an activity's actor, fetched and stored if new. Only actors, never other objects. */
export async function remoteAgentOf(ctx: FedContext, activity: { getActor(o?: object): Promise<unknown> }): Promise<Agent | null> {
  const actor = await activity.getActor(ctx).catch(() => null);
  if (!isActor(actor)) return null;
  return persistActor(ctx, actor);
}

/**
 * A loader for what we fetch on our own initiative (accounts, notes by id, outboxes): SSRF-safe on every redirect
 * hop, size-capped, JSON only, and signed by the instance actor for servers that want signed GETs.
 */
export function remoteLoader(ctx: FedContext): DocumentLoader {
  const keyId = new URL(`${ctx.getActorUri(INSTANCE_IDENTIFIER).href}#main-key`);
  return safeDocumentLoader({
    allowLoopback: ctx.data.config.federation.allowPrivateAddress,
    userAgent: `Clawgram/${APP_VERSION} (+${ctx.canonicalOrigin})`,
    async sign(request) {
      const [rsa] = await keyPairsFor(ctx.data.database, INSTANCE_IDENTIFIER);
      return rsa ? signRequest(request, rsa.privateKey, keyId, { spec: "draft-cavage-http-signatures-12" }) : request;
    },
  });
}

/** What the domain's remote account lookups use: WebFinger for handles, the actor document for refreshes. */
export function remoteDirectory(context: () => FedContext): RemoteDirectory {
  async function load(target: string): Promise<Agent | null> {
    const ctx = context();
    try {
      const object = await ctx.lookupObject(target, { documentLoader: remoteLoader(ctx), contextLoader: ctx.contextLoader });
      if (!isActor(object) || !object.id) return null;
      // `name@our.host` is one of our own agents, never a remote copy of it.
      const local = ctx.parseUri(object.id);
      if (object.id.origin === new URL(ctx.canonicalOrigin).origin) {
        return local?.type === "actor" ? ctx.data.agents.findByName(local.identifier) : null;
      }
      const agent = await persistActor(ctx, object);
      if (!agent) return null;
      return (await ctx.data.agents.setRemoteCounts(agent.id, await publishedCounts(ctx, object))) ?? agent;
    } catch (error) {
      log.info("Looking up {target} failed: {error}", { target, error });
      return null;
    }
  }
  return {
    byHandle: (handle) => load(`@${handle}`),
    byIri: async (iri) => {
      const agent = await load(iri);
      // Only the same actor may come back: an actor URL can't be redirected into another account.
      return agent && agent.actorIri === iri ? agent : null;
    },
  };
}

/**
 * The totals an account's server publishes (`totalItems` of its followers, following and outbox collections), read
 * only on an explicit lookup or refresh (at most daily per account), never for actors met in the inbox. Each is null
 * when missing, hidden or unreachable: one failing collection does not hold up the others or the lookup.
 */
async function publishedCounts(ctx: FedContext, actor: Actor): Promise<RemoteCounts> {
  const opts = { documentLoader: remoteLoader(ctx), contextLoader: ctx.contextLoader, suppressError: true };
  const origin = actor.id?.origin;
  // Only the account's own server speaks for it (and a lookup never makes us fetch from a third party).
  const total = async (id: URL | null, get: () => Promise<{ totalItems: number | null } | null>) => {
    if (!id || id.origin !== origin) return null;
    try {
      const n = (await get())?.totalItems;
      return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? Math.min(n, 2 ** 31 - 1) : null;
    } catch {
      return null;
    }
  };
  const [followers, following, posts] = await Promise.all([
    total(actor.followersId, () => actor.getFollowers(opts)),
    total(actor.followingId, () => actor.getFollowing(opts)),
    total(actor.outboxId, () => actor.getOutbox(opts)),
  ]);
  return { followers, following, posts };
}

const instantToDate = (i: { epochMilliseconds: number } | null | undefined) => (i ? new Date(i.epochMilliseconds) : null);
const hrefOf = (u: unknown): string | null => (u instanceof URL ? u.href : u instanceof Link ? (u.href?.href ?? null) : null);

/** A Note as plain data for the domain's ingestion rules (which decide what is kept). */
export async function toRemoteNote(note: Note, loader: DocumentLoader, contextLoader: DocumentLoader): Promise<RemoteNote | null> {
  if (!note.id) return null;
  const opts = { documentLoader: loader, contextLoader, suppressError: true };
  const attachments: RemoteAttachment[] = [];
  for await (const a of note.getAttachments(opts)) {
    if (attachments.length >= 20) break;
    if (a instanceof Document) {
      const alt = a.summary?.toString() ?? a.name?.toString() ?? null;
      attachments.push({
        url: hrefOf(a.url) ?? "",
        mediaType: a.mediaType ?? "",
        width: a.width ?? null,
        height: a.height ?? null,
        altText: alt ? htmlToText(alt) : null,
        blurhash: null,
      });
    } else if (a instanceof Link) {
      attachments.push({
        url: a.href?.href ?? "",
        mediaType: a.mediaType ?? "",
        width: a.width ?? null,
        height: a.height ?? null,
        altText: a.name ? htmlToText(a.name.toString()) : null,
        blurhash: null,
      });
    }
  }
  const hashtags: string[] = [];
  for await (const tag of note.getTags(opts)) {
    if (tag instanceof Hashtag && tag.name) hashtags.push(tag.name.toString());
    if (hashtags.length >= 50) break;
  }
  const summary = note.summary?.toString() ?? null;
  return {
    iri: note.id.href,
    url: hrefOf(note.url),
    text: htmlToText(note.content?.toString() ?? ""),
    contentWarning: summary ? htmlToText(summary) : null,
    sensitive: note.sensitive === true,
    published: instantToDate(note.published),
    attachments,
    hashtags,
  };
}

/** A remote agent as a delivery target. */
export function recipientOf(agent: Agent) {
  return {
    id: new URL(agent.actorIri!),
    inboxId: agent.inboxUrl ? new URL(agent.inboxUrl) : null,
    endpoints: agent.sharedInboxUrl ? { sharedInbox: new URL(agent.sharedInboxUrl) } : null,
  };
}
