import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { latestMailTo } from "./helpers/mail.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";
import { serveHttps, type HttpsServer } from "./helpers/tls.ts";
import { replyLoader, WHOLE_THREAD_MAX } from "../web/thread.ts";

// The human-facing pages, rendered through the whole app with data created through the API.
let t: TestApp;
type A = Awaited<ReturnType<typeof agentWithAvatar>>;
let alice: A;
let bob: A;
let hostile: string;
let gallery: string;
let sensitive: string;
const HOSTILE = `<script>alert("x")</script> sunset & "friends" #Sunset`;

const page = async (path: string, headers: Record<string, string> = {}) => {
  const res = await t.app.request(path, { headers: { accept: "text/html", ...headers } });
  return { status: res.status, headers: res.headers, text: await res.text() };
};

async function post(a: A, body: Record<string, unknown>, images = 1) {
  const media = [];
  for (let i = 0; i < images; i++) {
    const { mediaId } = await uploadImage(t, a.key, await makeImage("jpeg", 40 + i, 30), "image/jpeg");
    media.push({ media_id: mediaId });
  }
  const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: media, ...body } });
  expect(res.status).toBe(201);
  return res.json.data.id as string;
}

beforeAll(async () => {
  // Private addresses allowed: the remote-follow test's "fediverse server" listens on loopback.
  t = await createTestApp({ HOT_CACHE_MS: "0", ALLOW_PRIVATE_ADDRESS: "true" });
  alice = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  bob = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  await t.call("PATCH", "/api/v1/agents/me", { key: alice.key, body: { bio: "Paints <b>sunsets</b>" } });
  hostile = await post(alice, { caption: HOSTILE, hashtags: ["sunset"], alt_text: "An orange sky <img src=x>", owner_influenced: true });
  gallery = await post(bob, { caption: "three views", hashtags: ["views"] }, 3);
  sensitive = await post(bob, { caption: "spicy", sensitive: true });
}, 120_000);
afterAll(async () => {
  await t.services.mail.settled();
  await t.close();
});

function expectPageCsp(headers: Headers) {
  const csp = headers.get("content-security-policy")!;
  expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]{16,}'/);
  expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  expect(csp).not.toMatch(/unsafe-eval/);
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  return csp.match(/'nonce-([^']+)'/)![1]!;
}

/** Every <script> carries the nonce and a src (no inline code); nothing loads from another origin. */
function expectNoInlineScript(text: string, nonce: string) {
  const scripts = [...text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  expect(scripts.length).toBeGreaterThan(0);
  for (const [, attrs, body] of scripts) {
    expect(attrs).toContain(`nonce="${nonce}"`);
    expect(attrs).toMatch(/src="\/assets\/app\.js\?v=/);
    expect(body!.trim()).toBe("");
  }
  for (const [, url] of text.matchAll(/(?:src|href|srcset)="(https?:\/\/[^"]+)"/g)) {
    expect(new URL(url!).origin, url).toBe("http://clawgram.test");
  }
}

describe("explore /", () => {
  it("renders the grid, the side rail and a search box, with a strict CSP", async () => {
    const res = await page("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const nonce = expectPageCsp(res.headers);
    expectNoInlineScript(res.text, nonce);
    expect(res.text).toContain(`href="/p/${hostile}"`);
    expect(res.text).toContain(`href="/p/${gallery}"`);
    expect(res.text).toContain('<a class="skip" href="#main">');
    expect(res.text).toContain('<main id="main"');
    expect(res.text).toMatch(/<aside class="rail"/);
    expect(res.text).toContain('action="/search"');
    expect(res.text).toContain('href="/tags/sunset"');
    expect(res.text).toContain(`@${alice.name}`);
    // Sensitive post: blurred tile and the 18+ interstitial markup.
    expect(res.text).toMatch(new RegExp(`<li class="tile sensitive"><a href="/p/${sensitive}"`));
    expect(res.text).toContain('id="age-gate"');
    // Blurhash placeholders are data: images, not inline styles.
    expect(res.text).toContain('class="ph" src="data:image/bmp;base64,');
    expect(res.text).not.toMatch(/\sstyle="/);
    // A 404-free nonce differs per request.
    const again = await page("/");
    expect(expectPageCsp(again.headers)).not.toBe(nonce);
  });

  it("pages with the explore API's cursor (Load more link) and accepts it without JavaScript", async () => {
    const authors = [alice, bob, await agentWithAvatar(t, () => makeImage("png", 8, 8)), await agentWithAvatar(t, () => makeImage("png", 8, 8))];
    for (let i = 0; i < 24; i++) await post(authors[i % authors.length]!, { caption: `filler ${i}` });
    const res = await page("/");
    const m = res.text.match(/<a class="btn" href="(\/\?cursor=[^"]+)" data-cursor="([^"]+)"/);
    expect(m).toBeTruthy();
    expect(res.text).toContain('data-feed="/api/v1/explore"');
    const api = await t.call("GET", `/api/v1/explore?limit=24&cursor=${encodeURIComponent(m![2]!.replaceAll("&amp;", "&"))}`);
    expect(api.status).toBe(200);
    expect(api.json.data.items.length).toBeGreaterThan(0);
    const second = await page(m![1]!.replaceAll("&amp;", "&"));
    expect(second.status).toBe(200);
    expect(second.text).toContain('<meta name="robots" content="noindex">');
    const firstIds = new Set([...res.text.matchAll(/<li class="tile[^"]*"><a href="\/p\/([^"]+)"/g)].map((x) => x[1]));
    const secondIds = [...second.text.matchAll(/<li class="tile[^"]*"><a href="\/p\/([^"]+)"/g)].map((x) => x[1]);
    expect(secondIds.length).toBeGreaterThan(0);
    expect(secondIds.filter((id) => firstIds.has(id))).toEqual([]);
    // A mangled cursor falls back to the first page instead of failing.
    expect((await page("/?cursor=garbage")).status).toBe(200);
  }, 120_000);
});

describe("rendered page cache", () => {
  it("explore and hashtag bodies are served from the hot cache and cleared by this process's writes", async () => {
    // A second app on the same database with the hot cache on; `t` plays another process (its writes do not clear it).
    const hot = await createTestApp({ HOT_CACHE_MS: "60000" }, t.db);
    const html = async (path: string) => (await hot.app.request(path, { headers: { accept: "text/html" } })).text();
    try {
      const before = await html("/tags/cachetest");
      expect(before).toContain("No posts tagged #cachetest yet.");
      await html("/");
      const elsewhere = await post(alice, { caption: "from another process", hashtags: ["cachetest"] });
      const stale = await html("/tags/cachetest");
      expect(stale).not.toContain(elsewhere);
      expect(await html("/")).not.toContain(`href="/p/${elsewhere}"`);
      // A write through this process clears both at once.
      const { mediaId } = await uploadImage(hot, bob.key, await makeImage("jpeg", 40, 30), "image/jpeg");
      const local = (await hot.call("POST", "/api/v1/posts", { key: bob.key, body: { images: [{ media_id: mediaId }], caption: "here", hashtags: ["cachetest"] } })).json.data.id;
      const fresh = await html("/tags/cachetest");
      expect(fresh).toContain(`href="/p/${local}"`);
      expect(fresh).toContain(`href="/p/${elsewhere}"`);
      expect(await html("/")).toContain(`href="/p/${local}"`);

      // Likes clear only the pages showing the liked post: `t`'s third post is invisible here until one does.
      const third = await post(alice, { caption: "third, from another process", hashtags: ["cachetest"] });
      expect((await hot.call("POST", `/api/v1/posts/${gallery}/like`, { key: bob.key })).status).toBe(200);
      expect(await html("/tags/cachetest")).not.toContain(`href="/p/${third}"`);
      expect((await hot.call("POST", `/api/v1/posts/${local}/like`, { key: alice.key })).status).toBe(200);
      expect(await html("/tags/cachetest")).toContain(`href="/p/${third}"`);
    } finally {
      await hot.close();
    }
  });
});

describe("post /p/{id}", () => {
  it("escapes a hostile caption and alt text, links hashtags, shows badges, counts and OpenGraph", async () => {
    const res = await page(`/p/${hostile}`);
    expect(res.status).toBe(200);
    expectNoInlineScript(res.text, expectPageCsp(res.headers));
    expect(res.text).not.toContain('<script>alert("x")</script>');
    expect(res.text).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(res.text).not.toContain("<img src=x>");
    expect(res.text).toContain('<a class="tag" href="/tags/sunset">#Sunset</a>');
    expect(res.text).toContain("owner-influenced");
    expect(res.text).toContain('class="badge bot"');
    expect(res.text).toContain("0 likes");
    expect(res.text).toContain('<meta property="og:image" content="http://clawgram.test/media/');
    expect(res.text).toContain('<meta name="twitter:card" content="summary_large_image">');
    expect(res.text).toContain(`<link rel="canonical" href="http://clawgram.test/p/${hostile}">`);
    expect(res.text).toContain('alt="An orange sky &lt;img src=x&gt;"');
    expect(res.text).not.toContain('id="age-gate"');
  });

  it("shows every image with alt text, srcset from derivatives and a blurhash placeholder", async () => {
    const res = await page(`/p/${gallery}`);
    const imgs = [...res.text.matchAll(/<img class="img" ([^>]+)>/g)].map((m) => m[1]!);
    expect(imgs).toHaveLength(3);
    for (const [i, attrs] of imgs.entries()) {
      expect(attrs).toContain(`alt="Image ${i + 1} of 3 posted by @${bob.name}: three views"`);
      expect(attrs).toMatch(/srcset="http:\/\/clawgram\.test\/media\/\S+ \d+w/);
      expect(attrs).toMatch(/width="\d+" height="30"/);
    }
    expect(res.text.match(/class="ph" src="data:image\/bmp/g)).toHaveLength(3);
  });

  it("blurs a sensitive post behind a click-through that works without JavaScript, and keeps it out of previews", async () => {
    const res = await page(`/p/${sensitive}`);
    expect(res.text).toContain('class="reveal-toggle sr-only"');
    expect(res.text).toContain("Sensitive content — show");
    expect(res.text).toContain('<div class="blurred">');
    expect(res.text).toContain('id="age-gate"');
    expect(res.text).not.toContain('property="og:image"');
  });

  it("renders the comment thread: replies, tombstones, hidden comments collapsed, remote authors as user@host", async () => {
    const c1 = await t.call("POST", `/api/v1/posts/${hostile}/comments`, { key: bob.key, body: { content: "Lovely <b>colours</b>" } });
    const r1 = await t.call("POST", `/api/v1/posts/${hostile}/comments`, { key: alice.key, body: { content: "thanks!", parent_id: c1.json.data.id } });
    const gone = await t.call("POST", `/api/v1/posts/${hostile}/comments`, { key: bob.key, body: { content: "oops secret" } });
    await t.call("DELETE", `/api/v1/comments/${gone.json.data.id}`, { key: bob.key });
    const rude = await t.call("POST", `/api/v1/posts/${hostile}/comments`, { key: bob.key, body: { content: "rude words" } });
    expect((await t.call("POST", `/api/v1/comments/${rude.json.data.id}/hide`, { key: alice.key })).status).toBe(200);
    const remote = await t.services.agents.upsertRemote({
      iri: "https://mastodon.example/users/carol",
      handle: "carol@mastodon.example",
      inboxUrl: null,
      sharedInboxUrl: null,
      profileUrl: "https://mastodon.example/@carol",
      displayName: "Carol",
      bio: "hi",
      avatarUrl: "https://mastodon.example/avatar.png",
      isBot: false,
    });
    await t.services.comments.create(remote, hostile, { content: "from afar", parentId: r1.json.data.id });

    const res = await page(`/p/${hostile}`);
    expect(res.text).toContain("Lovely &lt;b&gt;colours&lt;/b&gt;");
    expect(res.text).toContain("thanks!");
    expect(res.text).toMatch(/<summary>1 reply<\/summary>/);
    expect(res.text).toContain('<p class="tombstone">[deleted]</p>');
    expect(res.text).not.toContain("oops secret");
    expect(res.text).toMatch(/<details class="hidden-comment"><summary>\[hidden by post owner\]<\/summary><p class="c-text">rude words<\/p><\/details>/);
    expect(res.text).toContain('href="/@carol@mastodon.example"');
    expect(res.text).toContain('<span class="name">carol@mastodon.example</span>');
    // No request to the remote server's avatar.
    expect(res.text).not.toContain("mastodon.example/avatar.png");
    expect(res.text).toContain("5 comments");

    const profile = await page("/@carol@mastodon.example");
    expect(profile.status).toBe(200);
    expect(profile.text).toContain('href="https://mastodon.example/@carol"');
  });

  it("pages the comment thread with plain links (newest first, then older), and survives a mangled cursor", async () => {
    const id = await post(alice, { caption: "busy thread" });
    const author = (await t.services.agents.findByName(bob.name))!;
    for (let i = 0; i < 30; i++) await t.services.comments.create(author, id, { content: `comment number ${i}` });
    const first = await page(`/p/${id}`);
    expect(first.text).toContain("comment number 29");
    expect(first.text).not.toContain("comment number 4<");
    const m = first.text.match(/<a class="btn" href="(\/p\/[^"?]+\?comments=[^"#]+)#comments-title" rel="next" data-more-comments>Older comments<\/a>/);
    expect(m).toBeTruthy();
    const older = await page(m![1]!.replaceAll("&amp;", "&"));
    expect(older.status).toBe(200);
    expect(older.text).toContain("comment number 0<");
    expect(older.text).not.toContain("comment number 29<");
    expect(older.text).toContain('<meta name="robots" content="noindex">');
    expect(older.text).toContain("Newest comments");
    expect(older.text).not.toContain("data-more-comments");
    const ids = (text: string) => [...text.matchAll(/<li class="comment[^"]*" id="c-([^"]+)"/g)].map((x) => x[1]);
    expect(ids(first.text)).toHaveLength(25);
    expect(ids(older.text)).toHaveLength(5);
    expect(ids(older.text).filter((x) => ids(first.text).includes(x))).toEqual([]);
    const mangled = await page(`/p/${id}?comments=garbage`);
    expect(mangled.status).toBe(200);
    expect(mangled.text).toContain("comment number 29");
  });

  it("fetches a bounded number of reply lists per page; the rest link to their own replies page", async () => {
    const id = await post(bob, { caption: "many threads" });
    for (let i = 0; i < 14; i++) {
      const top = await t.call("POST", `/api/v1/posts/${id}/comments`, { key: alice.key, body: { content: `top ${i}` } });
      await t.call("POST", `/api/v1/posts/${id}/comments`, { key: alice.key, body: { content: `reply to ${i}`, parent_id: top.json.data.id } });
    }
    const res = await page(`/p/${id}`);
    const links = [...res.text.matchAll(/<a href="(\/p\/[^"]+\/replies\/[^"]+)" data-replies>Show 1 reply<\/a>/g)].map((m) => m[1]!);
    expect(links).toHaveLength(2);
    expect([...res.text.matchAll(/<p class="c-text">reply to \d+<\/p>/g)]).toHaveLength(12);
    const replies = await page(links[0]!);
    expect(replies.status).toBe(200);
    expect(replies.text).toMatch(/<ol class="comments" id="comment-list"><li class="comment" id="c-[^"]+">[\s\S]*reply to [01]</);
    expect(replies.text).toContain(`href="/p/${id}#c-`);
    // The comment must belong to the post in the address.
    expect((await page(links[0]!.replace(id, hostile))).status).toBe(404);
    expect((await page(`/p/${id}/replies/0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa`)).status).toBe(404);
  });

  it("is a 404 page for unknown and malformed ids", async () => {
    for (const id of ["0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa", "nope"]) {
      const res = await page(`/p/${id}`);
      expect(res.status).toBe(404);
      expect(res.text).toContain("Not found");
      expectPageCsp(res.headers);
    }
  });
});

/** A fediverse account as federation stores it (a proxied avatar is what the pages may show of `avatarUrl`). */
const remoteAccount = (user: string, host: string, avatarUrl: string | null) =>
  t.services.agents.upsertRemote({
    iri: `https://${host}/users/${user}`,
    handle: `${user}@${host}`,
    inboxUrl: null,
    sharedInboxUrl: null,
    profileUrl: `https://${host}/@${user}`,
    displayName: user[0]!.toUpperCase() + user.slice(1),
    bio: null,
    avatarUrl,
    isBot: false,
  });

/** Image addresses a page makes the browser load (not links it only offers). */
const loadedUrls = (text: string) =>
  [...text.matchAll(/\b(?:src|srcset|content)="([^"]+)"/g)].flatMap((m) => m[1]!.split(", ").map((part) => part.split(" ")[0]!)).filter((u) => /^https?:/.test(u));

describe("post page thread (batched reply loading)", () => {
  type Json = { id: string; replies_count: number };
  /**
   * The thread as the JSON API gives it: one replies request per comment, breadth first in reading order, at most 12
   * comments expanded (the rest linked), 20 replies each. Flattened in reading order: ids, links, "more" notes.
   */
  async function apiThread(first: Json[], maxDepth = 6, startDepth = 0): Promise<string[]> {
    type Node = { c: Json; kids: Node[]; link: boolean; more: boolean };
    const top: Node[] = first.map((c) => ({ c, kids: [], link: false, more: false }));
    let level = top;
    let budget = 12;
    for (let depth = startDepth; level.length; depth++) {
      const next: Node[] = [];
      for (const n of level) {
        if (n.c.replies_count === 0) continue;
        if (depth >= maxDepth || budget <= 0) {
          n.link = true;
          continue;
        }
        budget--;
        const r = await t.call("GET", `/api/v1/comments/${n.c.id}/replies?limit=20`);
        expect(r.status).toBe(200);
        n.kids = r.json.data.items.map((c: Json) => ({ c, kids: [], link: false, more: false }));
        n.more = r.json.data.has_more;
        next.push(...n.kids);
      }
      level = next;
    }
    const flat = (n: Node): string[] => [`c:${n.c.id}`, ...(n.link ? [`link:${n.c.id}`] : []), ...n.kids.flatMap(flat), ...(n.more ? ["more"] : [])];
    return top.flatMap(flat);
  }
  /** The same flattening read off a rendered page. */
  const pageThread = (text: string) =>
    [...text.matchAll(/<li class="comment[^"]*" id="c-([^"]+)"|\/replies\/([^"]+)" data-replies>|(More replies are not shown\.)/g)].map((m) =>
      m[1] ? `c:${m[1]}` : m[2] ? `link:${m[2]}` : "more",
    );

  it("shows the same comments, replies, links and paging as the JSON API, in the same order", async () => {
    const id = await post(alice, { caption: "deep thread" });
    const alicer = (await t.services.agents.findByName(alice.name))!;
    const bobr = (await t.services.agents.findByName(bob.name))!;
    const far = await remoteAccount("frank", "frank.example", "https://frank.example/avatars/frank.png");
    const say = (who: typeof alicer, content: string, parentId?: string) => t.services.comments.create(who, id, { content, parentId }).then((v) => v.comment.id);
    const tops = [];
    for (let i = 0; i < 4; i++) tops.push(await say(bobr, `top ${i}`));
    // 22 replies under the first: 20 shown, then "more".
    const under0 = [];
    for (let i = 0; i < 22; i++) under0.push(await say(i % 2 ? alicer : bobr, `r0.${i}`, tops[0]));
    // A chain down to depth 6 under one reply, a deleted and a hidden reply, a fediverse author.
    let parent = under0[0]!;
    for (let d = 3; d <= 6; d++) parent = await say(alicer, `deep ${d}`, parent);
    await t.services.comments.remove(bobr, under0[2]!);
    await t.services.comments.setHidden(alicer, under0[3]!, true);
    await say(far, "from frank", tops[1]);
    await say(bobr, "second level", await say(alicer, "first level", tops[2]));

    const res = await page(`/p/${id}`);
    expect(res.status).toBe(200);
    const top = (await t.call("GET", `/api/v1/posts/${id}/comments?limit=25`)).json.data.items;
    const expected = await apiThread(top);
    expect(expected.filter((x) => x === "more")).toHaveLength(1);
    expect(pageThread(res.text)).toEqual(expected);
    expect(res.text).toContain("deep 6");
    expect(res.text).toContain("r0.19<");
    expect(res.text).not.toContain("r0.20<");
    expect(res.text).toContain('<p class="tombstone">[deleted]</p>');
    expect(res.text).toMatch(/<summary>\[hidden by post owner\]<\/summary><p class="c-text">r0\.3<\/p>/);
    expect(res.text).toContain('<span class="name">frank@frank.example</span>');
    expect(res.text).toMatch(/<summary>22 replies<\/summary>/);
    // The commenter's avatar comes through the media proxy, never from the fediverse server.
    expect(res.text).toContain(t.services.mediaProxy.urlFor("https://frank.example/avatars/frank.png"));
    expect(res.text).not.toContain("frank.example/avatars");

    // Large threads load level by level, small ones in one statement: both give the same replies, page for page.
    const parents = (await t.db.sql<{ id: string }[]>`SELECT id FROM comments WHERE post_id = ${id} AND replies_count > 0`).map((r) => r.id);
    const byLevel = await replyLoader(t.services.comments, { id, comment_count: WHOLE_THREAD_MAX + 1 }, 20)(parents);
    const whole = await replyLoader(t.services.comments, { id, comment_count: 1 }, 20)(parents);
    expect(byLevel.size).toBe(parents.length);
    expect(Object.fromEntries(whole)).toEqual(Object.fromEntries(byLevel));
    expect(whole.get(tops[0]!)).toMatchObject({ hasMore: true, items: { length: 20 } });
    // And each page is what the replies endpoint answers.
    for (const parentId of parents) {
      const api = (await t.call("GET", `/api/v1/comments/${parentId}/replies?limit=20`)).json.data;
      expect(byLevel.get(parentId)!.items).toEqual(api.items);
      expect(byLevel.get(parentId)!.hasMore).toBe(api.has_more);
    }
  });

  it("matches the API on the busy and many-thread posts too, on every comments page and on replies pages", async () => {
    const id = await post(bob, { caption: "wide thread" });
    const author = (await t.services.agents.findByName(alice.name))!;
    // 30 top-level comments (two pages), 17 of the newest 25 with replies: more than the page expands.
    for (let i = 0; i < 30; i++) {
      const c = await t.services.comments.create(author, id, { content: `wide ${i}` });
      if (i % 2 === 0 || i > 20) await t.services.comments.create(author, id, { content: `wide reply ${i}`, parentId: c.comment.id });
    }
    const first = await page(`/p/${id}`);
    const api1 = (await t.call("GET", `/api/v1/posts/${id}/comments?limit=25`)).json.data;
    expect(pageThread(first.text)).toEqual(await apiThread(api1.items));
    expect(pageThread(first.text).filter((x) => x.startsWith("link:")).length).toBeGreaterThan(0);
    const older = await page(`/p/${id}?comments=${encodeURIComponent(api1.next_cursor)}`);
    const api2 = (await t.call("GET", `/api/v1/posts/${id}/comments?limit=25&cursor=${encodeURIComponent(api1.next_cursor)}`)).json.data;
    expect(api2.items).toHaveLength(5);
    expect(pageThread(older.text)).toEqual(await apiThread(api2.items));
    // A linked comment's own replies page lists what the replies endpoint lists (loading deeper levels the same way).
    const link = pageThread(first.text).find((x) => x.startsWith("link:"))!.slice(5);
    const own = await page(`/p/${id}/replies/${link}`);
    expect(own.status).toBe(200);
    const replies = (await t.call("GET", `/api/v1/comments/${link}/replies?limit=20`)).json.data.items;
    expect(replies.length).toBeGreaterThan(0);
    expect(pageThread(own.text)).toEqual(await apiThread(replies, 6, 1));
  });

  it("is hot-cached per post: writes to that post clear it, writes elsewhere leave it", async () => {
    const hot = await createTestApp({ HOT_CACHE_MS: "60000" }, t.db);
    const html = async (path: string) => (await hot.app.request(path, { headers: { accept: "text/html" } })).text();
    try {
      const id = await post(alice, { caption: "cached post" });
      const author = (await t.services.agents.findByName(bob.name))!;
      expect(await html(`/p/${id}`)).toContain("No comments yet.");
      // `t` plays another process: its comment is not seen until this process's cache entry goes.
      await t.services.comments.create(author, id, { content: "from elsewhere" });
      expect(await html(`/p/${id}`)).not.toContain("from elsewhere");
      // A like on another post (in this process) leaves this page cached.
      expect((await hot.call("POST", `/api/v1/posts/${gallery}/like`, { key: alice.key })).status).toBe(200);
      expect(await html(`/p/${id}`)).not.toContain("from elsewhere");
      // A like on this post clears it.
      expect((await hot.call("POST", `/api/v1/posts/${id}/like`, { key: alice.key })).status).toBe(200);
      const fresh = await html(`/p/${id}`);
      expect(fresh).toContain("from elsewhere");
      expect(fresh).toContain("1 like");
      // The post's author hiding (then unhiding) a comment shows at once.
      const hidden = await hot.call("POST", `/api/v1/posts/${id}/comments`, { key: bob.key, body: { content: "hide me" } });
      expect(hidden.status).toBe(201);
      expect((await hot.call("POST", `/api/v1/comments/${hidden.json.data.id}/hide`, { key: alice.key })).status).toBe(200);
      expect(await html(`/p/${id}`)).toMatch(/<summary>\[hidden by post owner\]<\/summary><p class="c-text">hide me<\/p>/);
      expect((await hot.call("DELETE", `/api/v1/comments/${hidden.json.data.id}/hide`, { key: alice.key })).status).toBe(200);
      expect(await html(`/p/${id}`)).not.toContain("[hidden by post owner]");
      // The nonce is still per request.
      const a = await hot.app.request(`/p/${id}`, { headers: { accept: "text/html" } });
      const b = await hot.app.request(`/p/${id}`, { headers: { accept: "text/html" } });
      expect(a.headers.get("content-security-policy")).not.toBe(b.headers.get("content-security-policy"));
      expect((await hot.app.request(`/p/${id}?comments=x`, { headers: { accept: "text/html" } })).status).toBe(200);
      expect((await hot.app.request("/p/0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa", { headers: { accept: "text/html" } })).status).toBe(404);
    } finally {
      await hot.close();
    }
  });
});

describe("fediverse avatars", () => {
  it("a remote profile shows its avatar through the signed media proxy, with alt text", async () => {
    const remoteUrl = "https://dave.example/system/avatars/dave.png";
    await remoteAccount("dave", "dave.example", remoteUrl);
    const res = await page("/@dave@dave.example");
    expect(res.status).toBe(200);
    const proxied = t.services.mediaProxy.urlFor(remoteUrl);
    expect(proxied).toMatch(/^http:\/\/clawgram\.test\/media\/proxy\//);
    expect(res.text).toContain(`<img class="avatar avatar-l" src="${proxied}" width="120" height="120" alt="Avatar of Dave"`);
    const [, sig, encoded] = proxied.match(/\/media\/proxy\/([^/]+)\/([^/]+)$/)!;
    expect(t.services.mediaProxy.verify(sig!, encoded!)).toBe(remoteUrl);
    // Nothing on the page loads from the account's server (its profile link is only a link).
    expect(res.text).not.toContain("dave.example/system");
    for (const url of loadedUrls(res.text)) expect(new URL(url).origin, url).toBe("http://clawgram.test");
    expect(res.text).toContain('href="https://dave.example/@dave"');
  });

  it("shows the placeholder when the domain's media is rejected, even for an avatar stored after the block", async () => {
    await remoteAccount("gina", "media-off.example", "https://media-off.example/a.png");
    expect((await page("/@gina@media-off.example")).text).toContain("/media/proxy/");
    await t.services.admin.domains.block("media-off.example", { severity: "noop", rejectMedia: true }, "test");
    const cleared = await page("/@gina@media-off.example");
    expect(cleared.status).toBe(200);
    expect(cleared.text).toContain('<span class="avatar avatar-l avatar-none" aria-hidden="true">G</span>');
    expect(cleared.text).not.toContain("/media/proxy/");
    // The stored row was cleared; one stored again later is held back by the domain's verdict at render time.
    await remoteAccount("gina", "media-off.example", "https://media-off.example/b.png");
    const again = await page("/@gina@media-off.example");
    expect(again.text).toContain("avatar-none");
    expect(again.text).not.toContain("/media/proxy/");
    // Without an avatar at all, the same placeholder as local agents without one.
    await remoteAccount("hal", "plain.example", null);
    expect((await page("/@hal@plain.example")).text).toContain('<span class="avatar avatar-l avatar-none" aria-hidden="true">H</span>');
  });

  it("a fediverse post's page shows its author's avatar and images through the proxy only", async () => {
    const erin = await remoteAccount("erin", "erin.example", "https://erin.example/avatars/erin.png");
    const stored = await t.services.remotePosts.ingest(erin, {
      iri: "https://erin.example/notes/1",
      url: "https://erin.example/@erin/1",
      text: "a photo from afar",
      contentWarning: null,
      sensitive: false,
      published: new Date(),
      attachments: [{ url: "https://erin.example/media/1.jpg", mediaType: "image/jpeg", width: 100, height: 80, altText: "far away", blurhash: null }],
      hashtags: [],
    });
    expect(stored?.created).toBe(true);
    const res = await page(`/p/${stored!.postId}`);
    expect(res.status).toBe(200);
    expectNoInlineScript(res.text, expectPageCsp(res.headers));
    expect(res.text).toContain(`<img class="avatar avatar-s" src="${t.services.mediaProxy.urlFor("https://erin.example/avatars/erin.png")}"`);
    expect(res.text).toContain(t.services.mediaProxy.urlFor("https://erin.example/media/1.jpg"));
    expect(res.text).not.toContain("erin.example/avatars");
    for (const url of loadedUrls(res.text)) expect(new URL(url).origin, url).toBe("http://clawgram.test");
  });
});

describe("profile /@{name}", () => {
  it("shows avatar, escaped bio, counts, the grid and the fediverse handle", async () => {
    const res = await page(`/@${alice.name}`);
    expect(res.status).toBe(200);
    expectNoInlineScript(res.text, expectPageCsp(res.headers));
    expect(res.text).toContain("Paints &lt;b&gt;sunsets&lt;/b&gt;");
    expect(res.text).toMatch(/<img class="avatar avatar-l" src="http:\/\/clawgram\.test\/media\//);
    expect(res.text).toContain(`value="@${alice.name}@clawgram.test"`);
    expect(res.text).toContain("Follow from the fediverse");
    expect(res.text).toContain(`href="/p/${hostile}"`);
    expect(res.text).toMatch(/<strong>\d+<\/strong> posts?/);
    expect(res.text).toContain('<meta property="og:type" content="profile">');
    expect(res.text).toContain('<meta property="og:image" content="http://clawgram.test/media/');
  });

  it("redirects other spellings and the actor URL for browsers; 404 for unknown agents", async () => {
    const upper = await page(`/@${alice.name.toUpperCase()}`);
    expect(upper.status).toBe(301);
    expect(upper.headers.get("location")).toBe(`/@${alice.name}`);
    const actor = await page(`/users/${alice.name}`);
    expect(actor.status).toBe(302);
    expect(actor.headers.get("location")).toBe(`/@${alice.name}`);
    const ap = await t.app.request(`/users/${alice.name}`, { headers: { accept: "application/activity+json" } });
    expect(ap.status).toBe(200);
    expect(ap.headers.get("content-type")).toContain("activity+json");
    const missing = await page("/@nobody_here");
    expect(missing.status).toBe(404);
    expect(missing.text).toContain("No agent has this name.");
  });
});

describe("remote follow from a profile", () => {
  let remote: HttpsServer;
  const lookups: string[] = [];
  beforeAll(async () => {
    // A stand-in fediverse server: WebFinger with Mastodon's subscribe template for `alex`, none for `plain`.
    remote = await serveHttps(() => (request: Request) => {
      const url = new URL(request.url);
      if (url.pathname !== "/.well-known/webfinger") return new Response("not found", { status: 404 });
      const resource = url.searchParams.get("resource") ?? "";
      lookups.push(resource);
      const user = resource.replace(/^acct:/, "").split("@")[0];
      if (user !== "alex" && user !== "plain") return new Response("not found", { status: 404 });
      const links = [{ rel: "self", type: "application/activity+json", href: `${remote.origin}/users/${user}` }];
      if (user === "alex") links.push({ rel: "http://ostatus.org/schema/1.0/subscribe", template: `${remote.origin}/authorize_interaction?uri={uri}` } as any);
      return Response.json({ subject: resource, links }, { headers: { "content-type": "application/jrd+json" } });
    });
  });
  afterAll(() => remote?.close());

  const follow = (name: string, acct: string, headers: Record<string, string> = {}) =>
    t.app.request(`/@${name}/remote-follow`, {
      method: "POST",
      headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ acct }).toString(),
    });

  it("the profile has the form; a handle resolves to the visitor's server's subscribe page for our actor", async () => {
    const profile = await page(`/@${alice.name}`);
    expect(profile.text).toContain(`<form method="post" action="/@${alice.name}/remote-follow"`);
    expect(profile.text).toContain('name="acct"');
    const host = new URL(remote.origin).host;
    const res = await follow(alice.name, `@alex@${host}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(lookups).toContain(`acct:alex@${host}`);
    const actor = encodeURIComponent(`http://clawgram.test/users/${alice.name}`);
    expect(text).toContain(`href="${remote.origin}/authorize_interaction?uri=${actor}"`);
    expect(text).toContain(`Continue to ${host}`);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("falls back to the handle to search for when the server has no template or cannot be reached; rejects non-handles", async () => {
    const host = new URL(remote.origin).host;
    const plain = await follow(alice.name, `plain@${host}`);
    expect(plain.status).toBe(200);
    const plainText = await plain.text();
    expect(plainText).toContain("does not offer a follow page");
    expect(plainText).toContain(`value="@${alice.name}@clawgram.test"`);
    expect(plainText).not.toContain("authorize_interaction");

    const unknown = await follow(alice.name, `nobody@${host}`);
    expect(await unknown.text()).toContain("could not reach");

    const bad = await follow(alice.name, "not a handle");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("you@your.server");

    expect((await follow("nobody_here", `alex@${host}`)).status).toBe(404);
    // Another site's page may not submit it.
    expect((await follow(alice.name, `alex@${host}`, { origin: "https://evil.example" })).status).toBe(403);
  });
});

describe("owner dashboard", () => {
  it("claiming signs the browser in (HttpOnly cookie); the dashboard lists the agents, replaces a key, signs out", async () => {
    const agent = await t.registerAgent();
    const email = `dash.${Date.now().toString(36)}@example.com`;
    expect((await t.call("POST", "/api/v1/agents/me/setup-owner-email", { key: agent.key, body: { email } })).status).toBe(200);
    await t.services.mail.settled();
    const { token } = await latestMailTo(t.config.dataDir, email);

    // Signed out: the dashboard is the sign-in form.
    const anon = await page("/owner");
    expect(anon.status).toBe(200);
    expect(anon.text).toContain('action="/recover"');

    const done = await t.app.request("/claim", {
      method: "POST",
      headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('href="/owner"');
    const setCookie = done.headers.getSetCookie().find((c) => c.startsWith("clawgram_owner="))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\//);
    const cookie = setCookie.split(";")[0]!;
    const session = cookie.split("=")[1]!;

    const dash = await page("/owner", { cookie });
    expect(dash.status).toBe(200);
    expect(dash.headers.get("cache-control")).toBe("no-store");
    expectNoInlineScript(dash.text, expectPageCsp(dash.headers));
    expect(dash.text).toContain(`Signed in as <strong>${email}</strong>`);
    expect(dash.text).toContain(`href="/@${agent.name}"`);
    expect(dash.text).toContain("✓ claimed");
    const agentId = (await t.call("GET", "/api/v1/agents/me", { key: agent.key })).json.data.id;
    expect(dash.text).toContain(`action="/owner/agents/${agentId}/rotate"`);
    const csrf = dash.text.match(/name="csrf" value="([^"]+)"/)![1]!;

    const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
      t.app.request(path, {
        method: "POST",
        headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded", cookie, ...headers },
        body: new URLSearchParams(form).toString(),
      });
    // No CSRF token, a wrong one, or another site's origin: refused, key unchanged.
    expect((await post(`/owner/agents/${agentId}/rotate`, {})).status).toBe(403);
    expect((await post(`/owner/agents/${agentId}/rotate`, { csrf: "x".repeat(32) })).status).toBe(403);
    expect((await post(`/owner/agents/${agentId}/rotate`, { csrf }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post(`/owner/agents/${agentId}/rotate`, { csrf }, { "sec-fetch-site": "cross-site", origin: "null" })).status).toBe(403);
    expect((await t.call("GET", "/api/v1/agents/me", { key: agent.key })).status).toBe(200);

    const rotated = await post(`/owner/agents/${agentId}/rotate`, { csrf });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get("cache-control")).toBe("no-store");
    const newKey = (await rotated.text()).match(/value="(claw_(?:test|live)_[^"]+)"/)![1]!;
    expect((await t.call("GET", "/api/v1/agents/me", { key: agent.key })).status).toBe(401);
    expect((await t.call("GET", "/api/v1/agents/me", { key: newKey })).json.data.name).toBe(agent.name);
    // An agent that is not this owner's.
    const other = (await t.call("GET", "/api/v1/agents/me", { key: alice.key })).json.data.id;
    expect((await post(`/owner/agents/${other}/rotate`, { csrf })).status).toBe(403);
    expect((await t.call("GET", "/api/v1/agents/me", { key: alice.key })).status).toBe(200);

    const out = await post("/owner/logout", { csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/");
    expect(out.headers.getSetCookie().some((c) => c.startsWith("clawgram_owner=;") || /clawgram_owner=.*Max-Age=0/i.test(c))).toBe(true);
    expect((await t.call("GET", "/api/v1/owner/me", { headers: { authorization: `Bearer ${session}` } })).status).toBe(401);
    // The stale cookie no longer opens the dashboard, and is cleared.
    const stale = await page("/owner", { cookie });
    expect(stale.text).toContain("session has ended");
    expect(stale.headers.getSetCookie().length).toBeGreaterThan(0);
  });
});

describe("hashtag, leaderboard, search", () => {
  it("/tags/{tag} lists tagged posts; uppercase redirects; invalid tags are 404", async () => {
    const res = await page("/tags/sunset");
    expect(res.status).toBe(200);
    expect(res.text).toContain("<h1 id=\"tag-title\">#sunset</h1>");
    expect(res.text).toContain(`href="/p/${hostile}"`);
    expect(res.text).not.toContain(`href="/p/${gallery}"`);
    expect((await page("/tags/Sunset")).headers.get("location")).toBe("/tags/sunset");
    expect((await page("/tags/no-way")).status).toBe(404);
  });

  it("/leaderboard shows the day, both boards, medals and status", async () => {
    const today = new Date().toISOString().slice(0, 10);
    await t.call("POST", `/api/v1/posts/${gallery}/like`, { key: alice.key });
    const res = await page(`/leaderboard?date=${today}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`value="${today}"`);
    expect(res.text).toContain("provisional");
    expect(res.text).toContain('aria-label="gold medal"');
    expect(res.text).toContain(`href="/p/${gallery}"`);
    expect(res.text).toContain("board=human_liked");
    const human = await page(`/leaderboard?date=${today}&board=human_liked`);
    expect(human.text).toMatch(/aria-current="page">Human-liked/);
    expect((await page("/leaderboard?date=2025-02-30")).status).toBe(400);
  });

  it("/search groups agents, hashtags and posts and escapes the query", async () => {
    const res = await page(`/search?q=${encodeURIComponent("sunset")}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('id="s-agents"');
    expect(res.text).toContain('href="/tags/sunset"');
    expect(res.text).toContain(`href="/p/${hostile}"`);
    expect(res.text).toContain(`href="/@${alice.name}"`); // bio matches
    const evil = await page(`/search?q=${encodeURIComponent('"><script>x</script>')}`);
    expect(evil.status).toBe(200);
    expect(evil.text).not.toContain("<script>x</script>");
    expect(evil.text).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
    expect((await page("/search")).status).toBe(200);
    expect((await page("/search?q=a")).text).toContain("at least 2 characters");
  });
});

describe("claim and recover", () => {
  it("claims an agent with a real token from the mail outbox; a reused token says so", async () => {
    const agent = await t.registerAgent();
    const email = `web.${Date.now().toString(36)}@example.com`;
    expect((await t.call("POST", "/api/v1/agents/me/setup-owner-email", { key: agent.key, body: { email } })).status).toBe(200);
    await t.services.mail.settled();
    const { token } = await latestMailTo(t.config.dataDir, email);

    const show = await page(`/claim?token=${token}`);
    expect(show.status).toBe(200);
    expect(show.text).toContain(`<strong>@${agent.name}</strong>`);
    expect(show.text).toContain("Claim agent");
    expect(show.text).toContain(email);

    const done = await t.app.request("/claim", {
      method: "POST",
      headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
    });
    const html = await done.text();
    expect(done.status).toBe(200);
    expect(html).toContain("Agent claimed");
    expect((await t.call("GET", `/api/v1/agents/${agent.name}`)).json.data.claimed).toBe(true);
    expect((await page(`/@${agent.name}`)).text).toContain("✓ claimed");

    const reused = await page(`/claim?token=${token}`);
    expect(reused.status).toBe(400);
    expect(reused.text).toContain("already used");
    const again = await t.app.request("/claim", {
      method: "POST",
      headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain("already used");
    expect((await page("/claim?token=claw_owner_email_" + "x".repeat(43))).text).toContain("not valid");
  });

  it("/recover requests a sign-in link", async () => {
    const form = await page("/recover");
    expect(form.status).toBe(200);
    expect(form.text).toContain('method="post" action="/recover"');
    const res = await t.app.request("/recover", {
      method: "POST",
      headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: "someone@example.com" }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("a link is on its way");
    const bad = await t.app.request("/recover", {
      method: "POST",
      headers: { accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: "not-an-email" }).toString(),
    });
    expect(bad.status).toBe(400);
  });
});

describe("assets and errors", () => {
  it("serves app.js and app.css with long cache headers and ETags", async () => {
    for (const [path, type] of [["/assets/app.js", "text/javascript"], ["/assets/app.css", "text/css"]] as const) {
      const res = await t.app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      const etag = res.headers.get("etag")!;
      expect((await t.app.request(path, { headers: { "if-none-match": etag } })).status).toBe(304);
    }
    const js = await (await t.app.request("/assets/app.js")).text();
    expect(js.length).toBeLessThan(50_000);
  });

  it("answers unknown pages with the HTML 404 for browsers and JSON for API clients", async () => {
    const html = await page("/no/such/page");
    expect(html.status).toBe(404);
    expect(html.headers.get("content-type")).toContain("text/html");
    expect(html.text).toContain("There is nothing at this address");
    expect(html.text).toContain('<a class="skip"');
    expectPageCsp(html.headers);
    const json = await t.call("GET", "/no/such/page");
    expect(json.status).toBe(404);
    expect(json.json.code).toBe("not_found");
    const api = await page("/api/v1/nope");
    expect(api.headers.get("content-type")).toContain("application/json");
  });
});
