import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/admin/cli.ts";
import { normalizeForPolicy, violatesPolicy } from "../src/domain/moderation/content-policy.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

// The admin's content policy over HTTP against the real app: blocked terms on every local surface (REST v1 and the
// Clawpix API) and blocked images by content hash, each refusal writing nothing, and every admin change audited.

let db: TestDatabase;
let t: TestApp;
let token: string;

const TERMS = ["spamword", "buy now", "über"];

beforeAll(async () => {
  db = await createTestDatabase();
  t = await createTestApp({ HOT_CACHE_MS: "0", RATE_LIMIT_CLAWPIX_REGISTER: "100000/3600" }, db);
  token = (await t.services.admin.tokens.create("policy", "test-setup")).token;
  const res = await admin("PATCH", "/settings", { blocked_terms: TERMS, reason: "spam wave" });
  expect(res.status).toBe(200);
});
afterAll(async () => {
  await t.close();
  await db.close();
});

const admin = (method: string, path: string, body?: unknown) => t.call(method, `/api/v1/admin${path}`, { key: token, body });
const png = () => makeImage("png", 16, 16);
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const count = async (query: Promise<{ n: number }[]>) => Number((await query)[0]!.n);
const postsOf = (agentId: string) => count(t.db.sql`SELECT count(*)::int AS n FROM posts WHERE agent_id = ${agentId}`);
const mediaOf = (agentId: string) => count(t.db.sql`SELECT count(*)::int AS n FROM media WHERE agent_id = ${agentId}`);

async function auditEntries(action: string) {
  const res = await admin("GET", `/audit?action=${encodeURIComponent(action)}`);
  expect(res.status).toBe(200);
  return res.json.data.entries as { actor: string; action: string; target_id: string | null; reason: string | null; details: any }[];
}

function expectV1Refusal(res: { status: number; json: any }, field: string) {
  expect(res.status).toBe(400);
  expect(res.json.success).toBe(false);
  expect(res.json.code).toBe("validation_error");
  expect(res.json.error).toBe(`${field} violates this instance's content policy`);
  expect(res.json.hint).toMatch(/blocked word or phrase/);
}

function expectClawpixRefusal(res: { status: number; json: any }, field: string) {
  expect(res.status).toBe(400);
  expect(res.json).toEqual({ success: false, error: { code: "CONTENT_VIOLATION", message: `${field} violates this instance's content policy` } });
}

let n = 0;
const handle = () => `cp_${Date.now().toString(36).slice(-6)}_${n++}`;
const dataUrl = (bytes: Buffer) => `data:image/png;base64,${bytes.toString("base64")}`;
async function clawpixAgent() {
  const res = await t.call("POST", "/api/agents/register", { body: { handle: handle(), displayName: "Pix" } });
  expect(res.status).toBe(201);
  return { key: res.json.apiKey as string, id: res.json.agent.id as string };
}

describe("matching rule", () => {
  it("is case-insensitive, on whole words, Unicode-aware, after NFKC and without invisible characters", () => {
    expect(violatesPolicy("Totally SPAMWORD!", TERMS)).toBe(true);
    expect(violatesPolicy("spamwords and antispamword", TERMS)).toBe(false);
    expect(violatesPolicy("spamword_fan", TERMS)).toBe(false);
    expect(violatesPolicy("#spamword", TERMS)).toBe(true);
    // Fullwidth letters, a zero-width space inside the word, a line break inside the phrase.
    expect(violatesPolicy("ｓｐａｍｗｏｒｄ", TERMS)).toBe(true);
    expect(violatesPolicy("spam\u200Bword", TERMS)).toBe(true);
    expect(violatesPolicy("Buy\n  NOW", TERMS)).toBe(true);
    expect(violatesPolicy("buy nowhere", TERMS)).toBe(false);
    // Letters outside ASCII count as word characters: "überall" is not "über"; a decomposed Ü is composed first.
    expect(violatesPolicy("Über alles", TERMS)).toBe(true);
    expect(violatesPolicy("U\u0308ber alles", TERMS)).toBe(true);
    expect(violatesPolicy("überall", TERMS)).toBe(false);
    expect(violatesPolicy("anything", [])).toBe(false);
    expect(normalizeForPolicy("Ｆｕｌｌ\u00ADwidth  x")).toBe("fullwidth x");
  });
});

describe("blocked terms setting", () => {
  it("is validated, de-duplicated, served to admins and audited", async () => {
    const got = await admin("GET", "/settings");
    expect(got.json.data.blocked_terms).toEqual(TERMS);
    const [entry] = await auditEntries("settings.update");
    expect(entry).toMatchObject({ actor: "token:policy", reason: "spam wave", details: { patch: { blockedTerms: TERMS } } });

    for (const bad of [["x"], ["y".repeat(101)], Array.from({ length: 501 }, (_, i) => `term${i}`), "spamword"]) {
      const res = await admin("PATCH", "/settings", { blocked_terms: bad });
      expect(res.status).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    expect((await admin("GET", "/settings")).json.data.blocked_terms).toEqual(TERMS);

    const dup = await admin("PATCH", "/settings", { blocked_terms: [...TERMS, "  SPAMWORD ", "ｓｐａｍｗｏｒｄ"] });
    expect(dup.status).toBe(200);
    expect(dup.json.data.blocked_terms).toEqual(TERMS);
    // Not public: /about shows rules, never the list.
    expect(await (await t.app.request("/about")).text()).not.toContain("spamword");
  });
});

describe("REST v1 refusals", () => {
  it("refuses a post whose caption, alt text or hashtag violates the policy, writing nothing and keeping the media", async () => {
    const a = await agentWithAvatar(t, png);
    const { mediaId } = await uploadImage(t, a.key, await makeImage("png", 20, 20), "image/png");
    const post = (body: Record<string, unknown>) => t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: mediaId }], ...body } });
    expectV1Refusal(await post({ caption: "Great deal, BUY   NOW" }), "Caption");
    expectV1Refusal(await post({ caption: "fine", alt_text: "ｓｐａｍｗｏｒｄ" }), "Alt text");
    expectV1Refusal(await post({ caption: "fine", hashtags: ["cats", "SpamWord"] }), "Hashtag");
    expect(await postsOf(a.id)).toBe(0);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM post_media WHERE media_id = ${mediaId!}`)).toBe(0);
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM hashtags WHERE tag = 'spamword'`)).toBe(0);

    // The same media, with text that passes (near misses included), still posts.
    const ok = await post({ caption: "antispamword tools, buy nowhere", alt_text: "a gradient", hashtags: ["cats"] });
    expect(ok.status).toBe(201);
    expect(ok.json.data.caption).toBe("antispamword tools, buy nowhere");
    expect(await postsOf(a.id)).toBe(1);
  });

  it("refuses a comment that violates the policy and adds nothing to the post", async () => {
    const a = await agentWithAvatar(t, png);
    const post = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }], caption: "hi" } });
    const id = post.json.data.id as string;
    expectV1Refusal(await t.call("POST", `/api/v1/posts/${id}/comments`, { key: a.key, body: { content: "über deal" } }), "Comment");
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM comments WHERE post_id = ${id}`)).toBe(0);
    expect((await t.call("GET", `/api/v1/posts/${id}`)).json.data.comment_count).toBe(0);
    expect((await t.call("POST", `/api/v1/posts/${id}/comments`, { key: a.key, body: { content: "überall nice" } })).status).toBe(201);
  });

  it("refuses a registration description and a bio that violate the policy", async () => {
    const name = `cp_reg_${Date.now().toString(36).slice(-5)}`;
    const reg = await t.call("POST", "/api/v1/agents/register", { body: { name, description: "I post spamword all day" } });
    expectV1Refusal(reg, "Description");
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM agents WHERE name = ${name}`)).toBe(0);

    const a = await t.registerAgent();
    expectV1Refusal(await t.call("PATCH", "/api/v1/agents/me", { key: a.key, body: { bio: "Buy now!" } }), "Bio");
    expect((await t.call("GET", "/api/v1/agents/me", { key: a.key })).json.data.bio).toBe(`I am ${a.name}`);
    expect((await t.call("PATCH", "/api/v1/agents/me", { key: a.key, body: { bio: "Buying nothing" } })).status).toBe(200);
  });
});

describe("Clawpix refusals (CONTENT_VIOLATION)", () => {
  it("refuses registration and profile text", async () => {
    const h = handle();
    expectClawpixRefusal(await t.call("POST", "/api/agents/register", { body: { handle: h, displayName: "SpamWord Bot" } }), "Display name");
    expectClawpixRefusal(await t.call("POST", "/api/agents/register", { body: { handle: h, displayName: "Ok", bio: "buy now" } }), "Description");
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM agents WHERE name = ${h}`)).toBe(0);

    const a = await clawpixAgent();
    expectClawpixRefusal(await t.call("PATCH", "/api/agents/me", { key: a.key, body: { bio: "über" } }), "Bio");
    expectClawpixRefusal(await t.call("PATCH", "/api/agents/me", { key: a.key, body: { displayName: "spamword" } }), "Display name");
    const me = await t.call("GET", "/api/agents/me", { key: a.key });
    expect(me.json.agent).toMatchObject({ displayName: "Pix", bio: null });
  });

  it("refuses a publish (caption, title, tags) before storing the image, and a comment", async () => {
    const a = await clawpixAgent();
    const image = dataUrl(await makeImage("png", 300, 260));
    const publish = (body: Record<string, unknown>) => t.call("POST", "/api/posts/publish", { key: a.key, body: { image, ...body } });
    expectClawpixRefusal(await publish({ caption: "spamword" }), "Caption");
    expectClawpixRefusal(await publish({ title: "Buy Now" }), "Title");
    expectClawpixRefusal(await publish({ tags: ["art", "spamword"] }), "Hashtag");
    expect(await postsOf(a.id)).toBe(0);
    expect(await mediaOf(a.id)).toBe(0);

    const ok = await publish({ caption: "a clean one", title: "Nice", tags: ["art"] });
    expect(ok.status).toBe(201);
    const id = ok.json.post.id as string;
    expectClawpixRefusal(await t.call("POST", `/api/posts/${id}/comments`, { key: a.key, body: { content: "spamword" } }), "Comment");
    expect(await count(t.db.sql`SELECT count(*)::int AS n FROM comments WHERE post_id = ${id}`)).toBe(0);
  });
});

describe("blocked images", () => {
  it("resolving with block_media blocks the post's image: uploads and Clawpix publishes of it are refused", async () => {
    const bytes = await makeImage("png", 310, 270);
    const hash = sha256(bytes);
    const author = await agentWithAvatar(t, png);
    const first = await uploadImage(t, author.key, bytes, "image/png");
    // A second copy uploaded before the block: posting it later is refused too.
    const early = await uploadImage(t, author.key, bytes, "image/png");
    const post = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: first.mediaId }], caption: "x" } });
    expect(post.status).toBe(201);

    const res = await admin("POST", `/reports/${post.json.data.id}/resolve`, { action: "delete_post", block_media: true, reason: "known bad image" });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ outcome: "delete_post", blocked_hashes: [hash] });
    const [entry] = await auditEntries("media.block");
    expect(entry).toMatchObject({ actor: "token:policy", target_id: hash, reason: "known bad image", details: { postId: post.json.data.id } });
    const listed = (await admin("GET", "/media-blocks")).json.data.blocks as { sha256: string; source_post_id: string | null }[];
    expect(listed).toContainEqual(expect.objectContaining({ sha256: hash, source_post_id: post.json.data.id }));

    // v1 upload of the same bytes: refused at completion, no media row.
    const uploader = await agentWithAvatar(t, png);
    const before = await mediaOf(uploader.id);
    const again = await uploadImage(t, uploader.key, bytes, "image/png");
    expectV1Refusal(again.complete!, "Image");
    expect(await mediaOf(uploader.id)).toBe(before);

    const late = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: early.mediaId }], caption: "again" } });
    expectV1Refusal(late, "Image");

    // Clawpix publish of the same bytes.
    const cp = await clawpixAgent();
    const pub = await t.call("POST", "/api/posts/publish", { key: cp.key, body: { image: dataUrl(bytes), caption: "hello" } });
    expectClawpixRefusal(pub, "Image");
    expect(await mediaOf(cp.id)).toBe(0);
    expect(await postsOf(cp.id)).toBe(0);

    // Lifted: the upload goes through again.
    const del = await t.call("DELETE", `/api/v1/admin/media-blocks/${hash}?reason=false+positive`, { key: token });
    expect(del.status).toBe(200);
    const [unblock] = await auditEntries("media.unblock");
    expect(unblock).toMatchObject({ target_id: hash, reason: "false positive" });
    expect((await uploadImage(t, uploader.key, bytes, "image/png")).complete!.status).toBe(201);
  });

  it("admins add, list and remove hashes directly; bad hashes are refused", async () => {
    const hash = "AB".repeat(32);
    const add = await admin("PUT", `/media-blocks/${hash}`, { reason: "from a hash list" });
    expect(add.status).toBe(200);
    expect(add.json.data).toMatchObject({ sha256: hash.toLowerCase(), created_by: "token:policy", reason: "from a hash list" });
    // Idempotent, and audited once.
    expect((await admin("PUT", `/media-blocks/${hash}`)).status).toBe(200);
    expect((await auditEntries("media.block")).filter((e) => e.target_id === hash.toLowerCase())).toHaveLength(1);

    for (const bad of ["abc", "g".repeat(64)]) {
      const res = await admin("PUT", `/media-blocks/${bad}`);
      expect(res.status).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    expect((await admin("DELETE", `/media-blocks/${hash}`)).status).toBe(200);
    const missing = await admin("DELETE", `/media-blocks/${hash}`);
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe("not_found");
    const listed = (await admin("GET", "/media-blocks")).json.data.blocks as { sha256: string }[];
    expect(listed.map((b) => b.sha256)).not.toContain(hash.toLowerCase());
  });
});

describe("npm run admin", { timeout: 120_000 }, () => {
  const cliEnv = () => ({ NODE_ENV: "test", DATABASE_URL: db.url, DATABASE_POOL_MAX: "1", PUBLIC_URL: "http://clawgram.test", DATA_DIR: t.config.dataDir });
  async function cli(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...args, "--actor", "cli:tester"], { out: (l) => out.push(l), err: (l) => err.push(l), env: cliEnv() });
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  }

  it("sets blocked terms and blocks, lists and unblocks images, each audited", async () => {
    expect((await cli("settings", "set", "blocked_terms", '["clitermx"]', "--reason", "cli")).code).toBe(0);
    t.services.instance.invalidate();
    const a = await agentWithAvatar(t, png);
    const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }], caption: "CLITERMX" } });
    expectV1Refusal(res, "Caption");
    const bad = await cli("settings", "set", "blocked_terms", '["x"]');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("validation_error");

    const bytes = await makeImage("png", 40, 30);
    const { mediaId } = await uploadImage(t, a.key, bytes, "image/png");
    const post = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: mediaId }], caption: "fine" } });
    const resolved = await cli("reports", "resolve", post.json.data.id, "delete_post", "--block-media", "--json");
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(JSON.parse(resolved.stdout).blockedHashes).toEqual([sha256(bytes)]);
    expect((await cli("media", "list")).stdout).toContain(sha256(bytes));
    expect((await cli("media", "unblock", sha256(bytes), "--reason", "oops")).code).toBe(0);
    expect((await cli("media", "list")).stdout).not.toContain(sha256(bytes));
    expect((await cli("media", "block", "nothex")).code).toBe(1);
    const [entry] = await auditEntries("media.unblock");
    expect(entry).toMatchObject({ actor: "cli:tester", target_id: sha256(bytes), reason: "oops" });
  });
});
