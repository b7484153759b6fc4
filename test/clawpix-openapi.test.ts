import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Hono } from "hono";
import { z } from "zod";
import { handleClawpixError } from "../src/api/clawpix/errors.ts";
import { clawpixRoute, mountClawpixRoute } from "../src/api/clawpix/route.ts";
import type { AppEnv } from "../src/http/env.ts";
import { readResponse, type CallResult } from "./helpers/client.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";

// Every Clawpix endpoint, called through the real app, answers with a body that the schema the served
// /api/openapi.json gives for that path, method and status accepts.

let t: TestApp;
let doc: any;
beforeAll(async () => {
  t = await createTestApp({
    RATE_LIMIT_CLAWPIX_REGISTER: "100000/3600",
    // Write limits on, generous, except follows: the third follow toggle of an agent is refused (429).
    WRITE_LIMITS: "on",
    RATE_LIMIT_CLAWPIX_PUBLISH: "1000/60",
    RATE_LIMIT_COMMENTS: "1000/60",
    RATE_LIMIT_LIKES: "1000/60",
    RATE_LIMIT_SAVES: "1000/60",
    RATE_LIMIT_FOLLOWS: "3/3600",
  });
  const res = await t.call("GET", "/api/openapi.json");
  expect(res.status).toBe(200);
  doc = res.json;
});
afterAll(async () => {
  await t?.close();
});

// ---- a minimal JSON Schema (2020-12) validator for the keywords the document uses; any other keyword fails loudly,
// so a schema it cannot judge never passes by accident.

type Schema = Record<string, unknown>;
const ANNOTATIONS = new Set(["description", "example", "examples", "title", "default", "deprecated"]);
const FORMATS: Record<string, (s: string) => boolean> = {
  uuid: (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s),
  "date-time": (s) => !Number.isNaN(Date.parse(s)),
  uri: (s) => URL.canParse(s),
};
const typeOf = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v;

function resolve(ref: string, root: any): Schema {
  if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
  const target = ref
    .slice(2)
    .split("/")
    .reduce((node, part) => node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")], root);
  if (!target) throw new Error(`dangling $ref ${ref}`);
  return target as Schema;
}

function validate(schema: Schema, value: unknown, root: any, at = "$"): string[] {
  const errors: string[] = [];
  for (const [keyword, arg] of Object.entries(schema)) {
    const a = arg as any;
    switch (keyword) {
      case "$ref":
        errors.push(...validate(resolve(a, root), value, root, at));
        break;
      case "type": {
        const types: string[] = Array.isArray(a) ? a : [a];
        const actual = typeOf(value);
        if (!types.includes(actual) && !(actual === "integer" && types.includes("number"))) errors.push(`${at}: ${actual}, not ${types.join("|")}`);
        break;
      }
      case "const":
        if (value !== a) errors.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(a)}`);
        break;
      case "enum":
        if (!a.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(a)}`);
        break;
      case "properties":
        if (typeOf(value) === "object") {
          for (const [name, sub] of Object.entries(a)) {
            if (name in (value as object)) errors.push(...validate(sub as Schema, (value as any)[name], root, `${at}.${name}`));
          }
        }
        break;
      case "required":
        if (typeOf(value) === "object") for (const name of a) if (!(name in (value as object))) errors.push(`${at}: missing ${name}`);
        break;
      case "additionalProperties":
        if (typeOf(value) === "object") {
          const declared = Object.keys((schema.properties as object | undefined) ?? {});
          for (const name of Object.keys(value as object).filter((k) => !declared.includes(k))) {
            if (a === false) errors.push(`${at}: undeclared ${name}`);
            else errors.push(...validate(a, (value as any)[name], root, `${at}.${name}`));
          }
        }
        break;
      case "items":
        if (Array.isArray(value)) value.forEach((item, i) => errors.push(...validate(a, item, root, `${at}[${i}]`)));
        break;
      case "anyOf":
        if (!a.some((s: Schema) => validate(s, value, root, at).length === 0)) errors.push(`${at}: matches no anyOf branch`);
        break;
      case "oneOf":
        if (a.filter((s: Schema) => validate(s, value, root, at).length === 0).length !== 1) {
          errors.push(`${at}: matches not exactly one oneOf branch`);
        }
        break;
      case "allOf":
        for (const s of a) errors.push(...validate(s, value, root, at));
        break;
      case "pattern":
        if (typeof value === "string" && !new RegExp(a, "u").test(value)) errors.push(`${at}: ${JSON.stringify(value)} does not match ${a}`);
        break;
      case "format":
        if (typeof value === "string") {
          const check = FORMATS[a];
          if (!check) throw new Error(`unsupported format ${a}`);
          if (!check(value)) errors.push(`${at}: ${JSON.stringify(value)} is not a ${a}`);
        }
        break;
      case "minimum":
        if (typeof value === "number" && value < a) errors.push(`${at}: ${value} < ${a}`);
        break;
      case "maximum":
        if (typeof value === "number" && value > a) errors.push(`${at}: ${value} > ${a}`);
        break;
      case "minLength":
        if (typeof value === "string" && [...value].length < a) errors.push(`${at}: shorter than ${a}`);
        break;
      case "maxLength":
        if (typeof value === "string" && [...value].length > a) errors.push(`${at}: longer than ${a}`);
        break;
      case "minItems":
        if (Array.isArray(value) && value.length < a) errors.push(`${at}: fewer than ${a} items`);
        break;
      case "maxItems":
        if (Array.isArray(value) && value.length > a) errors.push(`${at}: more than ${a} items`);
        break;
      default:
        if (!ANNOTATIONS.has(keyword)) throw new Error(`unsupported JSON Schema keyword ${keyword} at ${at}`);
    }
  }
  return errors;
}

// ---- calls checked against the document

/** `${method} ${template}` → statuses seen. */
const seen = new Map<string, Set<number>>();

/** The served document's schema for this answer; the answer must be documented and JSON, and match it. */
function expectDocumented(method: string, template: string, res: CallResult) {
  const op = doc.paths[template]?.[method.toLowerCase()];
  expect(op, `${method} ${template} is documented`).toBeDefined();
  const response = op.responses[String(res.status)];
  expect(response, `${method} ${template} documents ${res.status} (${res.text})`).toBeDefined();
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const schema = response.content?.["application/json"]?.schema;
  expect(schema, `${method} ${template} ${res.status} has a JSON schema`).toBeDefined();
  expect(validate(schema, res.json, doc), `${method} ${template} ${res.status}: ${res.text}`).toEqual([]);
  if (res.status >= 400) {
    // The description names the codes this status answers with.
    expect(response.description, `${method} ${template} ${res.status}`).toContain(res.json.error.code);
  }
  const key = `${method.toLowerCase()} ${template}`;
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key)!.add(res.status);
}

async function call(
  method: string,
  template: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<CallResult> {
  const res = await t.call(method, path, options);
  expectDocumented(method, template, res);
  return res;
}

let n = 0;
const handle = () => `oa_${Date.now().toString(36).slice(-6)}_${n++}`;
const dataUrl = async (width = 300, height = 260) => `data:image/png;base64,${(await makeImage("png", width, height)).toString("base64")}`;

async function register() {
  const h = handle();
  const res = await call("POST", "/api/agents/register", "/api/agents/register", { body: { handle: h, displayName: `Bot ${h}` } });
  expect(res.status).toBe(201);
  return { handle: h, key: res.json.apiKey as string, id: res.json.agent.id as string };
}

async function publish(key: string, body: Record<string, unknown> = {}) {
  const res = await call("POST", "/api/posts/publish", "/api/posts/publish", { key, body: { image: await dataUrl(), ...body } });
  expect(res.status).toBe(201);
  return res.json.post.id as string;
}

const UNKNOWN_ID = "0190f0f0-0000-7000-8000-000000000000";

describe("the Clawpix OpenAPI document", () => {
  it("gives every operation a success response with a component schema, and every error the Clawpix error schema", () => {
    const schemas = doc.components.schemas;
    let operations = 0;
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        operations++;
        const statuses = Object.keys(op.responses);
        const ok = statuses.filter((s) => s.startsWith("2"));
        expect(ok, `${method} ${path}`).toHaveLength(1);
        const success = op.responses[ok[0]!].content["application/json"].schema;
        expect(success.$ref, `${method} ${path}`).toMatch(/^#\/components\/schemas\/Clawpix/);
        expect(resolve(success.$ref, doc)).toMatchObject({ type: "object", additionalProperties: false });
        expect(statuses, `${method} ${path}`).toContain("500");
        for (const status of statuses.filter((s) => !s.startsWith("2"))) {
          expect(op.responses[status].content["application/json"].schema, `${method} ${path} ${status}`).toEqual({
            $ref: "#/components/schemas/ClawpixError",
          });
        }
      }
    }
    expect(operations).toBe(16);
    // Every reference in the document resolves.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of new Set(refs)) expect(() => resolve(JSON.parse(`{${ref}}`).$ref, doc)).not.toThrow();
    expect(schemas.ClawpixError.properties.error.properties.code.enum).toEqual(expect.arrayContaining(["VALIDATION_ERROR", "INTERNAL_ERROR"]));
    expect(schemas.ClawpixError.properties.error.properties.code.enum.every((c: string) => /^[A-Z_]+$/.test(c))).toBe(true);
  });

  it("documents the contract's shapes: toggles without success, 201 for creates, the publish post's renditions", () => {
    const schemas = doc.components.schemas;
    const success = (path: string, method: string, status: string): any =>
      resolve(doc.paths[path][method].responses[status].content["application/json"].schema.$ref, doc);
    expect(success("/api/posts/{id}/like", "post", "200")).toMatchObject({ required: ["liked", "likeCount"] });
    expect(success("/api/posts/{id}/save", "post", "200")).toMatchObject({ required: ["saved", "saveCount"] });
    expect(success("/api/agents/{handle}/follow", "post", "200")).toMatchObject({ required: ["following", "followerCount"] });
    expect(success("/api/agents/register", "post", "201").required).toEqual(["success", "agent", "apiKey", "activationUrl", "message"]);
    expect(schemas.ClawpixPublishedPost.required).toEqual(["id", "title", "caption", "tags", "thumbUrl", "feedUrl", "fullUrl", "createdAt"]);
    expect(success("/api/posts/{id}/comments", "post", "201").properties.comment).toEqual({ $ref: "#/components/schemas/ClawpixComment" });
    expect(success("/api/explore", "get", "200").properties.posts.items).toEqual({ $ref: "#/components/schemas/ClawpixPost" });
    expect(doc.paths["/api/posts/publish"].post.responses["429"].headers["Retry-After"]).toBeDefined();
    expect(doc.paths["/api/posts/publish"].post.responses["201"].headers["Idempotent-Replayed"]).toBeDefined();
  });

  it("the validator used here rejects what the schemas forbid", () => {
    const me = doc.paths["/api/agents/me"].get.responses["200"].content["application/json"].schema;
    expect(validate(me, { success: true }, doc)).toContain("$: missing agent");
    const agent = {
      id: UNKNOWN_ID,
      handle: "x",
      displayName: "x",
      bio: null,
      avatarUrl: null,
      status: "active",
      followerCount: 0,
      followingCount: 0,
      postCount: 0,
      createdAt: new Date().toISOString(),
    };
    expect(validate(me, { success: true, agent }, doc)).toEqual([]);
    expect(validate(me, { success: true, agent: { ...agent, extra: 1 } }, doc)).toEqual(["$.agent: undeclared extra"]);
    expect(validate(me, { success: true, agent: { ...agent, status: "gone" } }, doc)[0]).toContain("$.agent.status");
    expect(validate(me, { success: true, agent: { ...agent, followerCount: 1.5 } }, doc)[0]).toContain("$.agent.followerCount");
    expect(validate(me, { success: false, agent }, doc)).toEqual(["$.success: false is not true"]);
    const error = { $ref: "#/components/schemas/ClawpixError" };
    expect(validate(error, { success: false, error: { code: "not_found", message: "x" } }, doc)[0]).toContain("$.error.code");
    expect(() => validate({ propertyNames: {} }, {}, doc)).toThrow(/unsupported/);
  });
});

describe("every Clawpix endpoint answers as its schema in /api/openapi.json says", () => {
  it("registration and profile", async () => {
    const a = await register();
    expect((await call("POST", "/api/agents/register", "/api/agents/register", { body: { handle: "AB", displayName: "x" } })).status).toBe(400);
    expect((await call("POST", "/api/agents/register", "/api/agents/register", { body: { handle: a.handle, displayName: "x" } })).status).toBe(409);
    const notJson = await call("POST", "/api/agents/register", "/api/agents/register", { body: "x", headers: { "content-type": "text/plain" } });
    expect(notJson.status).toBe(415);

    const me = await call("GET", "/api/agents/me", "/api/agents/me", { key: a.key });
    expect(me.json.agent).toMatchObject({ id: a.id, handle: a.handle, bio: null, avatarUrl: null, status: "pending_activation" });
    expect((await call("GET", "/api/agents/me", "/api/agents/me")).json.error.code).toBe("UNAUTHORIZED");
    expect((await call("GET", "/api/agents/me", "/api/agents/me", { key: "cpx_nope" })).json.error.code).toBe("INVALID_API_KEY");

    const patched = await call("PATCH", "/api/agents/me", "/api/agents/me", {
      key: a.key,
      body: { bio: "new bio", avatarUrl: "https://example.com/a.png" },
    });
    expect(patched.status).toBe(200);
    expect(patched.json.agent).toMatchObject({ bio: "new bio", avatarUrl: "https://example.com/a.png" });
    expect((await call("PATCH", "/api/agents/me", "/api/agents/me", { key: a.key, body: { avatarUrl: "http://x" } })).status).toBe(400);
    expect((await call("PATCH", "/api/agents/me", "/api/agents/me", { key: a.key, body: { bio: null, avatarUrl: null } })).json.agent).toMatchObject({
      bio: null,
      avatarUrl: null,
    });
  });

  it("publish, idempotent replay and its refusals", async () => {
    const a = await register();
    const image = await dataUrl();
    const first = await call("POST", "/api/posts/publish", "/api/posts/publish", {
      key: a.key,
      body: { image, title: "Sunset", caption: "c", tags: ["art"] },
      headers: { "idempotency-key": "oa-1" },
    });
    expect(first.status).toBe(201);
    expect(first.json.post).toMatchObject({ title: "Sunset", caption: "c", tags: ["art"], thumbUrl: expect.stringMatching(/^http/) });
    const replay = await call("POST", "/api/posts/publish", "/api/posts/publish", {
      key: a.key,
      body: { image, title: "Sunset", caption: "c", tags: ["art"] },
      headers: { "idempotency-key": "oa-1" },
    });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.json).toEqual(first.json);
    const conflict = await call("POST", "/api/posts/publish", "/api/posts/publish", {
      key: a.key,
      body: { image },
      headers: { "idempotency-key": "oa-1" },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe("IDEMPOTENCY_CONFLICT");
    // A post without title or caption: nulls, as documented.
    const bare = await call("POST", "/api/posts/publish", "/api/posts/publish", { key: a.key, body: { image } });
    expect(bare.json.post).toMatchObject({ title: null, caption: null, tags: [] });

    const badImage = await call("POST", "/api/posts/publish", "/api/posts/publish", { key: a.key, body: { image: "data:image/png;base64,AAAA" } });
    expect([badImage.status, badImage.json.error.code]).toEqual([400, "INVALID_IMAGE"]);
    const small = await call("POST", "/api/posts/publish", "/api/posts/publish", { key: a.key, body: { image: await dataUrl(100, 100) } });
    expect([small.status, small.json.error.code]).toEqual([400, "INVALID_DIMENSIONS"]);
    const badTags = await call("POST", "/api/posts/publish", "/api/posts/publish", { key: a.key, body: { image, tags: ["Not OK"] } });
    expect([badTags.status, badTags.json.error.code]).toEqual([400, "VALIDATION_ERROR"]);
    expect((await call("POST", "/api/posts/publish", "/api/posts/publish", { body: { image } })).status).toBe(401);

    // Agents awaiting the admins' approval, and suspended ones, may not publish.
    await t.db.sql`UPDATE agents SET pending_approval = true WHERE id = ${a.id}`;
    const pending = await call("POST", "/api/posts/publish", "/api/posts/publish", { key: a.key, body: { image } });
    expect([pending.status, pending.json.error.code]).toEqual([403, "AGENT_NOT_ACTIVATED"]);
    await t.db.sql`UPDATE agents SET pending_approval = false, suspended_at = now() WHERE id = ${a.id}`;
    const suspended = await call("POST", "/api/posts/publish", "/api/posts/publish", { key: a.key, body: { image } });
    expect([suspended.status, suspended.json.error.code]).toEqual([403, "AGENT_TIMEOUT"]);
  });

  it("comments, likes, saves and deletes", async () => {
    const author = await register();
    const other = await register();
    const third = await register();
    const postId = await publish(author.key, { title: "T", tags: ["oa_tag"] });

    const created = await call("POST", "/api/posts/{id}/comments", `/api/posts/${postId}/comments`, { key: other.key, body: { content: "nice" } });
    expect(created.status).toBe(201);
    expect(created.json.comment).toMatchObject({ postId, content: "nice", agent: { id: other.id, handle: other.handle } });
    const comment = (id: string, key: string, content: string) =>
      call("POST", "/api/posts/{id}/comments", `/api/posts/${id}/comments`, { key, body: { content } });
    expect((await comment(postId, other.key, "")).status).toBe(400);
    expect((await comment(UNKNOWN_ID, other.key, "x")).status).toBe(404);
    const second = await call("POST", "/api/posts/{id}/comments", `/api/posts/${postId}/comments`, { key: third.key, body: { content: "second" } });

    const list = await call("GET", "/api/posts/{id}/comments", `/api/posts/${postId}/comments?limit=1`);
    expect(list.json.comments).toHaveLength(1);
    expect(list.json.nextCursor).toBe(list.json.comments[0].id);
    const rest = await call("GET", "/api/posts/{id}/comments", `/api/posts/${postId}/comments?cursor=${list.json.nextCursor}`);
    expect(rest.json).toMatchObject({ comments: [{ content: "second" }], nextCursor: null });
    expect((await call("GET", "/api/posts/{id}/comments", `/api/posts/${UNKNOWN_ID}/comments`)).status).toBe(404);
    expect((await call("GET", "/api/posts/{id}/comments", `/api/posts/${postId}/comments?limit=0`)).status).toBe(400);

    const commentPath = (cid: string) => `/api/posts/${postId}/comments/${cid}`;
    const template = "/api/posts/{id}/comments/{cid}";
    expect((await call("DELETE", template, commentPath(second.json.comment.id), { key: other.key })).status).toBe(403);
    expect((await call("DELETE", template, commentPath(second.json.comment.id), { key: author.key })).status).toBe(200);
    expect((await call("DELETE", template, commentPath(second.json.comment.id), { key: author.key })).status).toBe(410);
    expect((await call("DELETE", template, commentPath(UNKNOWN_ID), { key: author.key })).status).toBe(404);

    const liked = await call("POST", "/api/posts/{id}/like", `/api/posts/${postId}/like`, { key: other.key });
    expect(liked.json).toEqual({ liked: true, likeCount: 1 });
    const unliked = await call("POST", "/api/posts/{id}/like", `/api/posts/${postId}/like`, { key: other.key });
    expect(unliked.json).toEqual({ liked: false, likeCount: 0 });
    await call("POST", "/api/posts/{id}/like", `/api/posts/${postId}/like`, { key: other.key });
    expect((await call("POST", "/api/posts/{id}/like", `/api/posts/${UNKNOWN_ID}/like`, { key: other.key })).status).toBe(404);
    expect((await call("POST", "/api/posts/{id}/save", `/api/posts/${postId}/save`, { key: other.key })).json).toEqual({ saved: true, saveCount: 1 });
    expect((await call("POST", "/api/posts/{id}/save", `/api/posts/${UNKNOWN_ID}/save`, { key: other.key })).status).toBe(404);

    const saved = await call("GET", "/api/agents/me/saved", "/api/agents/me/saved", { key: other.key });
    // commentCount includes deleted comments, as Clawgram's comment_count does.
    expect(saved.json.posts).toEqual([
      expect.objectContaining({
        id: postId,
        title: "T",
        likeCount: 1,
        saveCount: 1,
        commentCount: 2,
        agent: expect.objectContaining({ id: author.id }),
      }),
    ]);
    expect((await call("GET", "/api/agents/me/saved", "/api/agents/me/saved?cursor=nope", { key: other.key })).status).toBe(400);

    expect((await call("DELETE", "/api/posts/{id}", `/api/posts/${postId}`, { key: other.key })).status).toBe(403);
    expect((await call("DELETE", "/api/posts/{id}", `/api/posts/${UNKNOWN_ID}`, { key: author.key })).status).toBe(404);
    const deleted = await call("DELETE", "/api/posts/{id}", `/api/posts/${postId}`, { key: author.key });
    expect(deleted.json).toEqual({ success: true, message: "Post deleted" });
    expect((await call("DELETE", "/api/posts/{id}", `/api/posts/${postId}`, { key: author.key })).status).toBe(410);
  });

  it("follows, activity and stats", async () => {
    const a = await register();
    const b = await register();
    const c = await register();
    const follow = (key: string, target: string) => call("POST", "/api/agents/{handle}/follow", `/api/agents/${target}/follow`, { key });
    expect((await follow(b.key, a.handle)).json).toEqual({ following: true, followerCount: 1 });
    expect((await follow(c.key, "no_such_agent_oa")).status).toBe(404);
    expect((await follow(c.key, c.handle)).json.error.code).toBe("VALIDATION_ERROR");
    expect((await follow(c.key, "bad~handle")).status).toBe(400);
    const postId = await publish(a.key);
    await call("POST", "/api/posts/{id}/comments", `/api/posts/${postId}/comments`, { key: b.key, body: { content: "hi" } });
    await call("POST", "/api/posts/{id}/like", `/api/posts/${postId}/like`, { key: b.key });
    await call("POST", "/api/posts/{id}/save", `/api/posts/${postId}/save`, { key: b.key });

    const activity = await call("GET", "/api/agents/me/activity", "/api/agents/me/activity", { key: a.key });
    expect(activity.json.activities.map((x: any) => x.type).sort()).toEqual(["comment", "follow", "like", "save"]);
    expect(activity.json.activities.find((x: any) => x.type === "save").agent).toBeNull();
    expect(activity.json.activities.find((x: any) => x.type === "comment")).toMatchObject({
      agent: { id: b.id, handle: b.handle },
      post: { id: postId, thumbUrl: expect.stringMatching(/^http/) },
      comment: { content: "hi" },
    });
    const page = await call("GET", "/api/agents/me/activity", "/api/agents/me/activity?limit=2", { key: a.key });
    expect(page.json.nextCursor).toEqual(expect.any(String));
    await call("GET", "/api/agents/me/activity", `/api/agents/me/activity?cursor=${encodeURIComponent(page.json.nextCursor)}`, { key: a.key });
    expect((await call("GET", "/api/agents/me/activity", "/api/agents/me/activity?cursor=nope", { key: a.key })).status).toBe(400);
    expect((await call("GET", "/api/agents/me/activity", "/api/agents/me/activity")).status).toBe(401);

    const stats = await call("GET", "/api/agents/me/stats", "/api/agents/me/stats", { key: a.key });
    expect(stats.json.stats).toMatchObject({ posts: 1, followers: 1, likesReceived: 1, commentsReceived: 1, savesReceived: 1 });
    expect((await call("GET", "/api/agents/me/stats", "/api/agents/me/stats", { key: "cpx_wrong" })).status).toBe(401);

    // RATE_LIMIT_FOLLOWS is 3 per hour here: the unfollow is the second, the refused one the fourth.
    expect((await follow(b.key, a.handle)).json).toEqual({ following: false, followerCount: 0 });
    await follow(b.key, a.handle);
    const limited = await follow(b.key, a.handle);
    expect([limited.status, limited.json.error.code]).toEqual([429, "RATE_LIMITED"]);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("explore and trending tags", async () => {
    const a = await register();
    const tag = `oa_${Date.now().toString(36)}`;
    const postId = await publish(a.key, { title: "Card", tags: [tag] });
    for (const bucket of ["trending", "fresh"]) {
      const res = await call("GET", "/api/explore", `/api/explore?bucket=${bucket}&tag=${tag}`);
      expect(res.json).toMatchObject({ success: true, bucket, posts: [{ id: postId, title: "Card", agent: { id: a.id } }], nextCursor: null });
    }
    const page = await call("GET", "/api/explore", "/api/explore?bucket=fresh&limit=1");
    expect(page.json.nextCursor).toEqual(expect.any(String));
    await call("GET", "/api/explore", `/api/explore?bucket=fresh&limit=1&cursor=${page.json.nextCursor}`);
    expect((await call("GET", "/api/explore", "/api/explore?bucket=hot")).status).toBe(400);

    const tags = await call("GET", "/api/tags/trending", "/api/tags/trending");
    expect(tags.json.tags).toContainEqual({ tag, postCount: 1 });
    expect((await call("GET", "/api/tags/trending", "/api/tags/trending?limit=11")).status).toBe(400);
  });

  it("covered every documented operation's success status", () => {
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const ok = Object.keys(op.responses).find((s) => s.startsWith("2"))!;
        expect(seen.get(`${method} ${path}`)?.has(Number(ok)), `${method} ${path} ${ok} was called`).toBe(true);
      }
    }
  });
});

describe("answers that do not match their schema", () => {
  it("are logged and answered 500 INTERNAL_ERROR in the Clawpix error shape; undeclared fields are dropped", async () => {
    // The real mounter and error handler, on routes whose handlers break their promise.
    const app = new Hono<AppEnv>();
    app.onError(handleClawpixError);
    const Body = z.object({ success: z.literal(true), count: z.int() });
    mountClawpixRoute(
      app,
      clawpixRoute({
        method: "get",
        path: "/api/posts/broken",
        summary: "x",
        auth: "public",
        response: Body,
        handler: async () => ({ success: true, count: "1" }) as never,
      }),
      t.services,
    );
    mountClawpixRoute(
      app,
      clawpixRoute({
        method: "get",
        path: "/api/posts/extra",
        summary: "x",
        auth: "public",
        response: Body,
        handler: async () => ({ success: true, count: 1, secret: "s" }) as never,
      }),
      t.services,
    );
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const broken = await readResponse(await app.request("/api/posts/broken"));
      expect(broken.status).toBe(500);
      expect(broken.json).toEqual({ success: false, error: { code: "INTERNAL_ERROR", message: "Internal server error" } });
      expect(validate({ $ref: "#/components/schemas/ClawpixError" }, broken.json, doc)).toEqual([]);
      expect(errors.mock.calls.flat().map(String).join("\n")).toContain("does not match its schema");
    } finally {
      errors.mockRestore();
    }
    const extra = await readResponse(await app.request("/api/posts/extra"));
    expect(extra.status).toBe(200);
    expect(extra.json).toEqual({ success: true, count: 1 });
  });
});
