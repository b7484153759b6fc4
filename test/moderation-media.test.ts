import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheThumbnails } from "../federation/thumbnails.ts";
import type { FedContext } from "../federation/context.ts";
import { uuidv7 } from "../src/db/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";

// Moderation that has to reach everything it touched, over HTTP against the real app and database: a domain block
// with reject_media (local thumbnails deleted from storage, none cached again, the media proxy refusing), undoing a
// force-sensitive (exactly the posts it marked), and purging an account whose comments others answered.

/** A loopback "fediverse server" serving one image, counting what it is asked for. */
async function startImageServer(png: Buffer) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    res.writeHead(200, { "content-type": "image/png" });
    res.end(png);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let t: TestApp;
let token: string;
let png: Buffer;
let images: Awaited<ReturnType<typeof startImageServer>>;

beforeAll(async () => {
  png = await makeImage("png", 40, 30);
  images = await startImageServer(png);
  t = await createTestApp({ ALLOW_PRIVATE_ADDRESS: "true", REMOTE_MEDIA_THUMBNAILS: "true", HOT_CACHE_MS: "0", WRITE_LIMITS: "off" });
  token = (await t.services.admin.tokens.create("moderation-media", "test-setup")).token;
});
afterAll(async () => {
  await t?.close();
  await images?.close();
});

const admin = (method: string, path: string, body?: unknown) => t.call(method, `/api/v1/admin${path}`, { key: token, body });
const sql = () => t.db.sql;

async function auditEntries(action: string) {
  const res = await admin("GET", `/audit?action=${encodeURIComponent(action)}`);
  expect(res.status).toBe(200);
  return res.json.data.entries as { actor: string; action: string; target_id: string; reason: string | null; details: any }[];
}

/** What the federation layer calls for a fediverse post it just stored (the real function, on the app's services). */
const cache = (postId: string) => cacheThumbnails({ data: t.services } as unknown as FedContext, postId);

/** A fediverse account on `host` and one image post of it, stored as the inbox stores them. */
async function remotePost(host: string, user: string) {
  const authorId = uuidv7();
  const postId = uuidv7();
  const base = `http://${host}`;
  await sql()`INSERT INTO agents (id, name, kind, actor_iri, avatar_url)
    VALUES (${authorId}, ${`${user}@${host}`}, 'remote', ${`${base}/users/${user}`}, ${`${base}/avatars/${user}.png`})
    ON CONFLICT (actor_iri) DO NOTHING`;
  const [author] = await sql()<{ id: string }[]>`SELECT id FROM agents WHERE actor_iri = ${`${base}/users/${user}`}`;
  await sql()`INSERT INTO posts (id, agent_id, caption, is_remote) VALUES (${postId}, ${author!.id}, ${`a post by ${user}`}, true)`;
  const imageUrl = `${base}/media/${postId}.png`;
  const attachments = [{ url: imageUrl, mediaType: "image/png", width: 40, height: 30, altText: "a picture", blurhash: null }];
  await sql()`INSERT INTO remote_posts (post_id, iri, attachments) VALUES (${postId}, ${`${base}/notes/${postId}`}, ${JSON.stringify(attachments)}::jsonb)`;
  return { postId, authorId: author!.id, imageUrl };
}

const thumbnailKeys = async (postId: string) =>
  (await sql()<{ key: string | null }[]>`SELECT e->>'thumbnailKey' AS key FROM remote_posts, jsonb_array_elements(attachments) e WHERE post_id = ${postId}`).map(
    (r) => r.key,
  );
const stored = async (key: string) => (await t.services.storage.get(key)) !== null;
const pathOf = (url: string) => new URL(url).pathname;

describe("domain block with reject_media", () => {
  it("deletes the domain's cached thumbnails from storage, caches no new ones, and the API links the images again", async () => {
    const blockedHost = `127.0.0.1:${images.port}`;
    const openHost = `localhost:${images.port}`;
    const hit = await remotePost(blockedHost, "alice");
    const kept = await remotePost(openHost, "bob");
    expect(await cache(hit.postId)).toBe(1);
    expect(await cache(kept.postId)).toBe(1);
    const [hitKey] = await thumbnailKeys(hit.postId);
    const [keptKey] = await thumbnailKeys(kept.postId);
    expect(hitKey).toMatch(/^media\/.+\/thumbnail\.webp$/);
    expect(await stored(hitKey!)).toBe(true);
    const before = await t.call("GET", `/api/v1/posts/${hit.postId}`);
    expect(before.json.data.images[0].thumbnail_url).toBe(t.services.media.urlFor(hitKey!));
    expect((await t.app.request(pathOf(before.json.data.images[0].thumbnail_url))).status).toBe(200);

    const res = await admin("PUT", `/domain-blocks/${blockedHost}`, { severity: "noop", reject_media: true, reason: "hotlinked gore" });
    expect(res.status).toBe(200);
    expect(res.json.data.block).toMatchObject({ domain: blockedHost, severity: "noop", reject_media: true });

    // Gone from storage, from the database and from the post; the API shows the remote image, linked.
    expect(await stored(hitKey!)).toBe(false);
    expect(await thumbnailKeys(hit.postId)).toEqual([null]);
    expect((await sql()`SELECT 1 FROM post_media WHERE post_id = ${hit.postId}`).length).toBe(0);
    expect((await sql()`SELECT 1 FROM media WHERE agent_id = ${hit.authorId}`).length).toBe(0);
    expect((await t.app.request(pathOf(before.json.data.images[0].thumbnail_url))).status).toBe(404);
    const after = await t.call("GET", `/api/v1/posts/${hit.postId}`);
    expect(after.status).toBe(200);
    expect(after.json.data.images[0]).toMatchObject({ url: hit.imageUrl, feed_url: hit.imageUrl, thumbnail_url: hit.imageUrl });
    expect(after.json.data.author.avatar_url).toBeUndefined();

    // The web page agrees: no image through the proxy (which would refuse it), a link to where the image lives.
    const page = await (await t.app.request(`/p/${hit.postId}`, { headers: { accept: "text/html" } })).text();
    expect(page).toContain("a post by alice");
    expect(page).not.toContain(t.services.mediaProxy.urlFor(hit.imageUrl));
    expect(page).not.toContain("/media/proxy/");
    expect(page).toContain(`<a href="${hit.imageUrl}" rel="nofollow noopener noreferrer ugc">Image on ${blockedHost}, not loaded here</a>`);
    expect(page).not.toMatch(/<meta property="og:image"/);

    // Another domain keeps its thumbnail and avatar.
    expect(await stored(keptKey!)).toBe(true);
    const other = await t.call("GET", `/api/v1/posts/${kept.postId}`);
    expect(other.json.data.images[0].thumbnail_url).toBe(t.services.media.urlFor(keptKey!));
    expect(other.json.data.author.avatar_url).toBe(`http://${openHost}/avatars/bob.png`);
    const otherPage = await (await t.app.request(`/p/${kept.postId}`, { headers: { accept: "text/html" } })).text();
    expect(otherPage).toContain(t.services.mediaProxy.urlFor(`http://${openHost}/avatars/bob.png`).replaceAll("&", "&amp;"));
    expect(otherPage).not.toContain("not loaded here");

    // A new post from the blocked domain: nothing is fetched, nothing stored.
    const fresh = await remotePost(blockedHost, "alice");
    const hitsBefore = images.hits.length;
    expect(await cache(fresh.postId)).toBe(0);
    expect(images.hits.length).toBe(hitsBefore);
    expect(await thumbnailKeys(fresh.postId)).toEqual([null]);

    const [entry] = await auditEntries("domain.reject_media");
    expect(entry).toMatchObject({ actor: "token:moderation-media", target_id: blockedHost, details: { clearedAvatars: 1, deletedThumbnails: 1 } });
    expect((await auditEntries("domain.block"))[0]).toMatchObject({ target_id: blockedHost, reason: "hotlinked gore" });
  });

  it("the media proxy refuses URLs on a domain that rejects media or is suspended, without contacting it", async () => {
    const rejected = `http://127.0.0.1:${images.port}/media/x.png`;
    const fine = `http://localhost:${images.port}/media/x.png`;
    const before = images.hits.length;
    const res = await t.app.request(pathOf(t.services.mediaProxy.urlFor(rejected)));
    expect(res.status).toBe(403);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toMatchObject({ success: false, code: "media_rejected" });
    expect(images.hits.length).toBe(before);
    const ok = await t.app.request(pathOf(t.services.mediaProxy.urlFor(fine)));
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(png)).toBe(true);

    // A suspended domain (and its subdomains) is refused too; lifting the block lets images through again.
    expect((await admin("PUT", "/domain-blocks/evil.example", { severity: "suspend" })).status).toBe(200);
    const sub = await t.app.request(pathOf(t.services.mediaProxy.urlFor("https://files.evil.example/a.png")));
    expect(sub.status).toBe(403);
    expect(await sub.json()).toMatchObject({ code: "media_rejected" });
    expect((await admin("DELETE", `/domain-blocks/127.0.0.1:${images.port}`)).status).toBe(200);
    expect((await t.app.request(pathOf(t.services.mediaProxy.urlFor(rejected)))).status).toBe(200);
  });
});

describe("unforce_sensitive", () => {
  it("unmarks exactly the posts the force marked: not self-marked ones, nor those marked by reports or moderators", async () => {
    const author = await agentWithAvatar(t, () => makeImage("png", 16, 16));
    const post = async (sensitive: boolean) => {
      const res = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], caption: "p", sensitive } });
      expect(res.status).toBe(201);
      return res.json.data.id as string;
    };
    const plain = await post(false);
    const selfMarked = await post(true);
    const reportedLater = await post(false);
    const moderatedLater = await post(false);

    const forced = await admin("POST", `/accounts/${author.name}/actions`, { action: "force_sensitive", reason: "nsfw bot" });
    expect(forced.status).toBe(200);
    expect(forced.json.data.account.force_sensitive_at).not.toBeNull();
    const newPlain = await post(false);
    const newSelfMarked = await post(true);

    // While forced, a report crosses the threshold on one post and a moderator marks another.
    expect((await admin("PATCH", "/settings", { sensitive_threshold: 0.25 })).status).toBe(200);
    const reporter = await t.registerAgent();
    expect((await t.call("POST", `/api/v1/posts/${reportedLater}/report`, { key: reporter.key, body: { reason: "sexual_content" } })).status).toBe(201);
    expect((await sql()`SELECT 1 FROM posts WHERE id = ${reportedLater} AND sensitive_by_report_at IS NOT NULL`).length).toBe(1);
    expect((await admin("POST", `/reports/${moderatedLater}/resolve`, { action: "mark_sensitive" })).status).toBe(200);

    const sensitive = async (id: string) => (await t.call("GET", `/api/v1/posts/${id}`)).json.data.is_sensitive as boolean;
    for (const id of [plain, selfMarked, reportedLater, moderatedLater, newPlain, newSelfMarked]) expect(await sensitive(id), id).toBe(true);

    const undone = await admin("POST", `/accounts/${author.name}/actions`, { action: "unforce_sensitive", reason: "appeal" });
    expect(undone.status).toBe(200);
    expect(undone.json.data.account.force_sensitive_at).toBeNull();
    expect(await sensitive(plain)).toBe(false);
    expect(await sensitive(newPlain)).toBe(false);
    expect(await sensitive(selfMarked)).toBe(true);
    expect(await sensitive(newSelfMarked)).toBe(true);
    expect(await sensitive(reportedLater)).toBe(true);
    expect(await sensitive(moderatedLater)).toBe(true);
    expect((await sql()`SELECT 1 FROM posts WHERE agent_id = ${author.id} AND sensitive_by_force_at IS NOT NULL`).length).toBe(0);
    // And a post after the undo is as its author says.
    expect(await sensitive(await post(false))).toBe(false);

    const [entry] = await auditEntries("account.unforce_sensitive");
    expect(entry).toMatchObject({ target_id: author.id, reason: "appeal", details: { unmarkedPosts: 2, keptSensitive: 1 } });
    expect((await auditEntries("account.force_sensitive"))[0]).toMatchObject({ target_id: author.id, details: { markedPosts: 3 } });
    await admin("PATCH", "/settings", { sensitive_threshold: 5 });
  });
});

describe("unforce_sensitive on a fediverse account", () => {
  it("covers the posts that arrive while forced, and leaves the ones their author marked (also by an edit)", async () => {
    const remote = await t.services.agents.upsertRemote({
      iri: "https://forced.example/users/carol",
      handle: "carol@forced.example",
      inboxUrl: "https://forced.example/users/carol/inbox",
      sharedInboxUrl: null,
      profileUrl: null,
      displayName: "Carol",
      bio: null,
      avatarUrl: null,
      isBot: false,
    } as Parameters<typeof t.services.agents.upsertRemote>[0]);
    const note = (n: number, sensitive: boolean) => ({
      iri: `https://forced.example/notes/${n}`,
      url: null,
      text: `note ${n}`,
      contentWarning: null,
      sensitive,
      published: new Date(),
      attachments: [{ url: `https://forced.example/media/${n}.png`, mediaType: "image/png", width: 10, height: 10, altText: null, blurhash: null }],
      hashtags: [],
    });
    expect((await admin("POST", `/accounts/${encodeURIComponent(remote.name)}/actions`, { action: "force_sensitive" })).status).toBe(200);
    const forced = (await t.services.agents.findById(remote.id))!;
    // What the inbox does for Create(Note) and Update(Note) from that account.
    const plain = (await t.services.remotePosts.ingest(forced, note(1, false)))!.postId;
    const marked = (await t.services.remotePosts.ingest(forced, note(2, true)))!.postId;
    const editedToMarked = (await t.services.remotePosts.ingest(forced, note(3, false)))!.postId;
    expect(await t.services.remotePosts.update(forced, note(3, true))).toBe(true);
    const sensitive = async (id: string) => (await t.call("GET", `/api/v1/posts/${id}`)).json.data.is_sensitive as boolean;
    for (const id of [plain, marked, editedToMarked]) expect(await sensitive(id)).toBe(true);

    expect((await admin("POST", `/accounts/${encodeURIComponent(remote.name)}/actions`, { action: "unforce_sensitive" })).status).toBe(200);
    expect(await sensitive(plain)).toBe(false);
    expect(await sensitive(marked)).toBe(true);
    expect(await sensitive(editedToMarked)).toBe(true);
  });
});

describe("purge", () => {
  it("leaves the purged account's answered comments as tombstones, so other agents' replies stay reachable", async () => {
    const bytes = () => makeImage("png", 16, 16);
    const owner = await agentWithAvatar(t, bytes);
    const purged = await agentWithAvatar(t, bytes);
    const friend = await agentWithAvatar(t, bytes);
    const postRes = await t.call("POST", "/api/v1/posts", { key: owner.key, body: { images: [{ media_id: owner.mediaId }], caption: "thread" } });
    const postId = postRes.json.data.id as string;
    const comment = async (who: { key: string }, content: string, parent?: string) => {
      const res = await t.call("POST", `/api/v1/posts/${postId}/comments`, { key: who.key, body: { content, parent_id: parent } });
      expect(res.status).toBe(201);
      return res.json.data.id as string;
    };
    const c1 = await comment(purged, "top by purged"); // answered → tombstone
    const r1 = await comment(friend, "friend answers", c1);
    const c2 = await comment(purged, "purged again", r1); // answered deeper down → tombstone
    const c2a = await comment(purged, "purged talks to itself", c2); // only the purged account below → deleted
    const r2 = await comment(owner, "owner answers", c2a);
    const c3 = await comment(purged, "leaf by purged"); // no replies → deleted
    const c4 = await comment(purged, "another leaf", r1); // → deleted
    await comment(purged, "reply to own leaf", c4); // → deleted

    const hotInvariant = async () => {
      const [p] = await sql()<{ hot_base: number; like_count: number; comment_count: number; created_at: Date }[]>`
        SELECT hot_base, like_count, comment_count, created_at FROM posts WHERE id = ${postId}`;
      return Math.round((p!.hot_base - p!.like_count - 2 * p!.comment_count) * 1e6);
    };
    const invariant = await hotInvariant();
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data.comment_count).toBe(8);

    const [avatar] = await sql()<{ variants: Record<string, { key: string }> }[]>`SELECT variants FROM media WHERE id = ${purged.mediaId}`;
    const files = Object.values(avatar!.variants).map((v) => v.key);
    expect(files.length).toBe(3);
    for (const key of files) expect(await stored(key), key).toBe(true);

    expect((await admin("POST", `/accounts/${purged.name}/actions`, { action: "suspend" })).status).toBe(200);
    const res = await admin("POST", `/accounts/${purged.name}/actions`, { action: "purge", reason: "spam" });
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ account: null, purged: true });

    // Tombstones: c1, c2 and c2a (each has an answer from someone else somewhere below); the other three are gone.
    const ids = (await sql()<{ id: string }[]>`SELECT id FROM comments WHERE post_id = ${postId}`).map((r) => r.id).sort();
    expect(ids).toEqual([c1, r1, c2, c2a, r2].sort());
    expect((await sql()`SELECT 1 FROM comments WHERE agent_id = ${purged.id}`).length).toBe(0);
    // An unanswered comment is simply gone, as it would be with its account.
    expect((await t.call("GET", `/api/v1/comments/${c3}/replies`)).status).toBe(404);
    const post = (await t.call("GET", `/api/v1/posts/${postId}`)).json.data;
    expect(post.comment_count).toBe(5);
    expect(await hotInvariant()).toBe(invariant);

    const top = await t.call("GET", `/api/v1/posts/${postId}/comments`);
    expect(top.status).toBe(200);
    expect(top.json.data.items.map((c: { id: string }) => c.id)).toEqual([c1]);
    expect(top.json.data.items[0]).toMatchObject({ is_deleted: true, content: "[deleted]", replies_count: 1, author: { name: "[deleted]" } });
    expect(top.json.data.items[0].deleted_at).not.toBeNull();

    const under = async (id: string) => {
      const r = await t.call("GET", `/api/v1/comments/${id}/replies`);
      expect(r.status, id).toBe(200);
      return r.json.data.items as { id: string; content: string; is_deleted: boolean; replies_count: number }[];
    };
    expect((await under(c1)).map((c) => [c.id, c.content])).toEqual([[r1, "friend answers"]]);
    const belowR1 = await under(r1);
    expect(belowR1.map((c) => c.id)).toEqual([c2]);
    expect((await under(c1))[0]!.replies_count).toBe(1);
    expect(belowR1[0]).toMatchObject({ is_deleted: true, content: "[deleted]", replies_count: 1 });
    expect((await under(c2)).map((c) => c.id)).toEqual([c2a]);
    expect((await under(c2a)).map((c) => [c.id, c.content])).toEqual([[r2, "owner answers"]]);
    // The text of the purged account's comments is gone from the database, not only hidden.
    const texts = (await sql()<{ content: string }[]>`SELECT content FROM comments WHERE id IN (${c1}, ${c2}, ${c2a})`).map((r) => r.content);
    expect(texts).toEqual(["", "", ""]);

    // The web thread shows the answers under the tombstone.
    const page = await (await t.app.request(`/p/${postId}`, { headers: { accept: "text/html" } })).text();
    expect(page).toContain("friend answers");
    expect(page).not.toContain("top by purged");

    const [entry] = await auditEntries("account.purge");
    expect(entry).toMatchObject({ target_id: purged.id, reason: "spam", details: { tombstonedComments: 3, deletedFiles: 3 } });
    // Its media files are gone from storage with it.
    for (const key of files) expect(await stored(key), key).toBe(false);

    // The placeholder author is nobody an admin can act on, list or purge (the scheduled purge skips it).
    expect((await admin("GET", `/accounts/${encodeURIComponent("[deleted]")}`)).status).toBe(404);
    expect((await admin("GET", "/accounts?filter=suspended&limit=100")).json.data.accounts.map((a: { name: string }) => a.name)).not.toContain("[deleted]");
    await t.services.admin.accounts.purgeExpired();
    expect((await sql()`SELECT 1 FROM comments WHERE id = ${c1}`).length).toBe(1);
    expect((await t.call("GET", "/api/v1/agents/%5Bdeleted%5D")).status).not.toBe(200);
  });
});

describe("cached pages", () => {
  it("show a force-sensitive, its undo and a purge at once (the actions clear the hot cache)", async () => {
    const cached = await createTestApp({ HOT_CACHE_MS: "600000", WRITE_LIMITS: "off" }, t.db);
    try {
      const as = (method: string, path: string, body?: unknown) => cached.call(method, `/api/v1/admin${path}`, { key: token, body });
      const author = await agentWithAvatar(cached, () => makeImage("png", 16, 16));
      const created = await cached.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], caption: "cached" } });
      const postId = created.json.data.id as string;
      const profile = async () => {
        const res = await cached.call("GET", `/api/v1/agents/${author.name}/posts`);
        expect(res.status).toBe(200);
        return res.json.data.items.find((p: { id: string }) => p.id === postId) as { is_sensitive: boolean } | undefined;
      };
      expect((await profile())?.is_sensitive).toBe(false);
      // The same page, still cached, while the database changes behind it (no event clears it).
      await sql()`UPDATE posts SET caption = 'changed quietly' WHERE id = ${postId}`;
      const stale = (await cached.call("GET", `/api/v1/agents/${author.name}/posts`)).text;
      expect(stale).toContain('"caption":"cached"');
      expect(stale).not.toContain("changed quietly");

      expect((await as("POST", `/accounts/${author.name}/actions`, { action: "force_sensitive" })).status).toBe(200);
      expect((await profile())?.is_sensitive).toBe(true);
      expect((await as("POST", `/accounts/${author.name}/actions`, { action: "unforce_sensitive" })).status).toBe(200);
      expect((await profile())?.is_sensitive).toBe(false);
      expect((await as("POST", `/accounts/${author.name}/actions`, { action: "suspend" })).status).toBe(200);
      expect((await as("POST", `/accounts/${author.name}/actions`, { action: "purge" })).status).toBe(200);
      expect((await cached.call("GET", `/api/v1/agents/${author.name}/posts`)).status).toBe(404);
    } finally {
      await cached.close();
    }
  });
});
