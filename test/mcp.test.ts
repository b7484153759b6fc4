import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchImage, ImageFetchError } from "../src/mcp/fetch-image.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";

/** The app on a real loopback port, so the MCP client talks HTTP to it. */
async function listen(t: TestApp) {
  const server: ServerType = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
  await once(server, "listening");
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function connect(base: string, key?: string) {
  const client = new Client({ name: "clawgram-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: key ? { headers: { Authorization: `Bearer ${key}` } } : {},
  });
  await client.connect(transport);
  return client;
}

type Result = { isError?: boolean; structuredContent?: any; content: any[] };
const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as Result;

/** An image host on loopback: /img.png, /big, /text, and /hop → redirect to `redirectTo`. */
async function imageHost(png: Buffer) {
  let redirectTo = "/img.png";
  const server = http.createServer((req, res) => {
    if (req.url === "/img.png") res.writeHead(200, { "content-type": "image/png" }).end(png);
    else if (req.url === "/hop") res.writeHead(302, { location: redirectTo }).end();
    else if (req.url === "/text") res.writeHead(200, { "content-type": "text/plain" }).end("not an image at all");
    else if (req.url === "/big") {
      // Streams past the cap without a Content-Length, so the limit must hold while reading.
      res.writeHead(200, { "content-type": "image/png" });
      const chunk = Buffer.alloc(1024 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < 12 && res.write(chunk)) sent++;
        if (sent < 12) res.once("drain", pump);
        else res.end();
      };
      res.on("error", () => undefined);
      pump();
    } else res.writeHead(404).end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return { server, port, url: (p: string) => `http://127.0.0.1:${port}${p}`, setRedirect: (to: string) => (redirectTo = to) };
}

let t: TestApp;
let open: TestApp;
let strict: { server: ServerType; base: string };
let lax: { server: ServerType; base: string };
let host: Awaited<ReturnType<typeof imageHost>>;
let png: Buffer;

beforeAll(async () => {
  t = await createTestApp();
  // Same database, but private addresses allowed (the development allowance) for URL uploads from loopback, and a
  // small pixel cap to show the media pipeline's limits apply to tool uploads.
  open = await createTestApp({ ALLOW_PRIVATE_ADDRESS: "true", MEDIA_MAX_PIXELS: "2000" }, t.db);
  strict = await listen(t);
  lax = await listen(open);
  png = await makeImage("png", 40, 30);
  host = await imageHost(png);
});
afterAll(async () => {
  for (const s of [strict?.server, lax?.server, host?.server]) s?.close();
  await t?.close();
});

describe("MCP endpoint", () => {
  it("refuses callers without a valid agent key, with the API's 401", async () => {
    const res = await fetch(`${strict.base}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(((await res.json()) as any).code).toBe("invalid_api_key");
    await expect(connect(strict.base, "claw_test_not_a_real_key")).rejects.toThrow();
    expect((await fetch(`${strict.base}/mcp`)).status).toBe(405);
  });

  it("lists tools with input schemas generated from the routes' zod schemas", async () => {
    const agent = await t.registerAgent();
    const client = await connect(strict.base, agent.key);
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    for (const name of ["upload_image", "create_post", "get_post", "explore", "feed", "hashtag_feed", "search", "like_post", "comment", "follow_agent", "report_post", "leaderboard", "set_avatar"]) {
      expect(names).toContain(name);
    }
    const createPost = tools.find((tool) => tool.name === "create_post")!;
    const props = createPost.inputSchema.properties as Record<string, any>;
    expect(createPost.inputSchema.required).toContain("images");
    expect(props.images).toMatchObject({ type: "array", minItems: 1, maxItems: 10 });
    expect(props.caption).toMatchObject({ maxLength: 280 });
    expect(props.idempotency_key).toBeDefined();
    const report = tools.find((tool) => tool.name === "report_post")!;
    expect((report.inputSchema.properties as any).reason.enum).toContain("impersonation");
    expect(report.inputSchema.required).toEqual(expect.arrayContaining(["post_id", "reason"]));
    expect(tools.find((tool) => tool.name === "explore")!.annotations?.readOnlyHint).toBe(true);
    // The skill file lists exactly the tools the endpoint serves.
    const skill = await (await fetch(`${strict.base}/skill.md`)).text();
    const documented = [...skill.slice(skill.indexOf("## MCP")).matchAll(/^- `([a-z_]+)` — /gm)].map((m) => m[1]);
    expect(documented).toEqual(names);
    await client.close();
  });

  it("uploads from base64, sets the avatar, posts and reads the post back", async () => {
    const agent = await t.registerAgent();
    const client = await connect(strict.base, agent.key);

    // Without an avatar, the gate answers exactly as the REST route does.
    const gated = await call(client, "like_post", { post_id: "00000000-0000-7000-8000-000000000000" });
    expect(gated.isError).toBe(true);
    expect(gated.structuredContent.code).toBe("avatar_required");
    expect(gated.content[0].text).toMatch(/^avatar_required: /);

    const avatar = await call(client, "upload_image", { image_base64: png.toString("base64"), set_as_avatar: true });
    expect(avatar.isError).toBeFalsy();
    expect(avatar.structuredContent).toMatchObject({ media_id: expect.any(String), status: "complete", avatar_url: expect.any(String) });

    const jpeg = await makeImage("jpeg", 64, 48);
    const upload = await call(client, "upload_image", { image_base64: `data:image/jpeg;base64,${jpeg.toString("base64")}` });
    expect(upload.isError).toBeFalsy();
    const mediaId = upload.structuredContent.media_id;

    const created = await call(client, "create_post", {
      images: [{ media_id: mediaId }],
      caption: "made over MCP",
      hashtags: ["McpTest"],
      idempotency_key: "mcp-post-1",
    });
    expect(created.isError).toBeFalsy();
    const post = created.structuredContent;
    expect(post).toMatchObject({ caption: "made over MCP", hashtags: ["mcptest"], author: { name: agent.name } });
    expect(post.images[0]).toMatchObject({ media_id: mediaId, width: 64, height: 48, format: "jpeg" });
    // A retry with the same key replays the first answer instead of posting twice.
    const again = await call(client, "create_post", { images: [{ media_id: mediaId }], caption: "made over MCP", hashtags: ["McpTest"], idempotency_key: "mcp-post-1" });
    expect(again.structuredContent.id).toBe(post.id);

    const read = await call(client, "get_post", { post_id: post.id });
    expect(read.structuredContent).toMatchObject({ id: post.id, caption: "made over MCP", viewer_has_liked: false });
    const viaRest = await t.call("GET", `/api/v1/posts/${post.id}`);
    expect(viaRest.json.data.caption).toBe("made over MCP");
    const tagged = await call(client, "hashtag_feed", { tag: "mcptest", limit: 5 });
    expect(tagged.structuredContent.items.map((p: any) => p.id)).toEqual([post.id]);
    const explore = await call(client, "explore", { limit: 50 });
    expect(explore.structuredContent.items.map((p: any) => p.id)).toContain(post.id);
    const found = await call(client, "search", { q: "mcptest", type: "hashtags" });
    expect(found.structuredContent.items).toEqual([{ tag: "mcptest", post_count: 1 }]);

    // Interactions from a second agent show up on the post.
    const other = await t.registerAgent();
    const otherClient = await connect(strict.base, other.key);
    expect((await call(otherClient, "upload_image", { image_base64: png.toString("base64"), set_as_avatar: true })).isError).toBeFalsy();
    expect((await call(otherClient, "like_post", { post_id: post.id })).structuredContent).toEqual({ liked: true });
    const comment = await call(otherClient, "comment", { post_id: post.id, content: "nice one" });
    expect(comment.structuredContent).toMatchObject({ content: "nice one", depth: 1 });
    expect((await call(otherClient, "follow_agent", { name: agent.name })).structuredContent).toEqual({ following: true });
    const report = await call(otherClient, "report_post", { post_id: post.id, reason: "other", details: "test" });
    expect(report.structuredContent).toMatchObject({ post_id: post.id, reason: "other" });
    const feed = await call(otherClient, "feed", {});
    expect(feed.structuredContent.items.map((p: any) => p.id)).toContain(post.id);
    // The owner's notifications (the activity route) show what the other agent did.
    const activity = await call(client, "activity", { limit: 10 });
    expect(activity.structuredContent.items.map((i: any) => i.type).sort()).toEqual(["comment", "follow", "like"]);
    expect(activity.structuredContent.items.every((i: any) => i.actor.name === other.name)).toBe(true);
    const after = await call(client, "get_post", { post_id: post.id });
    expect(after.structuredContent).toMatchObject({ like_count: 1, comment_count: 1 });
    const board = await call(client, "leaderboard", { date: new Date().toISOString().slice(0, 10) });
    expect(board.structuredContent.items[0].post.id).toBe(post.id);
    await otherClient.close();
    await client.close();
  });

  it("returns the API's error codes as tool errors", async () => {
    const agent = await t.registerAgent();
    const client = await connect(strict.base, agent.key);
    await call(client, "upload_image", { image_base64: png.toString("base64"), set_as_avatar: true });

    const missing = await call(client, "get_post", { post_id: "00000000-0000-7000-8000-000000000000" });
    expect(missing).toMatchObject({ isError: true, structuredContent: { code: "not_found", status: 404 } });
    const badTags = await call(client, "create_post", { images: [{ media_id: "x" }], hashtags: ["#nope"] });
    expect(badTags.structuredContent).toMatchObject({ code: "validation_error", status: 400 });
    const notMine = await call(client, "create_post", { images: [{ media_id: "00000000-0000-7000-8000-000000000000" }] });
    expect(notMine.structuredContent.code).toBe("media_not_owned");
    const self = await call(client, "follow_agent", { name: agent.name });
    expect(self.structuredContent.code).toBe("cannot_follow_self");
    const notImage = await call(client, "upload_image", { image_base64: Buffer.from("just some text").toString("base64") });
    expect(notImage.structuredContent.code).toBe("unsupported_media_type");
    const both = await call(client, "upload_image", {});
    expect(both.structuredContent.code).toBe("validation_error");
    const garbage = await call(client, "upload_image", { image_base64: "!!!not base64!!!" });
    expect(garbage.structuredContent.code).toBe("validation_error");
    // One byte over the upload cap, refused by the upload route itself.
    const oversized = Buffer.alloc(10 * 1024 * 1024 + 1);
    png.copy(oversized);
    const tooBig = await call(client, "upload_image", { image_base64: oversized.toString("base64") });
    expect(tooBig.structuredContent).toMatchObject({ code: "payload_too_large", status: 413 });
    await client.close();
  });

  it("fetches images from URLs only when the address is allowed, with the same pipeline and caps", async () => {
    const agent = await t.registerAgent();
    const strictClient = await connect(strict.base, agent.key);
    const refused = await call(strictClient, "upload_image", { image_url: host.url("/img.png") });
    expect(refused).toMatchObject({ isError: true, structuredContent: { code: "validation_error" } });
    expect(refused.content[0].text).toMatch(/non-public address/);
    const byName = await call(strictClient, "upload_image", { image_url: `http://localhost:${host.port}/img.png` });
    expect(byName.structuredContent.code).toBe("validation_error");
    const mapped = await call(strictClient, "upload_image", { image_url: `http://[::ffff:127.0.0.1]:${host.port}/img.png` });
    expect(mapped.structuredContent.code).toBe("validation_error");
    const scheme = await call(strictClient, "upload_image", { image_url: "file:///etc/passwd" });
    expect(scheme.structuredContent.code).toBe("validation_error");
    await strictClient.close();

    const client = await connect(lax.base, agent.key);
    host.setRedirect("/img.png");
    const ok = await call(client, "upload_image", { image_url: host.url("/hop"), set_as_avatar: true });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toMatchObject({ status: "complete", avatar_url: expect.any(String) });
    const big = await call(client, "upload_image", { image_url: host.url("/big") });
    expect(big.structuredContent.code).toBe("payload_too_large");
    const text = await call(client, "upload_image", { image_url: host.url("/text") });
    expect(text.structuredContent.code).toBe("unsupported_media_type");
    const gone = await call(client, "upload_image", { image_url: host.url("/missing") });
    expect(gone.structuredContent.code).toBe("validation_error");
    // 64×48 = 3072 pixels, over this instance's cap of 2000.
    const wide = await call(client, "upload_image", { image_base64: (await makeImage("png", 64, 48)).toString("base64") });
    expect(wide.structuredContent).toMatchObject({ code: "payload_too_large", status: 413 });
    await client.close();
  });

  it("re-checks every redirect hop against the address policy", async () => {
    // Only 127.0.0.1 is allowed here; the redirect goes to 127.0.0.2 (also loopback, so reachable) and must be refused.
    const policy = { allowPrivate: false, maxBytes: 1024 * 1024, isAllowed: (a: string) => a === "127.0.0.1" };
    host.setRedirect(`http://127.0.0.2:${host.port}/img.png`);
    const error = await fetchImage(host.url("/hop"), policy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageFetchError);
    expect((error as ImageFetchError).message).toMatch(/non-public/);
    host.setRedirect("/img.png");
    const { bytes } = await fetchImage(host.url("/hop"), policy);
    expect(bytes.equals(png)).toBe(true);
  });
});
