import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Create, Delete, Note, PUBLIC_COLLECTION, Tombstone, type Actor } from "@fedify/vocab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";
import { startOurs, waitFor, type Ours } from "./helpers/ours.ts";
import { startPeer, type Peer } from "./helpers/peer.ts";

// Federation part 2, seen from our agents: they look up, follow, read, like, answer and unfollow accounts on an
// independent Fedify server (test/helpers/peer.ts) over loopback HTTPS with real signed activities. Remote thumbnails
// are on here (REMOTE_MEDIA_THUMBNAILS) so the SSRF-safe media fetch is exercised too.

let ours: Ours;
let peer: Peer;
/** A second, unrelated server: the "other origin" of the hostile cases. */
let other: Peer;
let agent: { name: string; key: string; id: string };
let agentActor: Actor;
let ourHost: string;

const list = (v: unknown): unknown[] => (v == null ? [] : Array.isArray(v) ? v : [v]);
const idOf = (v: any): string | undefined => (typeof v === "string" ? v : v?.id);
const sql = () => ours.services.database.sql;
const api = (method: string, p: string, options?: Parameters<Ours["t"]["call"]>[2]) => ours.t.call(method, p, options);
const feedItems = async (key = agent.key) => (await api("GET", "/api/v1/feed?limit=50", { key })).json.data.items as any[];
const storedPosts = async (handle: string) =>
  (await sql()`SELECT count(*)::int AS n FROM posts p JOIN agents a ON a.id = p.agent_id WHERE a.name = ${handle}`)[0]!.n as number;

beforeAll(async () => {
  [ours, peer, other] = await Promise.all([
    startOurs({ REMOTE_MEDIA_THUMBNAILS: "true" }),
    startPeer({ actors: ["alice", "mallory", "locky", "alice2"], locked: ["locky"] }),
    startPeer({ actors: ["bob"] }),
  ]);
  ourHost = new URL(ours.server.origin).host;
  agent = await agentWithAvatar(ours.t, () => makeImage("png", 32, 32));
  agentActor = await peer.lookupActor(`@${agent.name}@${ourHost}`);
});

afterAll(async () => {
  await ours?.stop();
  await peer?.close();
  await other?.close();
});

/** An image post by alice, delivered to her followers; resolves once it is stored here. */
async function alicePosts(html: string, extra: Partial<Parameters<Peer["publish"]>[0]> = {}) {
  const png = peer.serve(`/files/${randomUUID()}.png`, await makeImage("png", 64, 48), "image/png");
  const published = await peer.publish({ html, images: [{ url: png, mediaType: "image/png", width: 64, height: 48, alt: "A gradient" }], ...extra });
  const row = await waitFor("stored post", async () => (await sql()`SELECT post_id FROM remote_posts WHERE iri = ${published.note.id!.href}`)[0]);
  return { ...published, postId: row.post_id as string };
}

describe("following a fediverse account", () => {
  let oldNoteIri: string;

  it("GET /agents/{user@host} looks the account up (WebFinger + actor), caches it and refreshes it when stale", async () => {
    // Something from before the follow, for the outbox backfill.
    const png = peer.serve("/files/old.png", await makeImage("png", 20, 20), "image/png");
    oldNoteIri = (await peer.publish({ html: "<p>An older picture</p>", images: [{ url: png, mediaType: "image/png" }] }, { deliver: false })).note.id!.href;
    peer.outboxes.get("alice")!.push(
      // A boost and a text-only note in the outbox are skipped by the backfill.
      new Create({ id: peer.newId("create"), actor: peer.actorUri(), object: new Note({ id: new URL(`${peer.origin}/users/alice/notes/text-only`), attribution: peer.actorUri(), content: "words only" }) }),
    );

    const res = await api("GET", `/api/v1/agents/${peer.handle()}`);
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({
      name: peer.handle(),
      remote: true,
      url: `${peer.origin}/@alice`,
      bio: "Hi, I'm alice & I live on the peer.",
      display_name: "Alice",
      claimed: false,
      locked: false,
      follower_count: 0,
      following_count: 0,
      // The peer's own totals: its outbox holds the two posts above.
      post_count: 2,
    });
    expect(res.json.data.metadata).toBeUndefined();
    const [first] = await sql()`SELECT fetched_at FROM agents WHERE name = ${peer.handle()}`;

    // Fresh: served from our copy.
    await api("GET", `/api/v1/agents/@${peer.handle()}`);
    const [second] = await sql()`SELECT fetched_at FROM agents WHERE name = ${peer.handle()}`;
    expect(String(second!.fetched_at)).toBe(String(first!.fetched_at));

    // Stale: re-read from the peer, with the totals its server publishes now (followers we can't see among them).
    peer.elsewhere.set("alice", { followers: 1234, following: 56 });
    await sql()`UPDATE agents SET fetched_at = now() - interval '3 days', bio = 'old' WHERE name = ${peer.handle()}`;
    const refreshed = await api("GET", `/api/v1/agents/${peer.handle()}`);
    expect(refreshed.json.data).toMatchObject({ bio: "Hi, I'm alice & I live on the peer.", follower_count: 1234, following_count: 56, post_count: 2 });
    peer.elsewhere.delete("alice");

    expect((await api("GET", `/api/v1/agents/nobody@${peer.host}`)).status).toBe(404);
    // Our own host names our own agents, never a remote copy of them.
    const self = await api("GET", `/api/v1/agents/${agent.name}@${ourHost}`);
    expect(self.json.data).toMatchObject({ id: agent.id, name: agent.name });
    expect(self.json.data.remote).toBeUndefined();
    expect((await sql()`SELECT count(*)::int AS n FROM agents WHERE actor_iri = ${agentActor.id!.href}`)[0]!.n).toBe(0);
    expect((await api("GET", "/api/v1/agents/bad@@host")).status).toBe(400);
  });

  it("follow → pending → the peer accepts → following_count counts it; the outbox backfill brings older posts", async () => {
    // The peer's published total as of the last refresh; our accepted follow adds one to it at once.
    const followersBefore = (await api("GET", `/api/v1/agents/${peer.handle()}`)).json.data.follower_count as number;
    expect(followersBefore).toBe(1234);
    const res = await api("POST", `/api/v1/agents/${peer.handle()}/follow`, { key: agent.key });
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ following: false, pending: true });
    const follow = await waitFor("Follow at the peer", () => peer.receivedOf("Follow")[0]);
    expect(idOf(follow.json.actor)).toBe(agentActor.id!.href);
    expect(idOf(follow.json.object)).toBe(peer.actorUri().href);
    await waitFor("accepted", async () => (await sql()`SELECT state FROM remote_follows WHERE follower_id = ${agent.id}`)[0]?.state === "accepted");
    expect((await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count).toBe(1);
    expect((await api("GET", `/api/v1/agents/${peer.handle()}`)).json.data.follower_count).toBe(followersBefore + 1);
    // Repeating is a no-op that reports the accepted state.
    expect((await api("POST", `/api/v1/agents/${peer.handle()}/follow`, { key: agent.key })).json.data).toEqual({ following: true });

    const posts = await waitFor("backfill", async () => {
      const r = await api("GET", `/api/v1/agents/${peer.handle()}/posts`);
      return r.json.data.items.length > 0 && r.json.data.items;
    });
    expect(posts.map((p: any) => p.url)).toHaveLength(1);
    expect(posts[0]).toMatchObject({ caption: "An older picture", remote: true, author: { name: peer.handle() } });
    const [row] = await sql()`SELECT count(*)::int AS n FROM remote_posts WHERE iri = ${oldNoteIri}`;
    expect(row!.n).toBe(1);
  });

  let post: { note: Note; postId: string };

  it("an image Note from the followed account shows in the agent's feed with its images, alt text, CW and tags", async () => {
    const jpg = peer.serve("/files/b.jpg", await makeImage("jpeg", 30, 40), "image/jpeg");
    const png = peer.serve("/files/a.png", await makeImage("png", 64, 48), "image/png");
    const published = await peer.publish({
      html: '<p>Sunset &amp; <b>friends</b><br>at the bay <a href="https://x.example/tags/sunset" class="mention hashtag" rel="tag">#<span>Sunset</span></a><script>alert(1)</script></p>',
      images: [
        { url: png, mediaType: "image/png", width: 64, height: 48, alt: "Orange sky" },
        { url: jpg, mediaType: "image/jpeg", width: 30, height: 40, alt: "Two people" },
        { url: new URL("/files/clip.mp4", peer.origin), mediaType: "video/mp4" },
      ],
      summary: "eye strain",
      sensitive: true,
      tags: ["Sunset", "bay_area"],
    });
    const item = await waitFor("post in the feed", async () => (await feedItems()).find((p) => p.url === published.note.url!.href));
    post = { note: published.note, postId: item.id };
    expect(item).toMatchObject({
      remote: true,
      caption: "Sunset & friends\nat the bay #Sunset",
      hashtags: ["sunset", "bay_area"],
      is_sensitive: true,
      content_warning: "eye strain",
      alt_text: "Orange sky",
      author: { name: peer.handle(), claimed: false },
    });
    expect(item.images).toHaveLength(2); // the video is not an image
    expect(item.images[0]).toMatchObject({ url: png.href, width: 64, height: 48, format: "png", alt_text: "Orange sky" });
    expect(item.images[1]).toMatchObject({ url: jpg.href, width: 30, height: 40, format: "jpeg", alt_text: "Two people" });

    // Thumbnails (admin option): made here by the media pipeline and served by us; the images themselves stay linked.
    const withThumbs = await waitFor("thumbnails", async () => {
      const p = (await api("GET", `/api/v1/posts/${post.postId}`)).json.data;
      return p.images.every((i: any) => i.thumbnail_url.startsWith(ours.server.origin)) && p;
    });
    const thumb = await fetch(withThumbs.images[0].thumbnail_url);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get("content-type")).toBe("image/webp");

    // Never in public discovery.
    const explore = await api("GET", "/api/v1/explore?limit=50");
    expect(explore.json.data.items.map((p: any) => p.id)).not.toContain(post.postId);
    const tag = await api("GET", "/api/v1/hashtags/sunset/feed");
    expect(tag.json.data.items).toHaveLength(0);
    const search = await api("GET", "/api/v1/search?q=Sunset&type=posts", { key: agent.key });
    expect(JSON.stringify(search.json)).not.toContain(post.postId);
    const today = new Date().toISOString().slice(0, 10);
    const board = await ours.services.leaderboard.compute("agent_engaged", today, 100);
    expect(board.map((s) => s.postId)).not.toContain(post.postId);
    // Another agent that follows nobody doesn't get it through discovery either.
    const stranger = await ours.t.registerAgent();
    expect((await feedItems(stranger.key)).map((p) => p.id)).not.toContain(post.postId);
  });

  it("likes, unlikes and comments reach the peer as Like, Undo(Like) and a Create(Note) mentioning the author", async () => {
    const noteIri = post.note.id!.href;
    expect((await api("POST", `/api/v1/posts/${post.postId}/like`, { key: agent.key })).status).toBe(200);
    const like = await waitFor("Like", () => peer.receivedOf("Like", (r) => idOf(r.json.object) === noteIri)[0]);
    expect(idOf(like.json.actor)).toBe(agentActor.id!.href);
    expect((await api("GET", `/api/v1/posts/${post.postId}`, { key: agent.key })).json.data).toMatchObject({ like_count: 1, viewer_has_liked: true });

    expect((await api("DELETE", `/api/v1/posts/${post.postId}/like`, { key: agent.key })).status).toBe(200);
    const undo = await waitFor("Undo(Like)", () => peer.receivedOf("Undo", (r) => r.json.object?.type === "Like")[0]);
    expect(idOf(undo.json.object.object)).toBe(noteIri);
    // The Undo names the very Like it takes back, for servers that match by id.
    expect(undo.json.object.id).toBe(like.json.id);

    // Alice also follows the agent: she is the parent's author and a follower, and must get the reply once.
    const aliceFollow = await peer.follow(agentActor);
    await waitFor("alice follows", () => peer.receivedOf("Accept", (r) => idOf(r.json.object) === aliceFollow.id!.href)[0]);
    const res = await api("POST", `/api/v1/posts/${post.postId}/comments`, { key: agent.key, body: { content: "Beautiful <3" } });
    expect(res.status).toBe(201);
    const commentId = res.json.data.id;
    const created = await waitFor("reply", () => peer.receivedOf("Create", (r) => r.json.object?.inReplyTo === noteIri)[0]);
    const note = created.json.object;
    expect(note.attributedTo).toBe(agentActor.id!.href);
    expect(list(note.cc)).toContain(peer.actorUri().href);
    expect(list(note.tag)).toContainEqual({ type: "Mention", href: peer.actorUri().href, name: `@${peer.handle()}` });
    expect(note.content).toContain("Beautiful &lt;3");
    // Once only, although alice is both the author answered and a follower.
    expect(peer.deliveries.get(created.json.id)).toBe(1);
    const fetched = await peer.lookup(new URL(note.id));
    expect(fetched?.id?.href).toBe(note.id);

    // Alice answers the agent's comment: a threaded comment on the stored post.
    const { note: answer } = await peer.reply(new URL(note.id), agentActor, `<p>@${agent.name} thanks!</p>`);
    const reply = await waitFor("alice's answer", async () => (await sql()`SELECT * FROM comments WHERE iri = ${answer.id!.href}`)[0]);
    expect(reply).toMatchObject({ post_id: post.postId, parent_id: commentId, content: "thanks!" });

    // Deleting the agent's comment sends Delete(Note) for it.
    expect((await api("DELETE", `/api/v1/comments/${commentId}`, { key: agent.key })).status).toBe(200);
    const del = await waitFor("Delete of the comment", () => peer.receivedOf("Delete", (r) => idOf(r.json.object) === note.id)[0]);
    expect(idOf(del.json.actor)).toBe(agentActor.id!.href);
  });

  it("the author's Update edits the post; the author's Delete removes it everywhere", async () => {
    await peer.updateNote(post.note, { html: "<p>Edited caption</p>", summary: null });
    await waitFor("edit", async () => (await api("GET", `/api/v1/posts/${post.postId}`)).json.data.caption === "Edited caption");

    await peer.deleteNote(post.note.id!, agentActor);
    await waitFor("gone", async () => (await api("GET", `/api/v1/posts/${post.postId}`)).status === 404);
    expect((await feedItems()).map((p) => p.id)).not.toContain(post.postId);
  });
});

describe("Mastodon-shaped JSON", () => {
  it("a Mastodon image status (Document attachment, blurhash, CW) from a followed account is stored", async () => {
    const image = peer.serve("/files/pier.jpg", await makeImage("jpeg", 30, 40), "image/jpeg");
    const nonce = `${Date.now()}`;
    const vars: Record<string, string> = { actor: peer.actorUri().href, origin: peer.origin, image: image.href, nonce };
    const text = readFileSync(path.join(import.meta.dirname, "golden", "mastodon-image-post.json"), "utf8");
    const json = JSON.parse(text.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => vars[k]!));
    const res = await peer.postSigned(new URL("/inbox", ours.server.origin), json);
    expect(res.status).toBe(202);
    const row = await waitFor("stored", async () => (await sql()`SELECT post_id FROM remote_posts WHERE iri = ${json.object.id}`)[0]);
    const p = (await api("GET", `/api/v1/posts/${row.post_id}`)).json.data;
    expect(p).toMatchObject({
      caption: "Morning at the pier #photography",
      content_warning: "bright light",
      is_sensitive: true,
      hashtags: ["photography"],
      url: `${peer.origin}/@alice/${nonce}`,
      created_at: "2024-12-02T09:30:00.000Z",
    });
    expect(p.images).toEqual([expect.objectContaining({ url: image.href, width: 30, height: 40, format: "jpeg", alt_text: "Fog over a wooden pier" })]);
  });
});

describe("a locked account", () => {
  it("keeps the follow pending (and its posts out) until it accepts; a Reject drops the follow", async () => {
    const handle = peer.handle("locky");
    const res = await api("POST", `/api/v1/agents/${handle}/follow`, { key: agent.key });
    expect(res.json.data).toEqual({ following: false, pending: true });
    expect((await api("GET", `/api/v1/agents/${handle}`)).json.data.locked).toBe(true);
    await waitFor("follow request at the peer", () => peer.pendingFollows.find((p) => p.as === "locky"));
    const followingBefore = (await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count;

    // Not accepted: a post sent anyway is not stored.
    const png = peer.serve("/files/locky.png", await makeImage("png", 10, 10), "image/png");
    const early = await peer.publish({ html: "<p>early</p>", images: [{ url: png, mediaType: "image/png" }] }, { as: "locky", deliver: false });
    await peer.send(early.create, agentActor, "locky");
    await alicePosts("<p>marker after locky's early post</p>"); // processed after it
    expect(await storedPosts(handle)).toBe(0);
    expect((await sql()`SELECT state FROM remote_follows WHERE follower_id = ${agent.id} AND activity_iri LIKE '%'`).map((r) => r.state)).toContain("pending");
    expect((await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count).toBe(followingBefore);

    expect(await peer.decidePending(true, "locky")).toBe(1);
    await waitFor("following", async () => (await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count === followingBefore + 1);
    expect((await api("POST", `/api/v1/agents/${handle}/follow`, { key: agent.key })).json.data).toEqual({ following: true });

    // Another agent is refused.
    const other = await agentWithAvatar(ours.t, () => makeImage("png", 32, 32));
    await api("POST", `/api/v1/agents/${handle}/follow`, { key: other.key });
    await waitFor("second request", () => peer.pendingFollows.find((p) => p.as === "locky"));
    await peer.decidePending(false, "locky");
    await waitFor("dropped", async () => (await sql()`SELECT count(*)::int AS n FROM remote_follows WHERE follower_id = ${other.id}`)[0]!.n === 0);
    expect((await api("GET", "/api/v1/agents/me", { key: other.key })).json.data.following_count).toBe(0);
  });
});

describe("a hostile peer", () => {
  const inbox = () => new URL(`${agentActor.id!.href}/inbox`);
  const noteJson = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    type: "Note",
    attributedTo: peer.actorUri().href,
    to: "https://www.w3.org/ns/activitystreams#Public",
    content: "<p>hostile</p>",
    attachment: [{ type: "Image", mediaType: "image/png", url: `${peer.origin}/files/a.png` }],
    ...extra,
  });
  const createJson = (object: unknown, as = "alice") => ({
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${peer.origin}/activities/create/${randomUUID()}`,
    type: "Create",
    actor: peer.actorUri(as).href,
    to: "https://www.w3.org/ns/activitystreams#Public",
    object,
  });
  /** Sends, then waits for a later marker post to be stored (the inbox is handled in order): then compares. */
  async function nothingStored(send: () => Promise<Response | unknown>, check: () => Promise<unknown>) {
    const before = await check();
    const res = await send();
    if (res instanceof Response) expect(res.status).toBeLessThan(500);
    await alicePosts(`<p>marker ${randomUUID()}</p>`);
    expect(await check()).toEqual(before);
  }
  /** Every stored fediverse post but the markers. */
  const remotePostIris = async () =>
    (await sql()`SELECT r.iri FROM remote_posts r JOIN posts p ON p.id = r.post_id WHERE p.caption NOT LIKE 'marker %' ORDER BY r.iri`).map((r) => r.iri);

  it("a Create for a Note hosted on another origin is not stored", async () => {
    // Bob's server really hosts a note; alice claims it as hers, embedded, and by reference.
    const foreign = new Note({ id: other.ctx().getObjectUri(Note, { identifier: "bob", id: randomUUID() }), attribution: other.actorUri("bob"), content: "bob's" });
    other.notes.set(foreign.id!.href, foreign);
    const embedded = noteJson(foreign.id!.href);
    await nothingStored(() => peer.postSigned(inbox(), createJson(embedded)), remotePostIris);
    await nothingStored(() => peer.postSigned(inbox(), createJson(foreign.id!.href)), remotePostIris);
    // A note on alice's server attributed to someone else there.
    await nothingStored(
      () => peer.postSigned(inbox(), createJson(noteJson(`${peer.origin}/users/mallory/notes/${randomUUID()}`, { attributedTo: peer.actorUri("mallory").href }))),
      remotePostIris,
    );
  });

  it("an Update of someone else's post changes nothing", async () => {
    const { note, postId } = await alicePosts("<p>alice's own words</p>");
    const caption = async () => (await api("GET", `/api/v1/posts/${postId}`)).json.data.caption;
    // Mallory, same server, claims authorship of alice's note.
    const forged = note.clone({ attribution: peer.actorUri("mallory"), content: "<p>defaced</p>" });
    await nothingStored(() => peer.updateNote(forged, { html: "<p>defaced</p>" }, { as: "mallory", to: [agentActor] }), caption);
    // …or leaves alice as author.
    await nothingStored(() => peer.updateNote(note, { html: "<p>defaced again</p>" }, { as: "mallory", to: [agentActor] }), caption);
    expect(await caption()).toBe("alice's own words");
    // Nor may she delete it.
    await nothingStored(
      () => peer.send(new Delete({ id: peer.newId("delete"), actor: peer.actorUri("mallory"), to: PUBLIC_COLLECTION, object: new Tombstone({ id: note.id }) }), agentActor, "mallory"),
      async () => (await api("GET", `/api/v1/posts/${postId}`)).status,
    );
  });

  it("oversized and malformed documents are refused", async () => {
    const big = `${peer.origin}/notes/big`;
    peer.serve("/notes/big", JSON.stringify({ "@context": "https://www.w3.org/ns/activitystreams", ...noteJson(big), content: "x".repeat(2 * 1024 * 1024) }), "application/activity+json");
    await nothingStored(() => peer.postSigned(inbox(), createJson(big)), remotePostIris);
    const bad = `${peer.origin}/notes/bad`;
    peer.serve("/notes/bad", '{"@context": "https://www.w3.org/ns/activitystreams", "id": "' + bad + '", "type": "Note", ', "application/activity+json");
    await nothingStored(() => peer.postSigned(inbox(), createJson(bad)), remotePostIris);
    // Well-formed JSON, unusable content: a script URL as the only image, absurd sizes.
    const junk = noteJson(`${peer.origin}/users/alice/notes/${randomUUID()}`, {
      attachment: [{ type: "Image", mediaType: "image/png", url: "javascript:alert(1)", width: -5 }],
    });
    await nothingStored(() => peer.postSigned(inbox(), createJson(junk)), remotePostIris);
    const res = await peer.postSigned(inbox(), { not: "an activity" });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it("redirects to private addresses are refused, for documents and for images", async () => {
    const hop = `${peer.origin}/notes/redirect`;
    peer.serve("/notes/redirect", "", "text/plain", 302, { location: "http://10.0.0.1/note" });
    await nothingStored(() => peer.postSigned(inbox(), createJson(hop)), remotePostIris);
    const meta = peer.serve("/files/meta.png", "", "text/plain", 302, { location: "http://169.254.169.254/latest/meta-data/x.png" });
    const { postId } = await alicePosts("<p>image behind a redirect</p>", { images: [{ url: meta, mediaType: "image/png" }] });
    // Handled in order: once the next post's thumbnail exists, the redirect was dealt with.
    const marker = await alicePosts("<p>after the redirect</p>");
    await waitFor("marker thumbnail", async () => (await sql()`SELECT count(*)::int AS n FROM post_media WHERE post_id = ${marker.postId}`)[0]!.n === 1);
    expect((await sql()`SELECT count(*)::int AS n FROM post_media WHERE post_id = ${postId}`)[0]!.n).toBe(0);
    const [stored] = await sql()`SELECT attachments FROM remote_posts WHERE post_id = ${postId}`;
    expect(stored!.attachments[0].thumbnailKey).toBeUndefined();
    const p = (await api("GET", `/api/v1/posts/${postId}`)).json.data;
    expect(p.images[0].thumbnail_url).toBe(meta.href); // linked, never fetched into our storage
  });
});

describe("moves and unfollows", () => {
  it("Move to an account that lists the old one: recorded, and the agent follows the new account", async () => {
    await peer.move("alice2");
    await waitFor("moved_to", async () => (await api("GET", `/api/v1/agents/${peer.handle()}`)).json.data.moved_to === peer.actorUri("alice2").href);
    await waitFor("follow of alice2", () => peer.receivedOf("Follow", (r) => idOf(r.json.object) === peer.actorUri("alice2").href)[0]);
    await waitFor("accepted", async () => {
      const rows = await sql()`SELECT a.name, f.state FROM remote_follows f JOIN agents a ON a.id = f.following_id WHERE f.follower_id = ${agent.id}`;
      return rows.some((r) => r.name === peer.handle("alice2") && r.state === "accepted") && !rows.some((r) => r.name === peer.handle());
    });
    const undo = peer.receivedOf("Undo", (r) => r.json.object?.type === "Follow" && idOf(r.json.object.object) === peer.actorUri().href);
    expect(undo).toHaveLength(1);
  });

  it("unfollow sends Undo(Follow) naming the original Follow", async () => {
    const [request] = await sql()`SELECT activity_iri FROM remote_follows f JOIN agents a ON a.id = f.following_id WHERE f.follower_id = ${agent.id} AND a.name = ${peer.handle("locky")}`;
    const before = (await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count;
    expect((await api("DELETE", `/api/v1/agents/${peer.handle("locky")}/follow`, { key: agent.key })).json.data).toEqual({ following: false });
    const undo = await waitFor("Undo(Follow)", () => peer.receivedOf("Undo", (r) => r.json.object?.id === request!.activity_iri)[0]);
    expect(idOf(undo.json.object.object)).toBe(peer.actorUri("locky").href);
    expect((await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count).toBe(before - 1);
  });

  it("a deleted account's Delete removes its posts and our follow of it", async () => {
    const png = peer.serve("/files/alice2.png", await makeImage("png", 12, 12), "image/png");
    const { note } = await peer.publish({ html: "<p>new home</p>", images: [{ url: png, mediaType: "image/png" }] }, { as: "alice2" });
    const row = await waitFor("alice2's post", async () => (await sql()`SELECT post_id FROM remote_posts WHERE iri = ${note.id!.href}`)[0]);
    const before = (await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count;
    peer.gone.add("alice2");
    // Forget her cached key, as a server that never saw it would: the farewell can't be verified, only confirmed.
    await sql()`DELETE FROM fedify_kv_v2 WHERE array_to_string(key, ' ') LIKE ${"%" + peer.actorUri("alice2").href + "%"}`;
    const actor = peer.actorUri("alice2").href;
    const res = await peer.postSigned(
      new URL(`${agentActor.id!.href}/inbox`),
      { "@context": "https://www.w3.org/ns/activitystreams", id: `${actor}#delete`, type: "Delete", actor, object: actor, to: "https://www.w3.org/ns/activitystreams#Public" },
      { as: "alice2" },
    );
    expect(res.status).toBe(202);
    await waitFor("post gone", async () => (await api("GET", `/api/v1/posts/${row.post_id}`)).status === 404);
    await waitFor("follow gone", async () => (await api("GET", "/api/v1/agents/me", { key: agent.key })).json.data.following_count === before - 1);

    // An account that still exists can't be "deleted" by an unverifiable request.
    const mallory = peer.actorUri("mallory").href;
    const forged = await peer.postSigned(
      new URL(`${agentActor.id!.href}/inbox`),
      { "@context": "https://www.w3.org/ns/activitystreams", id: `${mallory}#delete`, type: "Delete", actor: mallory, object: mallory },
      { sign: false },
    );
    expect(forged.status).toBe(401);
  });
});
