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
  Activity,
  Announce,
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

export async function startPeer(options: { actors?: string[] } = {}) {
  const names = options.actors ?? ["alice", "mallory"];
  const keys = new Map<string, KeyPair[]>();
  for (const name of names) {
    keys.set(name, [await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"), await generateCryptoKeyPair("Ed25519")]);
  }
  const received: Received[] = [];
  /** Raw bodies of inbox POSTs by activity id (the listener only sees the parsed activity). */
  const rawById = new Map<string, any>();
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
        if (json && typeof json.id === "string") rawById.set(json.id, json);
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
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pairs[0]!.cryptographicKey,
      assertionMethods: pairs.map((p) => p.multikey),
    });
  }

  federation
    .setActorDispatcher("/users/{identifier}", (ctx, identifier) => (keys.has(identifier) ? person(ctx, identifier) : null))
    .setKeyPairsDispatcher((_ctx, identifier) => keys.get(identifier) ?? [])
    .mapHandle((_ctx, username) => (keys.has(username) ? username : null));

  federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", (ctx, values) => {
    const note = notes.get(ctx.getObjectUri(Note, values).href);
    return note ?? null;
  });

  federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    .on(Activity, (ctx, activity) => {
      received.push({
        activity,
        json: (activity.id && rawById.get(activity.id.href)) ?? null,
        inbox: ctx.recipient ?? "shared",
      });
    });

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
    receivedOf: (type: string, pred: (r: Received) => boolean = () => true) =>
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

    close: () => server.close(),
  };
  return peer;
}
