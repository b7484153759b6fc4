import { randomUUID, KeyObject, type webcrypto } from "node:crypto";
import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  type Context,
  type Federation,
} from "@fedify/fedify";
import { signRequest } from "@fedify/fedify/sig";
import {
  Accept,
  Activity,
  Announce,
  Hashtag,
  Image,
  Move,
  Reject,
  Create,
  Delete,
  Endpoints,
  Flag,
  Follow,
  Like,
  Mention,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Tombstone,
  Undo,
  Update,
  type Actor,
  type Recipient,
} from "@fedify/vocab";
import { serveHttps } from "./tls.ts";

/**
 * An independent fediverse server for the federation tests: a second Fedify 2.3.8 instance (in-memory KV, no queue)
 * on its own HTTPS loopback port, playing a Mastodon user. It shares nothing with our app but the network: our
 * server finds its actors, keys and notes over HTTPS exactly as it would on a real instance.
 *
 * - `alice` (and `mallory`) are `Person` actors with RSA + Ed25519 keys.
 * - Every activity delivered to the peer's inboxes is verified by Fedify and recorded in `received`, with the JSON
 *   exactly as it came over the wire.
 * - The "backdoor" methods make alice act: follow, like, boost, reply, delete, report…, each a signed POST to our
 *   inbox through Fedify's own `sendActivity`.
 * - `postSigned` sends arbitrary JSON (Mastodon-shaped fixtures, forgeries) signed draft-cavage style, as Mastodon
 *   does, and returns our server's raw response.
 */

export type Received = {
  activity: Activity;
  /** The body as delivered. */
  json: any;
  /** `shared` for the shared inbox, otherwise the addressed actor's identifier. */
  inbox: string;
};

type KeyPair = webcrypto.CryptoKeyPair;

export type Peer = Awaited<ReturnType<typeof startPeer>>;

/** An image attached to a peer post (`publish`). */
export type PeerImage = { url: URL; mediaType: string; width?: number; height?: number; alt?: string };

export async function startPeer(options: { actors?: string[]; locked?: string[] } = {}) {
  const names = options.actors ?? ["alice", "mallory"];
  /** Accounts that approve followers by hand (their Follows wait in `pendingFollows`). */
  const locked = new Set(options.locked ?? []);
  /** Accepted followers per peer account, as delivery targets. */
  const followers = new Map<string, Map<string, Recipient>>(names.map((n) => [n, new Map()]));
  /** Follows waiting for a locked account's decision. */
  const pendingFollows: { follow: Follow; as: string; from: Actor }[] = [];
  /** Each account's published posts (newest last), served from its outbox. */
  const outboxes = new Map<string, Create[]>(names.map((n) => [n, []]));
  /** Followers and follows each account has elsewhere on the fediverse (added to its collections' totalItems). */
  const elsewhere = new Map<string, { followers: number; following: number }>();
  /** alsoKnownAs per account (for Move). */
  const aliases = new Map<string, URL[]>();
  /** Deleted accounts: their actor answers 410 Gone (keys are kept, so they can still sign a farewell). */
  const gone = new Set<string>();
  const keys = new Map<string, KeyPair[]>();
  for (const name of names) {
    keys.set(name, [await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"), await generateCryptoKeyPair("Ed25519")]);
  }
  const received: Received[] = [];
  /** Raw bodies of inbox POSTs by activity id (the listener only sees the parsed activity). */
  const rawById = new Map<string, any>();
  /** How many times each activity id was POSTed to any of the peer's inboxes (duplicates included). */
  const deliveries = new Map<string, number>();
  /** The peer's own notes (replies), served from the object dispatcher. */
  const notes = new Map<string, Note>();
  /** Extra raw routes (a forged key document, …). */
  const routes = new Map<string, () => Response | Promise<Response>>();

  // Filled in once the port (part of the origin) is known.
  const holder: { federation?: Federation<void> } = {};
  const server = await serveHttps(() => async (request: Request) => {
    const url = new URL(request.url);
    const route = routes.get(url.pathname);
    if (route) return route();
    if (request.method === "POST" && url.pathname.endsWith("inbox")) {
      try {
        const json: any = await request.clone().json();
        if (json && typeof json.id === "string") {
          rawById.set(json.id, json);
          deliveries.set(json.id, (deliveries.get(json.id) ?? 0) + 1);
        }
      } catch {
        // Not JSON: Fedify answers it.
      }
    }
    return holder.federation!.fetch(request, { contextData: undefined });
  });
  const origin = server.origin;

  const federation = createFederation<void>({
    kv: new MemoryKvStore(),
    // No queue: deliveries (all `immediate`) and inbox processing happen inside the request, and nothing keeps
    // running in the background after `close()`.
    origin,
    allowPrivateAddress: true,
    firstKnock: "draft-cavage-http-signatures-12",
  });
  holder.federation = federation;

  /** Profile text per actor (changed by `updateProfile`). */
  const summaries = new Map<string, string>(names.map((n) => [n, `<p>Hi, I'm <b>${n}</b> &amp; I live on the peer.</p>`]));
  async function person(ctx: Context<void>, identifier: string): Promise<Person> {
    const pairs = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: identifier[0]!.toUpperCase() + identifier.slice(1),
      summary: summaries.get(identifier) ?? null,
      url: new URL(`/@${identifier}`, origin),
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      following: ctx.getFollowingUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      manuallyApprovesFollowers: locked.has(identifier),
      aliases: aliases.get(identifier) ?? [],
      publicKey: pairs[0]!.cryptographicKey,
      assertionMethods: pairs.map((p) => p.multikey),
    });
  }

  federation
    .setActorDispatcher("/users/{identifier}", (ctx, identifier) =>
      gone.has(identifier) ? new Tombstone({ id: ctx.getActorUri(identifier) }) : keys.has(identifier) ? person(ctx, identifier) : null,
    )
    .setKeyPairsDispatcher((_ctx, identifier) => keys.get(identifier) ?? [])
    .mapHandle((_ctx, username) => (keys.has(username) ? username : null));

  federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", (ctx, values) => {
    const note = notes.get(ctx.getObjectUri(Note, values).href);
    return note ?? null;
  });

  federation
    .setOutboxDispatcher("/users/{identifier}/outbox", (_ctx, identifier) =>
      keys.has(identifier) ? { items: [...(outboxes.get(identifier) ?? [])].reverse() } : null,
    )
    .setCounter((_ctx, identifier) => outboxes.get(identifier)?.length ?? null);
  // Like Mastodon's: the totals are public, the lists are not served.
  federation
    .setFollowersDispatcher("/users/{identifier}/followers", (_ctx, identifier) => (keys.has(identifier) ? { items: [] } : null))
    .setCounter((_ctx, identifier) => (keys.has(identifier) ? (followers.get(identifier)?.size ?? 0) + (elsewhere.get(identifier)?.followers ?? 0) : null));
  federation
    .setFollowingDispatcher("/users/{identifier}/following", (_ctx, identifier) => (keys.has(identifier) ? { items: [] } : null))
    .setCounter((_ctx, identifier) => (keys.has(identifier) ? (elsewhere.get(identifier)?.following ?? 0) : null));

  const record = (activity: Activity, recipient: string | null) =>
    received.push({ activity, json: (activity.id && rawById.get(activity.id.href)) ?? null, inbox: recipient ?? "shared" });

  federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    .on(Follow, async (ctx, follow) => {
      record(follow, ctx.recipient);
      const target = ctx.parseUri(follow.objectId);
      const from = await follow.getActor(ctx);
      if (target?.type !== "actor" || !from?.id) return;
      // Like Mastodon: unlocked accounts accept at once, locked ones wait for their owner.
      if (locked.has(target.identifier)) pendingFollows.push({ follow, as: target.identifier, from });
      else await decide(follow, target.identifier, from, true);
    })
    .on(Activity, (ctx, activity) => {
      record(activity, ctx.recipient);
    });

  /** Accepts (or rejects) a follow of `as`, as Mastodon does: the Follow embedded, sent to the follower. */
  async function decide(follow: Follow, as: string, from: Actor, accept: boolean): Promise<void> {
    const c = federation.createContext(new URL(origin), undefined);
    const actor = c.getActorUri(as);
    const values = { id: new URL(`/activities/${accept ? "accept" : "reject"}/${randomUUID()}`, origin), actor, object: follow };
    if (accept) followers.get(as)!.set(from.id!.href, from);
    else followers.get(as)!.delete(from.id!.href);
    await c.sendActivity({ identifier: as }, from, accept ? new Accept(values) : new Reject(values), { immediate: true });
  }

  const ctx = (): Context<void> => federation.createContext(new URL(origin), undefined);
  const actorUri = (name = "alice") => ctx().getActorUri(name);
  const newId = (kind: string) => new URL(`/activities/${kind}/${randomUUID()}`, origin);
  const send = (activity: Activity, to: Recipient | Recipient[], as = "alice") =>
    ctx().sendActivity({ identifier: as }, to, activity, { immediate: true });

  const peer = {
    origin,
    port: server.port,
    host: new URL(origin).host,
    federation,
    received,
    notes,
    routes,
    keys,
    ctx,
    actorUri,
    newId,
    /** `alice@localhost:<port>`: how our server names peer accounts. */
    handle: (name = "alice") => `${name}@${new URL(origin).host}`,
    keyId: (name = "alice") => new URL(`${actorUri(name).href}#main-key`),
    /** PEM of an actor's RSA public key (to build forged key documents). */
    publicKeyPem: (name = "alice") =>
      KeyObject.from(keys.get(name)![0]!.publicKey).export({ type: "spki", format: "pem" }).toString(),

    /** WebFinger + actor lookup, as a Mastodon search box does. */
    lookup: (handleOrUrl: string | URL) => ctx().lookupObject(handleOrUrl),
    async lookupActor(handle: string): Promise<Actor> {
      const actor = await ctx().lookupObject(handle);
      if (!actor || !("inboxId" in actor) || !actor.id) throw new Error(`no actor found for ${handle}`);
      return actor as Actor;
    },

    send,
    /** Waits for an activity of `type` matching `pred` to arrive in the peer's inboxes. */
    receivedOf: (type: string, pred: (r: Received) => unknown = () => true) =>
      received.filter((r) => r.json?.type === type && pred(r)),

    // --- the backdoor: alice acts -------------------------------------------------------------------------------
    async follow(target: Actor, as = "alice"): Promise<Follow> {
      const follow = new Follow({ id: newId("follow"), actor: actorUri(as), object: target.id });
      await send(follow, target, as);
      return follow;
    },
    async undo(object: Activity, target: Recipient, as = "alice"): Promise<Undo> {
      const undo = new Undo({ id: newId("undo"), actor: actorUri(as), object });
      await send(undo, target, as);
      return undo;
    },
    async like(noteId: URL, target: Recipient, as = "alice"): Promise<Like> {
      const like = new Like({ id: newId("like"), actor: actorUri(as), object: noteId });
      await send(like, target, as);
      return like;
    },
    async announce(noteId: URL, target: Recipient, as = "alice"): Promise<Announce> {
      const announce = new Announce({
        id: newId("announce"),
        actor: actorUri(as),
        object: noteId,
        to: PUBLIC_COLLECTION,
        cc: target.id,
      });
      await send(announce, target, as);
      return announce;
    },
    /** A reply Note (HTML content, mention of the parent's author) wrapped in a Create, as Mastodon sends it. */
    async reply(inReplyTo: URL, target: Actor, html: string, as = "alice"): Promise<{ note: Note; create: Create }> {
      const id = ctx().getObjectUri(Note, { identifier: as, id: randomUUID() });
      const note = new Note({
        id,
        attribution: actorUri(as),
        to: PUBLIC_COLLECTION,
        cc: target.id,
        replyTarget: inReplyTo,
        content: html,
        published: Temporal.Now.instant(),
        tags: [new Mention({ href: target.id, name: `@${target.preferredUsername}` })],
      });
      notes.set(id.href, note);
      const create = new Create({
        id: new URL(`${id.href}/activity`),
        actor: actorUri(as),
        to: PUBLIC_COLLECTION,
        cc: target.id,
        object: note,
      });
      await send(create, target, as);
      return { note, create };
    },
    /** Mastodon's status deletion: Delete{Tombstone}, id = status IRI + `#delete`. */
    async deleteNote(noteId: URL, target: Recipient, as = "alice"): Promise<Delete> {
      notes.delete(noteId.href);
      const del = new Delete({
        id: new URL(`${noteId.href}#delete`),
        actor: actorUri(as),
        to: PUBLIC_COLLECTION,
        object: new Tombstone({ id: noteId }),
      });
      await send(del, target, as);
      return del;
    },
    /** A profile edit, announced with Update{Person} (the actor embedded, as Mastodon does). */
    async updateProfile(summaryHtml: string, target: Recipient, as = "alice"): Promise<Update> {
      summaries.set(as, summaryHtml);
      const update = new Update({ id: newId("update"), actor: actorUri(as), to: PUBLIC_COLLECTION, object: await person(ctx(), as) });
      await send(update, target, as);
      return update;
    },
    /** A report: `object` = [reported actor, status IRIs…], `content` = the reporter's comment. */
    async flag(objects: URL[], target: Recipient, content: string, as = "alice"): Promise<Flag> {
      const flag = new Flag({ id: newId("flag"), actor: actorUri(as), objects, content });
      await send(flag, target, as);
      return flag;
    },

    /**
     * POSTs raw JSON to `inbox`, signed (draft-cavage, RSA-SHA256, like Mastodon) with `as`'s key under `keyId`, or
     * unsigned with `sign: false`.
     */
    async postSigned(
      inbox: URL,
      json: unknown,
      opts: { as?: string; keyId?: URL; sign?: boolean } = {},
    ): Promise<Response> {
      const as = opts.as ?? "alice";
      let request = new Request(inbox, {
        method: "POST",
        headers: { "content-type": "application/activity+json", accept: "application/activity+json" },
        body: JSON.stringify(json),
      });
      if (opts.sign !== false) {
        request = await signRequest(request, keys.get(as)![0]!.privateKey, opts.keyId ?? peer.keyId(as), {
          spec: "draft-cavage-http-signatures-12",
        });
      }
      return fetch(request, { redirect: "manual" });
    },

    // --- following and posting (part 2: our agents follow peer accounts) -------------------------------------------
    deliveries,
    gone,
    followers,
    pendingFollows,
    outboxes,
    elsewhere,
    aliases,
    /** The locked account's owner decides on every waiting follow. */
    async decidePending(accept: boolean, as = "alice"): Promise<number> {
      const waiting = pendingFollows.filter((p) => p.as === as);
      for (const p of waiting) {
        pendingFollows.splice(pendingFollows.indexOf(p), 1);
        await decide(p.follow, p.as, p.from, accept);
      }
      return waiting.length;
    },
    /** Serves bytes at `path` on the peer (images of posts). */
    serve(pathname: string, body: Uint8Array | string, contentType: string, status = 200, headers: Record<string, string> = {}) {
      routes.set(pathname, () => new Response(body as ConstructorParameters<typeof Response>[0], { status, headers: { "content-type": contentType, ...headers } }));
      return new URL(pathname, origin);
    },
    /**
     * A new post by `as` (a Note with images, CW, hashtags), kept in its outbox and, unless `deliver` is false,
     * delivered as Create to its followers.
     */
    async publish(
      post: { html: string; images: PeerImage[]; summary?: string; sensitive?: boolean; tags?: string[]; published?: Temporal.Instant },
      opts: { as?: string; deliver?: boolean } = {},
    ): Promise<{ note: Note; create: Create }> {
      const as = opts.as ?? "alice";
      const id = ctx().getObjectUri(Note, { identifier: as, id: randomUUID() });
      const note = new Note({
        id,
        attribution: actorUri(as),
        to: PUBLIC_COLLECTION,
        cc: new URL(`${actorUri(as).href}/followers`),
        content: post.html,
        summary: post.summary ?? null,
        sensitive: post.sensitive ?? false,
        url: new URL(`/@${as}/${id.pathname.split("/").pop()}`, origin),
        published: post.published ?? Temporal.Now.instant(),
        attachments: post.images.map(
          (i) => new Image({ url: i.url, mediaType: i.mediaType, width: i.width ?? null, height: i.height ?? null, name: i.alt ?? null, summary: i.alt ?? null }),
        ),
        tags: (post.tags ?? []).map((t) => new Hashtag({ name: `#${t}`, href: new URL(`/tags/${t}`, origin) })),
      });
      notes.set(id.href, note);
      const create = new Create({ id: new URL(`${id.href}/activity`), actor: actorUri(as), to: PUBLIC_COLLECTION, object: note, published: note.published });
      outboxes.get(as)!.push(create);
      if (opts.deliver !== false) await peer.toFollowers(create, as);
      return { note, create };
    },
    /** Delivers an activity of `as` to each of its accepted followers. */
    async toFollowers(activity: Activity, as = "alice"): Promise<void> {
      const targets = [...followers.get(as)!.values()];
      if (targets.length > 0) await send(activity, targets, as);
    },
    /** An edit of one of `as`'s notes, sent as Update(Note) to `to` (its followers by default). */
    async updateNote(note: Note, changes: { html?: string; summary?: string | null }, opts: { as?: string; to?: Recipient[] } = {}): Promise<Update> {
      const as = opts.as ?? "alice";
      const edited = note.clone({ content: changes.html ?? note.content, summary: changes.summary === undefined ? note.summary : changes.summary, updated: Temporal.Now.instant() });
      if (!opts.to && notes.has(note.id!.href)) notes.set(note.id!.href, edited);
      const update = new Update({ id: newId("update"), actor: actorUri(as), to: PUBLIC_COLLECTION, object: edited });
      if (opts.to) await send(update, opts.to, as);
      else await peer.toFollowers(update, as);
      return update;
    },
    /** `as` moves to `to` (which lists `as` in alsoKnownAs), announced to its followers. */
    async move(to: string, as = "alice"): Promise<Move> {
      aliases.set(to, [actorUri(as)]);
      const move = new Move({ id: newId("move"), actor: actorUri(as), object: actorUri(as), target: actorUri(to) });
      await peer.toFollowers(move, as);
      return move;
    },

    close: () => server.close(),
  };
  return peer;
}
