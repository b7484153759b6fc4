import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { latestMailTo } from "./helpers/mail.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ RATE_LIMIT_CLAWPIX_REGISTER: "100000/3600" });
});
afterAll(async () => {
  await t.services.mail.settled();
  await t.close();
});

let n = 0;
const uniqueHandle = () => `x_${Date.now().toString(36).slice(-6)}_${n++}`;
const png = () => makeImage("png", 20, 20);
const dataUrl = async (w = 300, h = 300) => `data:image/png;base64,${(await makeImage("png", w, h)).toString("base64")}`;

async function clawpixAgent() {
  const handle = uniqueHandle();
  const res = await t.call("POST", "/api/agents/register", { body: { handle, displayName: `Display ${handle}` } });
  expect(res.status).toBe(201);
  return { handle, key: res.json.apiKey as string, id: res.json.agent.id as string, activationUrl: res.json.activationUrl as string };
}

async function v1Post(key: string, caption = "from clawgram") {
  const { mediaId } = await uploadImage(t, key, await makeImage("jpeg", 64, 48), "image/jpeg");
  const res = await t.call("POST", "/api/v1/posts", { key, body: { images: [{ media_id: mediaId }], caption } });
  expect(res.status).toBe(201);
  return res.json.data;
}

describe("one agent, one set of posts, whichever API", () => {
  it("cpx_ keys work on the Clawgram API and claw_ keys on the Clawpix API", async () => {
    const cpx = await clawpixAgent();
    const me = await t.call("GET", "/api/v1/agents/me", { key: cpx.key });
    expect(me.status).toBe(200);
    expect(me.json.data).toMatchObject({ id: cpx.id, name: cpx.handle, claimed: false });
    const claw = await t.registerAgent();
    const viaClawpix = await t.call("GET", "/api/agents/me", { key: claw.key });
    expect(viaClawpix.status).toBe(200);
    expect(viaClawpix.json.agent).toMatchObject({ id: claw.id, handle: claw.name, displayName: claw.name, status: "pending_activation" });
  });

  it("register via Clawpix, post via Clawgram, like via Clawpix: the counts agree on both APIs and the web page", async () => {
    const author = await clawpixAgent();
    // A Clawpix agent can use the Clawgram flow too: avatar, then a post.
    const { mediaId } = await uploadImage(t, author.key, await png(), "image/png", "avatar.png");
    expect((await t.call("POST", "/api/v1/agents/me/avatar", { key: author.key, body: { media_id: mediaId } })).status).toBe(200);
    const post = await v1Post(author.key, "cross api");

    const fan = await agentWithAvatar(t, png); // a Clawgram agent
    const liked = await t.call("POST", `/api/posts/${post.id}/like`, { key: fan.key });
    expect(liked.json).toEqual({ liked: true, likeCount: 1 });
    const saved = await t.call("POST", `/api/posts/${post.id}/save`, { key: fan.key });
    expect(saved.json).toEqual({ saved: true, saveCount: 1 });

    const v1 = await t.call("GET", `/api/v1/posts/${post.id}`, { key: fan.key });
    expect(v1.json.data).toMatchObject({ like_count: 1, viewer_has_liked: true });
    const fresh = await t.call("GET", "/api/explore?bucket=fresh&limit=50");
    const card = fresh.json.posts.find((p: any) => p.id === post.id);
    expect(card).toMatchObject({ likeCount: 1, saveCount: 1, caption: "cross api", agent: { handle: author.handle } });
    const web = await t.app.request(`/p/${post.id}`, { headers: { accept: "text/html" } });
    expect(web.status).toBe(200);
    expect(await web.text()).toContain("1 like");

    // Unlike through Clawgram; the Clawpix toggle sees it.
    expect((await t.call("DELETE", `/api/v1/posts/${post.id}/like`, { key: fan.key })).json.data).toEqual({ liked: false });
    expect((await t.call("POST", `/api/posts/${post.id}/like`, { key: fan.key })).json).toEqual({ liked: true, likeCount: 1 });
    // Follow through Clawpix, visible in Clawgram's follower count and list.
    expect((await t.call("POST", `/api/agents/${author.handle}/follow`, { key: fan.key })).json).toEqual({ following: true, followerCount: 1 });
    expect((await t.call("GET", `/api/v1/agents/${author.handle}`)).json.data.follower_count).toBe(1);
    const followers = await t.call("GET", `/api/v1/agents/${author.handle}/followers`);
    expect(followers.json.data.items.map((x: any) => x.name)).toEqual([fan.name]);
    // Clawpix's profile page path leads to our web profile.
    const profile = await t.app.request(`/agent/${author.handle}`);
    expect(profile.status).toBe(301);
    expect(profile.headers.get("location")).toBe(`/@${author.handle}`);
    // The Clawgram profile counts the post, the Clawpix profile agrees.
    expect((await t.call("GET", "/api/agents/me", { key: author.key })).json.agent).toMatchObject({ postCount: 1, followerCount: 1 });
  });

  it("a post published through Clawpix is an ordinary post: profile feed, hashtag feed, web page with its title", async () => {
    const a = await clawpixAgent();
    const tag = `cx_${Date.now().toString(36)}`;
    const res = await t.call("POST", "/api/posts/publish", { key: a.key, body: { image: await dataUrl(), title: "A <b>bold</b> title", caption: "pixels", tags: [tag] } });
    expect(res.status).toBe(201);
    const id = res.json.post.id;
    const feed = await t.call("GET", `/api/v1/agents/${a.handle}/posts`);
    expect(feed.json.data.items.map((p: any) => p.id)).toContain(id);
    const byTag = await t.call("GET", `/api/v1/hashtags/${tag}/feed`);
    expect(byTag.json.data.items.map((p: any) => p.id)).toEqual([id]);
    const page = await (await t.app.request(`/p/${id}`, { headers: { accept: "text/html" } })).text();
    expect(page).toContain("A &lt;b&gt;bold&lt;/b&gt; title");
    expect(page).toContain("pixels");
    // Comments through either API land on the same post.
    const fan = await agentWithAvatar(t, png);
    await t.call("POST", `/api/v1/posts/${id}/comments`, { key: fan.key, body: { content: "from v1" } });
    await t.call("POST", `/api/posts/${id}/comments`, { key: a.key, body: { content: "from clawpix" } });
    const list = await t.call("GET", `/api/posts/${id}/comments`);
    expect(list.json.comments.map((c: any) => c.content)).toEqual(["from v1", "from clawpix"]);
    expect((await t.call("GET", `/api/v1/posts/${id}`)).json.data.comment_count).toBe(2);
  });

  it("activationUrl opens our claim page; the owner's email claim makes the status active", async () => {
    const a = await clawpixAgent();
    const url = new URL(a.activationUrl);
    const page = await t.app.request(url.pathname + url.search, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`@${a.handle}`);
    expect(html).toContain('action="/claim/activate"');
    const token = url.searchParams.get("token")!;
    const email = `owner.${Date.now().toString(36)}@example.com`;
    const sent = await t.app.request("/claim/activate", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, email }).toString(),
    });
    expect(sent.status).toBe(200);
    expect(await sent.text()).toContain(email);
    expect((await t.call("GET", "/api/agents/me", { key: a.key })).json.agent.status).toBe("pending_activation");
    await t.services.mail.settled();
    const mail = await latestMailTo(t.config.dataDir, email);
    const done = await t.call("POST", "/api/v1/owner/email/complete", { body: { token: mail.token } });
    expect(done.status).toBe(200);
    expect((await t.call("GET", "/api/agents/me", { key: a.key })).json.agent.status).toBe("active");
    expect((await t.call("GET", "/api/v1/agents/status", { key: a.key })).json.data.status).toBe("claimed");
    // The link has done its job.
    const again = await t.app.request(url.pathname + url.search, { headers: { accept: "text/html" } });
    expect(await again.text()).toContain("already activated");
    const bogus = await t.app.request("/claim?token=CLAW-AAAAAAAAAAAAAAAA", { headers: { accept: "text/html" } });
    expect(bogus.status).toBe(400);
  });
});

describe("Clawgram saves, saved, activity and stats", () => {
  it("POST/DELETE /api/v1/posts/{id}/save are idempotent, count, and emit save events", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const post = await v1Post(a.key);
    const events: string[] = [];
    t.services.events.on("save.created", (e) => void events.push(`+${e.postId}`));
    t.services.events.on("save.deleted", (e) => void events.push(`-${e.postId}`));
    const save = await t.call("POST", `/api/v1/posts/${post.id}/save`, { key: b.key });
    expect(save.status).toBe(200);
    expect(save.json).toMatchObject({ success: true, data: { saved: true, save_count: 1 } });
    expect((await t.call("POST", `/api/v1/posts/${post.id}/save`, { key: b.key })).json.data).toEqual({ saved: true, save_count: 1 });
    expect((await t.call("DELETE", `/api/v1/posts/${post.id}/save`, { key: b.key })).json.data).toEqual({ saved: false, save_count: 0 });
    expect((await t.call("DELETE", `/api/v1/posts/${post.id}/save`, { key: b.key })).json.data).toEqual({ saved: false, save_count: 0 });
    expect(events).toEqual([`+${post.id}`, `-${post.id}`]);
    const missing = await t.call("POST", "/api/v1/posts/0190a8d2-0000-7000-8000-000000000000/save", { key: b.key });
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("not_found");
    expect((await t.call("POST", `/api/v1/posts/${post.id}/save`)).json.code).toBe("invalid_api_key");
  });

  it("GET /api/v1/agents/me/saved pages the caller's own saves, newest first; saves are private", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const posts = [await v1Post(a.key, "one"), await v1Post(a.key, "two"), await v1Post(a.key, "three")];
    for (const p of posts) await t.call("POST", `/api/v1/posts/${p.id}/save`, { key: b.key });
    const first = await t.call("GET", "/api/v1/agents/me/saved?limit=2", { key: b.key });
    expect(first.status).toBe(200);
    expect(first.json.data.items.map((p: any) => p.caption)).toEqual(["three", "two"]);
    expect(first.json.data.items[0]).toMatchObject({ id: posts[2].id, saved_at: expect.any(String), author: { name: a.name } });
    expect(first.json.data.has_more).toBe(true);
    const second = await t.call("GET", `/api/v1/agents/me/saved?limit=2&cursor=${first.json.data.next_cursor}`, { key: b.key });
    expect(second.json.data.items.map((p: any) => p.caption)).toEqual(["one"]);
    expect(second.json.data.has_more).toBe(false);
    expect((await t.call("GET", "/api/v1/agents/me/saved", { key: a.key })).json.data.items).toEqual([]);
    // Nothing public names savers: the post shows no saver, and a deleted post drops out of the list.
    expect(JSON.stringify((await t.call("GET", `/api/v1/posts/${posts[0].id}`)).json.data)).not.toContain(b.name);
    await t.call("DELETE", `/api/v1/posts/${posts[2].id}`, { key: a.key });
    expect((await t.call("GET", "/api/v1/agents/me/saved", { key: b.key })).json.data.items).toHaveLength(2);
    expect((await t.call("GET", "/api/v1/agents/me/saved?cursor=%%%", { key: b.key })).json.code).toBe("validation_error");
  });

  it("GET /api/v1/agents/me/activity includes fediverse likes, follows and replies, newest first, in cursor pages", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const post = await v1Post(a.key);
    const remote = await t.services.agents.upsertRemote({
      iri: `https://mastodon.example/users/alice${n++}`,
      handle: `alice${n}@mastodon.example`,
      inboxUrl: null,
      sharedInboxUrl: null,
      profileUrl: null,
      displayName: "Alice",
      bio: null,
      avatarUrl: null,
      isBot: false,
    });
    await t.services.social.like(remote, post.id);
    await t.db.sql`INSERT INTO follows (follower_id, following_id, created_at) VALUES (${remote.id}, ${a.id}, now() - interval '1 hour')`;
    await t.services.comments.create(remote, post.id, { content: "nice from the fediverse", iri: `https://mastodon.example/notes/${n}` });
    await t.call("POST", `/api/v1/posts/${post.id}/like`, { key: b.key });
    await t.call("POST", `/api/v1/posts/${post.id}/save`, { key: b.key });
    await t.call("POST", `/api/v1/agents/${a.name}/follow`, { key: b.key });

    const all = await t.call("GET", "/api/v1/agents/me/activity?limit=100", { key: a.key });
    expect(all.status).toBe(200);
    const items = all.json.data.items;
    expect(items).toHaveLength(6);
    const times = items.map((i: any) => i.created_at);
    expect(times).toEqual([...times].sort().reverse());
    expect(items.at(-1)).toMatchObject({ type: "follow", actor: { name: remote.name } });
    expect(items.find((i: any) => i.type === "comment")).toMatchObject({
      actor: { name: remote.name },
      post_id: post.id,
      comment: { content: "nice from the fediverse" },
      post_thumbnail_url: expect.stringContaining("/thumbnail.webp"),
    });
    expect(items.filter((i: any) => i.type === "like").map((i: any) => i.actor.name).sort()).toEqual([b.name, remote.name].sort());
    expect(items.find((i: any) => i.type === "save").actor).toBeNull();

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.call("GET", `/api/v1/agents/me/activity?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { key: a.key });
      expect(page.json.data.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.json.data.items.map((i: any) => i.id));
      cursor = page.json.data.next_cursor;
    } while (cursor);
    expect(seen).toEqual(items.map((i: any) => i.id));
    expect((await t.call("GET", "/api/v1/agents/me/activity", { key: b.key })).json.data.items).toEqual([]);
  });

  it("GET /api/v1/agents/me/stats", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const post = await v1Post(a.key);
    await v1Post(a.key);
    await t.call("POST", `/api/v1/posts/${post.id}/like`, { key: b.key });
    await t.call("POST", `/api/v1/posts/${post.id}/save`, { key: b.key });
    await t.call("POST", `/api/v1/posts/${post.id}/comments`, { key: b.key, body: { content: "hey" } });
    const res = await t.call("GET", "/api/v1/agents/me/stats", { key: a.key });
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({
      post_count: 2,
      follower_count: 0,
      following_count: 0,
      likes_received: 1,
      comments_received: 1,
      saves_received: 1,
      saved_count: 0,
      likes_given: 0,
    });
    expect((await t.call("GET", "/api/v1/agents/me/stats", { key: b.key })).json.data).toMatchObject({ saved_count: 1, likes_given: 1 });
    expect(t.openapi.paths["/api/v1/agents/me/stats"]).toBeDefined();
  });
});
