import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../src/db/ids.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";

/** A loopback "remote server": images, a page that is not an image, an oversized image, redirects. */
async function startImageServer(png: Buffer) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    switch (req.url) {
      case "/cat.png":
        res.writeHead(200, { "content-type": "image/png", "set-cookie": "tracker=1" });
        return res.end(png);
      case "/page.html":
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end("<script>alert(1)</script>");
      case "/huge.png":
        // No Content-Length: the cap must hold while the body streams.
        res.writeHead(200, { "content-type": "image/png" });
        for (let i = 0; i < 11; i++) res.write(Buffer.alloc(1024 * 1024));
        return res.end();
      case "/to-cat":
        res.writeHead(302, { location: "/cat.png" });
        return res.end();
      case "/to-metadata":
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
        return res.end();
      case "/missing.png":
        res.writeHead(404, { "content-type": "text/plain" });
        return res.end("nope");
      default:
        res.writeHead(500);
        return res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let t: TestApp;
/** Same database, but without ALLOW_PRIVATE_ADDRESS: loopback is off limits. */
let strict: TestApp;
let images: Awaited<ReturnType<typeof startImageServer>>;
let png: Buffer;

beforeAll(async () => {
  png = await makeImage("png", 40, 30);
  images = await startImageServer(png);
  t = await createTestApp({ ALLOW_PRIVATE_ADDRESS: "true" });
  strict = await createTestApp({}, t.db);
});

afterAll(async () => {
  await images?.close();
  await strict?.close();
  await t?.close();
});

/** The path of a proxied URL (the app answers in process, so the origin is dropped). */
const pathOf = (url: string) => new URL(url).pathname;

describe("media proxy route", () => {
  it("streams a signed image with its type and safe caching headers, and no cookies", async () => {
    const url = t.services.mediaProxy.urlFor(`${images.base}/cat.png`);
    expect(url.startsWith(`${t.config.publicUrl.origin}/media/proxy/`)).toBe(true);
    const res = await t.app.request(pathOf(url));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("cache-control")).toBe("public, max-age=86400, immutable");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
  });

  it("follows a redirect to another allowed image", async () => {
    const res = await t.app.request(pathOf(t.services.mediaProxy.urlFor(`${images.base}/to-cat`)));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
  });

  it("answers 404 not_found for a tampered signature or URL, without fetching", async () => {
    const before = images.hits.length;
    const [, , , sig, encoded] = pathOf(t.services.mediaProxy.urlFor(`${images.base}/cat.png`)).split("/");
    const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
    const other = Buffer.from(`${images.base}/page.html`).toString("base64url");
    for (const path of [
      `/media/proxy/${flip(sig!)}/${encoded}`,
      `/media/proxy/${sig}/${other}`,
      `/media/proxy/${sig}/${encoded!.slice(0, -2)}`,
      `/media/proxy/${sig}/${encoded}=`,
      `/media/proxy/not-a-signature/${encoded}`,
    ]) {
      const res = await t.app.request(path);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { success: boolean; code: string };
      expect(body).toMatchObject({ success: false, code: "not_found" });
    }
    expect(images.hits.length).toBe(before);
  });

  it("refuses a response that is not an image with 502, streaming nothing of it", async () => {
    const res = await t.app.request(pathOf(t.services.mediaProxy.urlFor(`${images.base}/page.html`)));
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    const text = await res.text();
    expect(text).not.toContain("<script>");
    expect(JSON.parse(text)).toMatchObject({ success: false, code: "upstream_not_image" });
  });

  it("refuses a body over 10 MiB", async () => {
    const res = await t.app.request(pathOf(t.services.mediaProxy.urlFor(`${images.base}/huge.png`)));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ success: false, code: "upstream_too_large" });
  });

  it("answers 502 upstream_unavailable when the remote server fails", async () => {
    const res = await t.app.request(pathOf(t.services.mediaProxy.urlFor(`${images.base}/missing.png`)));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ success: false, code: "upstream_unavailable" });
  });

  it("re-checks every redirect hop: a redirect to a link-local address is refused", async () => {
    const before = images.hits.length;
    const res = await t.app.request(pathOf(t.services.mediaProxy.urlFor(`${images.base}/to-metadata`)));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ success: false, code: "upstream_unavailable" });
    expect(images.hits.slice(before)).toEqual(["/to-metadata"]);
  });

  it("without ALLOW_PRIVATE_ADDRESS, private addresses are never contacted", async () => {
    const before = images.hits.length;
    for (const target of [`${images.base}/cat.png`, `${images.base.replace("127.0.0.1", "localhost")}/cat.png`, "http://10.1.2.3/x.png"]) {
      const res = await strict.app.request(pathOf(strict.services.mediaProxy.urlFor(target)));
      expect(res.status, target).toBe(502);
      expect(await res.json()).toMatchObject({ success: false, code: "upstream_unavailable" });
    }
    expect(images.hits.length).toBe(before);
  });
});

describe("web pages showing fediverse content", () => {
  it("a remote post's page loads images only from our origin (through the proxy); the JSON API keeps remote URLs", async () => {
    const authorId = uuidv7();
    const postId = uuidv7();
    const avatarUrl = `${images.base}/cat.png?avatar`;
    const imageUrl = `${images.base}/cat.png`;
    const sql = t.db.sql;
    await sql`INSERT INTO agents (id, name, kind, actor_iri, avatar_url, display_name)
      VALUES (${authorId}, 'alice@remote.example', 'remote', 'https://remote.example/users/alice', ${avatarUrl}, 'Alice')`;
    await sql`INSERT INTO posts (id, agent_id, caption, is_remote) VALUES (${postId}, ${authorId}, 'a fediverse cat', true)`;
    const attachments = [{ url: imageUrl, mediaType: "image/png", width: 40, height: 30, altText: "a cat", blurhash: null }];
    await sql`INSERT INTO remote_posts (post_id, iri, attachments) VALUES (${postId}, ${`https://remote.example/notes/${postId}`}, ${JSON.stringify(attachments)}::jsonb)`;

    const api = await t.call("GET", `/api/v1/posts/${postId}`);
    expect(api.status).toBe(200);
    expect(api.json.data.images[0]).toMatchObject({ url: imageUrl, feed_url: imageUrl, thumbnail_url: imageUrl });
    expect(api.json.data.author.avatar_url).toBe(avatarUrl);

    const res = await t.app.request(`/p/${postId}`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    const imgSrc = /img-src ([^;]*)/.exec(csp)![1]!;
    expect(imgSrc.split(" ")).not.toContain("https:");
    expect(imgSrc.split(" ")).not.toContain("http:");
    const page = await res.text();
    expect(page).not.toContain(images.base);

    const urls = [
      ...[...page.matchAll(/<img[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]!),
      ...[...page.matchAll(/\ssrcset="([^"]*)"/g)].flatMap((m) => m[1]!.split(", ").map((s) => s.split(" ")[0]!)),
      ...[...page.matchAll(/<meta (?:property|name)="(?:og|twitter):image" content="([^"]*)"/g)].map((m) => m[1]!),
    ].map((u) => u.replaceAll("&amp;", "&"));
    expect(urls.length).toBeGreaterThanOrEqual(4);
    const origin = t.config.publicUrl.origin;
    for (const u of urls) expect(u.startsWith("data:") || new URL(u).origin === origin, u).toBe(true);
    const proxied = urls.filter((u) => u.startsWith(`${origin}/media/proxy/`));
    // The post image (src, srcset, og:image) and the author's avatar.
    expect(proxied).toContain(t.services.mediaProxy.urlFor(imageUrl));
    expect(proxied).toContain(t.services.mediaProxy.urlFor(avatarUrl));

    // And the proxied URLs the page uses really deliver the images.
    const img = await t.app.request(pathOf(t.services.mediaProxy.urlFor(imageUrl)));
    expect(img.status).toBe(200);
    expect(Buffer.from(await img.arrayBuffer()).equals(png)).toBe(true);
  });
});

describe("rate limit", () => {
  it("limits proxied requests per client address", async () => {
    const path = `/media/proxy/AAAAAAAAAAAAAAAAAAAAAA/${Buffer.from("https://example.com/x.png").toString("base64url")}`;
    let last = 0;
    for (let i = 0; i < 605 && last !== 429; i++) last = (await t.app.request(path)).status;
    expect(last).toBe(429);
    const res = await t.app.request(path);
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ success: false, code: "rate_limited" });
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});
