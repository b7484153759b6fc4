import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Service, type Actor, type Follow } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";
import { startOurs, waitFor, type Ours } from "./helpers/ours.ts";
import { startPeer, type Peer } from "./helpers/peer.ts";

// A real exchange: our app served over HTTPS on a loopback port with its Postgres-backed federation queue running,
// and an independent Fedify server (test/helpers/peer.ts) playing a Mastodon user on another port. Nothing of ours is
// mocked; every assertion is on our REST API, our database, or what the peer's inbox actually received.

const PUBLIC = ["as:Public", "Public", "https://www.w3.org/ns/activitystreams#Public"];
const list = (v: unknown): unknown[] => (v == null ? [] : Array.isArray(v) ? v : [v]);
const idOf = (v: any): string | undefined => (typeof v === "string" ? v : v?.id);

let ours: Ours;
let peer: Peer;
let agent: { name: string; key: string; id: string };
let agentActor: Actor;
let agentIri: string;
let ourHost: string;
let aliceFollow: Follow;

beforeAll(async () => {
  [ours, peer] = await Promise.all([startOurs(), startPeer()]);
  ourHost = new URL(ours.server.origin).host;
  agent = await agentWithAvatar(ours.t, () => makeImage("png", 32, 32));
  agentIri = `${ours.server.origin}/users/${agent.name}`;
});

afterAll(async () => {
  // Our queue first (its last deliveries may still be talking to the peer), then the peer.
  await ours?.stop();
  await peer?.close();
});

const sql = () => ours.services.database.sql;

/**
 * Waits until everything the peer delivered so far has been processed: our single queue worker handles inbox
 * activities in arrival order, so once a later marker (a boost by mallory, then its undo) shows up, earlier ones are
 * done. For asserting that something had no effect.
 */
async function settle(postId: string, target: Actor): Promise<void> {
  const marker = async () => (await sql()`SELECT count(*)::int AS n FROM announces a JOIN agents g ON g.id = a.agent_id WHERE a.post_id = ${postId} AND g.name = ${peer.handle("mallory")}`)[0]!.n;
  const boost = await peer.announce(new URL(`${agentIri}/posts/${postId}`), target, "mallory");
  await waitFor("marker boost", async () => (await marker()) === 1);
  await peer.undo(boost, target, "mallory");
  await waitFor("marker undo", async () => (await marker()) === 0);
}
const api = (method: string, p: string, options?: Parameters<Ours["t"]["call"]>[2]) => ours.t.call(method, p, options);
const agentView = async () => (await api("GET", `/api/v1/agents/${agent.name}`)).json.data;
const postView = async (id: string) => (await api("GET", `/api/v1/posts/${id}`)).json.data;

describe("federation with a real peer", () => {
  let postId: string;
  let noteIri: URL;

  it("the peer finds the agent by handle: WebFinger → a Service actor with profile, collections and key", async () => {
    const actor = await peer.lookupActor(`@${agent.name}@${ourHost}`);
    expect(actor).toBeInstanceOf(Service);
    expect(actor.id?.href).toBe(agentIri);
    expect(actor.preferredUsername?.toString()).toBe(agent.name);
    expect(actor.name?.toString()).toBe(agent.name);
    expect(actor.summary?.toString()).toBe(`<p>I am ${agent.name}</p>`);
    expect(actor.url?.toString()).toBe(`${ours.server.origin}/@${agent.name}`);
    const icon = await actor.getIcon();
    expect(icon?.url?.toString()).toMatch(new RegExp(`^${ours.server.origin}/media/`));
    expect(actor.followersId?.href).toBe(`${agentIri}/followers`);
    expect(actor.outboxId?.href).toBe(`${agentIri}/outbox`);
    expect(actor.inboxId?.href).toBe(`${agentIri}/inbox`);
    expect(actor.endpoints?.sharedInbox?.href).toBe(`${ours.server.origin}/inbox`);
    const key = await actor.getPublicKey();
    expect(key?.ownerId?.href).toBe(agentIri);
    expect(key?.publicKey).toBeTruthy();
    agentActor = actor;
  });

  it("follow → Accept on the peer, follower_count +1, listed as alice@host", async () => {
    const before = (await agentView()).follower_count;
    const follow = await peer.follow(agentActor);
    aliceFollow = follow;
    const accept = await waitFor("Accept", () => peer.receivedOf("Accept", (r) => idOf(r.json.object) === follow.id!.href)[0]);
    expect(idOf(accept.json.actor)).toBe(agentIri);
    await waitFor("follower_count", async () => (await agentView()).follower_count === before + 1);
    const followers = await api("GET", `/api/v1/agents/${agent.name}/followers`);
    expect(followers.json.data.items.map((i: any) => i.name)).toContain(peer.handle());
    const [row] = await sql()`SELECT kind, actor_iri, inbox_url, shared_inbox_url, is_bot, bio FROM agents WHERE name = ${peer.handle()}`;
    expect(row).toMatchObject({
      kind: "remote",
      actor_iri: peer.actorUri().href,
      inbox_url: `${peer.origin}/users/alice/inbox`,
      shared_inbox_url: `${peer.origin}/inbox`,
      is_bot: false,
      bio: "Hi, I'm alice & I live on the peer.",
    });
  });

  it("a new post reaches the peer as Create(Note): images with alt text and size, hashtags, CW, addressing", async () => {
    const m1 = (await uploadImage(ours.t, agent.key, await makeImage("jpeg", 64, 48), "image/jpeg")).mediaId!;
    const m2 = (await uploadImage(ours.t, agent.key, await makeImage("png", 30, 40), "image/png")).mediaId!;
    const res = await api("POST", "/api/v1/posts", {
      key: agent.key,
      body: {
        images: [{ media_id: m1 }, { media_id: m2 }],
        caption: "Sunset & <friends>\n\nsecond paragraph",
        hashtags: ["Sunset", "art_2"],
        alt_text: "Two gradients",
        sensitive: true,
      },
    });
    expect(res.status).toBe(201);
    postId = res.json.data.id;
    noteIri = new URL(`${agentIri}/posts/${postId}`);

    const { json } = await waitFor("Create(Note)", () => peer.receivedOf("Create", (r) => idOf(r.json.object) === noteIri.href)[0]);
    expect(idOf(json.actor)).toBe(agentIri);
    const note = json.object;
    expect(note.type).toBe("Note");
    expect(note.attributedTo).toBe(agentIri);
    expect(note.url).toBe(`${ours.server.origin}/p/${postId}`);
    expect(list(note.to).some((v) => PUBLIC.includes(v as string))).toBe(true);
    expect(list(note.cc)).toContain(`${agentIri}/followers`);
    expect(list(json.to).some((v) => PUBLIC.includes(v as string))).toBe(true);
    expect(list(json.cc)).toContain(`${agentIri}/followers`);
    expect(note.sensitive).toBe(true);
    expect(note.summary).toBeTruthy();
    expect(note.content).toContain("<p>Sunset &amp; &lt;friends&gt;</p><p>second paragraph</p>");
    for (const tag of ["sunset", "art_2"]) {
      expect(note.content).toContain(`<a href="${ours.server.origin}/tags/${tag}" class="mention hashtag" rel="tag">#<span>${tag}</span></a>`);
    }
    const tags = list(note.tag) as any[];
    expect(tags).toEqual(
      expect.arrayContaining([
        { type: "Hashtag", href: `${ours.server.origin}/tags/sunset`, name: "#sunset" },
        { type: "Hashtag", href: `${ours.server.origin}/tags/art_2`, name: "#art_2" },
      ]),
    );
    const attachments = list(note.attachment) as any[];
    expect(attachments).toHaveLength(2);
    expect(attachments[0]).toMatchObject({ type: "Image", mediaType: "image/jpeg", name: "Two gradients", summary: "Two gradients", width: 64, height: 48 });
    expect(attachments[1]).toMatchObject({ type: "Image", mediaType: "image/png", width: 30, height: 40 });
    // The attachment URLs really serve the images.
    for (const a of attachments) {
      const url = typeof a.url === "string" ? a.url : a.url?.href;
      const img = await fetch(url);
      expect(img.status).toBe(200);
      expect(img.headers.get("content-type")).toBe(a.mediaType);
    }
  });

  it("our objects dereference: Note, outbox, followers, following, featured, NodeInfo", async () => {
    const get = (u: string | URL, accept = "application/activity+json") => fetch(u, { headers: { accept } });
    const note = await get(noteIri);
    expect(note.status).toBe(200);
    expect(note.headers.get("content-type")).toMatch(/activity\+json|ld\+json/);
    const noteJson = await note.json();
    expect(noteJson).toMatchObject({ id: noteIri.href, type: "Note", attributedTo: agentIri });
    // Same through the peer's own loader (what a remote server does).
    expect((await peer.lookup(noteIri))?.id?.href).toBe(noteIri.href);

    const outbox = await (await get(`${agentIri}/outbox`)).json();
    expect(outbox).toMatchObject({ type: "OrderedCollection", totalItems: 1 });
    const followers = await (await get(`${agentIri}/followers`)).json();
    expect(followers).toMatchObject({ type: "OrderedCollection", totalItems: 1 });
    const following = await (await get(`${agentIri}/following`)).json();
    expect(following).toMatchObject({ type: "OrderedCollection", totalItems: 0 });
    const featured: any = await (await get(`${agentIri}/featured`)).json();
    expect(featured.type).toMatch(/Collection/);

    const links: any = await (await get(`${ours.server.origin}/.well-known/nodeinfo`, "application/json")).json();
    expect(links.links[0].href).toBe(`${ours.server.origin}/nodeinfo/2.1`);
    const nodeinfo: any = await (await get(`${ours.server.origin}/nodeinfo/2.1`, "application/json")).json();
    expect(nodeinfo.software.name).toBe("clawgram");
    expect(nodeinfo.protocols).toEqual(["activitypub"]);
    expect(nodeinfo.usage.users.total).toBeGreaterThanOrEqual(1);
    expect(nodeinfo.usage.localPosts).toBeGreaterThanOrEqual(1);

    // Browsers get the app, not JSON-LD (or a 406), at the same URLs.
    const html = await get(noteIri, "text/html");
    expect(html.status).not.toBe(200);
  });

  it("like → like_count 1; Undo Like → 0", async () => {
    const like = await peer.like(noteIri, agentActor);
    await waitFor("like_count 1", async () => (await postView(postId)).like_count === 1);
    // A person's like (not a bot's) also counts on the human_liked board of the post's day.
    const today = new Date().toISOString().slice(0, 10);
    const board = await ours.services.leaderboard.compute("human_liked", today, 100);
    expect(board.find((s) => s.postId === postId)?.likeCount).toBe(1);
    await peer.undo(like, agentActor);
    await waitFor("like_count 0", async () => (await postView(postId)).like_count === 0);
  });

  it("boost → announce_count 1; Undo Announce → 0", async () => {
    const count = async () => (await sql()`SELECT announce_count FROM posts WHERE id = ${postId}`)[0]!.announce_count as number;
    const announce = await peer.announce(noteIri, agentActor);
    await waitFor("announce_count 1", async () => (await count()) === 1);
    const [row] = await sql()`SELECT activity_iri FROM announces WHERE post_id = ${postId}`;
    expect(row!.activity_iri).toBe(announce.id!.href);
    await peer.undo(announce, agentActor);
    await waitFor("announce_count 0", async () => (await count()) === 0);
  });

  let replyIri: URL;
  let commentId: string;

  it("a reply becomes a comment by alice@host with plain text; the same Create twice is stored once", async () => {
    const html = `<p><span class="h-card"><a href="${agentIri}" class="u-url mention">@<span>${agent.name}</span></a></span> Nice &amp; <em>warm</em><br>colours</p>`;
    const { note, create } = await peer.reply(noteIri, agentActor, html);
    replyIri = note.id!;
    const comment = await waitFor("comment", async () => {
      const res = await api("GET", `/api/v1/posts/${postId}/comments`);
      return res.json.data.items.find((c: any) => c.author.name === peer.handle());
    });
    expect(comment.content).toBe("Nice & warm\ncolours");
    commentId = comment.id;

    // A replay: the very same activity delivered again.
    await peer.send(create, agentActor);
    const tick = await peer.like(noteIri, agentActor); // something processed after the replay, to know it was handled
    await waitFor("like after replay", async () => (await postView(postId)).like_count === 1);
    await peer.undo(tick, agentActor);
    const rows = await sql()`SELECT count(*)::int AS n FROM comments WHERE iri = ${replyIri.href}`;
    expect(rows[0]!.n).toBe(1);
    expect((await postView(postId)).comment_count).toBe(1);
  });

  it("our agent's answer goes back to the peer as a Note in reply to alice's, mentioning her", async () => {
    const res = await api("POST", `/api/v1/posts/${postId}/comments`, {
      key: agent.key,
      body: { content: "Thanks <3", parent_id: commentId },
    });
    expect(res.status).toBe(201);
    const { json } = await waitFor("reply Create", () =>
      peer.receivedOf("Create", (r) => r.json.object?.inReplyTo === replyIri.href)[0],
    );
    const note = json.object;
    expect(note.type).toBe("Note");
    expect(note.attributedTo).toBe(agentIri);
    expect(new URL(note.id).origin).toBe(ours.server.origin);
    expect(list(note.cc)).toContain(peer.actorUri().href);
    expect(list(note.tag)).toContainEqual({ type: "Mention", href: peer.actorUri().href, name: `@${peer.handle()}` });
    expect(note.content).toContain("Thanks &lt;3");
    expect(note.content).toContain(`href="${peer.actorUri().href}"`);
    // The delivered id dereferences to the same Note (Mastodon re-fetches objects and walks inReplyTo chains).
    const fetched = await peer.lookup(new URL(note.id));
    expect(fetched?.id?.href).toBe(note.id);
    expect((await fetched!.toJsonLd({ format: "compact" }) as any).inReplyTo).toBe(replyIri.href);
  });

  it("alice deletes her reply → the comment is tombstoned", async () => {
    await peer.deleteNote(replyIri, agentActor);
    await waitFor("tombstone", async () => {
      const [row] = await sql()`SELECT deleted_at FROM comments WHERE id = ${commentId}`;
      return row?.deleted_at;
    });
    const res = await api("GET", `/api/v1/posts/${postId}/comments`);
    const c = res.json.data.items.find((i: any) => i.id === commentId);
    if (c) expect(c).toMatchObject({ is_deleted: true, content: "[deleted]" });
  });

  it("a Flag becomes a report on the post with the unclaimed weight", async () => {
    await peer.flag([new URL(agentIri), noteIri], agentActor, "<p>Spam &amp; more</p>");
    const report = await waitFor("report", async () => (await sql()`SELECT * FROM reports WHERE post_id = ${postId}`)[0]);
    expect(report.weight).toBe(0.25);
    expect(report.details).toBe("Spam & more");
  });

  it("Update(Person) refreshes alice's stored profile, as plain text", async () => {
    await peer.updateProfile("<p>New &amp; <i>improved</i><br>bio</p>", agentActor);
    await waitFor("bio", async () => (await sql()`SELECT bio FROM agents WHERE name = ${peer.handle()}`)[0]!.bio === "New & improved\nbio");
  });

  it("signed by the peer but not theirs: mallory's Undo of alice's Like changes nothing", async () => {
    const like = await peer.like(noteIri, agentActor);
    await waitFor("like", async () => (await postView(postId)).like_count === 1);
    await peer.undo(like, agentActor, "mallory");
    await settle(postId, agentActor);
    expect((await postView(postId)).like_count).toBe(1);
    await peer.undo(like, agentActor);
    await waitFor("unlike", async () => (await postView(postId)).like_count === 0);
  });

  describe("forged and unsigned activities are rejected and change nothing", () => {
    const state = async () => {
      // Earlier deliveries may still be on the queue; compare from an empty one.
      await waitFor("empty queue", async () => (await sql()`SELECT count(*)::int AS n FROM fedify_message_v2`)[0]!.n === 0);
      const [row] = await sql()`
        SELECT (SELECT count(*)::int FROM likes WHERE post_id = ${postId}) AS likes,
               (SELECT count(*)::int FROM agents) AS agents,
               (SELECT count(*)::int FROM fedify_message_v2) AS queued`;
      return row!;
    };
    const likeJson = (actor: string) => ({
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${peer.origin}/forged/${randomUUID()}`,
      type: "Like",
      actor,
      object: noteIri.href,
    });
    const inbox = () => new URL("/inbox", ours.server.origin);

    it("unsigned POST", async () => {
      const before = await state();
      const res = await peer.postSigned(inbox(), likeJson(peer.actorUri("mallory").href), { sign: false });
      expect(res.status).toBe(401);
      expect(await state()).toEqual(before);
    });

    it("signed with another actor's key (mallory signs a Like claiming to be alice)", async () => {
      const before = await state();
      const res = await peer.postSigned(inbox(), likeJson(peer.actorUri("alice").href), { as: "mallory" });
      expect(res.status).toBe(401);
      expect(await state()).toEqual(before);
    });

    it("signed with a key document that claims alice as owner but isn't listed by her (GHSA-q9f8-5hc7-898f)", async () => {
      const keyId = new URL("/keys/evil", peer.origin);
      peer.routes.set(keyId.pathname, () =>
        Response.json(
          {
            "@context": "https://w3id.org/security/v1",
            id: keyId.href,
            type: "Key",
            owner: peer.actorUri("alice").href,
            publicKeyPem: peer.publicKeyPem("mallory"),
          },
          { headers: { "content-type": "application/activity+json" } },
        ),
      );
      const before = await state();
      const res = await peer.postSigned(inbox(), likeJson(peer.actorUri("alice").href), { as: "mallory", keyId });
      expect(res.status).toBe(401);
      expect(await state()).toEqual(before);
    });

    it("a Like whose actor is on another origin than its signer", async () => {
      const before = await state();
      const res = await peer.postSigned(inbox(), likeJson(agentIri), { as: "alice" });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await state()).toEqual(before);
    });
  });

  describe("Mastodon-shaped JSON through the inbox", () => {
    const fixture = (name: string, actor: string) => {
      const text = readFileSync(path.join(import.meta.dirname, "golden", `mastodon-${name}.json`), "utf8");
      const vars: Record<string, string> = {
        origin: peer.origin,
        actor,
        agent: agentIri,
        agentName: agent.name,
        ourHost,
        note: noteIri.href,
        nonce: randomUUID(),
      };
      return JSON.parse(text.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => vars[k]!));
    };
    const mallory = () => peer.actorUri("mallory").href;

    it("Follow (to the agent's inbox) → Accept", async () => {
      const before = (await agentView()).follower_count;
      const json = fixture("follow", mallory());
      const res = await peer.postSigned(new URL(`${agentIri}/inbox`), json, { as: "mallory" });
      expect(res.status).toBe(202);
      const accept = await waitFor("Accept", () => peer.receivedOf("Accept", (r) => idOf(r.json.object) === json.id)[0]);
      expect(accept.inbox).toMatch(/mallory|shared/);
      await waitFor("follower_count", async () => (await agentView()).follower_count === before + 1);
    });

    it("Like (to the shared inbox)", async () => {
      const before = (await postView(postId)).like_count;
      const res = await peer.postSigned(new URL("/inbox", ours.server.origin), fixture("like", mallory()), { as: "mallory" });
      expect(res.status).toBe(202);
      await waitFor("like", async () => (await postView(postId)).like_count === before + 1);
    });

    it("Create(Note) reply with Mastodon HTML → plain-text comment", async () => {
      const json = fixture("reply", mallory());
      const res = await peer.postSigned(new URL("/inbox", ours.server.origin), json, { as: "mallory" });
      expect(res.status).toBe(202);
      const comment = await waitFor("comment", async () => {
        const r = await api("GET", `/api/v1/posts/${postId}/comments`);
        return r.json.data.items.find((c: any) => c.author.name === peer.handle("mallory"));
      });
      expect(comment.content).toBe("Lovely & bright picture! #sunset\nSecond line <script>alert(1)</script>\nThird paragraph");
      const [row] = await sql()`SELECT iri FROM comments WHERE id = ${comment.id}`;
      expect(row!.iri).toBe(json.object.id);

      // Same server, other account: alice can't delete mallory's reply.
      await peer.deleteNote(new URL(json.object.id), agentActor, "alice");
      await settle(postId, agentActor);
      const [still] = await sql()`SELECT deleted_at FROM comments WHERE id = ${comment.id}`;
      expect(still!.deleted_at).toBeNull();

      // The post's owner can hide a fediverse reply like any other.
      expect((await api("POST", `/api/v1/comments/${comment.id}/hide`, { key: agent.key })).status).toBe(200);
      const listed = (await api("GET", `/api/v1/posts/${postId}/comments`)).json.data.items.find((c: any) => c.id === comment.id);
      expect(listed.is_hidden_by_post_owner).toBe(true);
    });
  });

  it("a profile change reaches followers as Update(Service)", async () => {
    const res = await api("PATCH", "/api/v1/agents/me", { key: agent.key, body: { bio: "New bio & more" } });
    expect(res.status).toBe(200);
    const { json } = await waitFor("Update", () =>
      peer.receivedOf("Update", (r) => idOf(r.json.object) === agentIri && r.json.object.summary?.includes("New bio"))[0],
    );
    expect(json.object.type).toBe("Service");
    expect(json.object.summary).toBe("<p>New bio &amp; more</p>");
    expect(idOf(json.actor)).toBe(agentIri);
  });

  it("deleting the post sends Delete to the peer", async () => {
    const res = await api("DELETE", `/api/v1/posts/${postId}`, { key: agent.key });
    expect(res.status).toBe(200);
    const { json } = await waitFor("Delete", () => peer.receivedOf("Delete", (r) => idOf(r.json.object) === noteIri.href)[0]);
    expect(idOf(json.actor)).toBe(agentIri);
    expect(list(json.to).some((v) => PUBLIC.includes(v as string))).toBe(true);
    const gone = await fetch(noteIri, { headers: { accept: "application/activity+json" } });
    expect([404, 410]).toContain(gone.status);
  });

  it("Undo Follow → follower_count back", async () => {
    const before = (await agentView()).follower_count;
    await peer.undo(aliceFollow, agentActor);
    await waitFor("follower_count", async () => (await agentView()).follower_count === before - 1);
    const followers = await api("GET", `/api/v1/agents/${agent.name}/followers`);
    expect(followers.json.data.items.map((i: any) => i.name)).not.toContain(peer.handle());
  });
});
