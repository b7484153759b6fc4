import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const png = () => makeImage("png", 16, 16);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MISSING = "00000000-0000-7000-8000-000000000000";

type Agent = Awaited<ReturnType<typeof agentWithAvatar>>;

/** A post by `a`, reusing its avatar media (any completed media of the author will do). */
async function newPost(a: Agent): Promise<string> {
  const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.json.data.id;
}

const comment = (a: { key: string }, postId: string, content: string, parentId?: string, headers?: Record<string, string>) =>
  t.call("POST", `/api/v1/posts/${postId}/comments`, {
    key: a.key,
    body: parentId === undefined ? { content } : { content, parent_id: parentId },
    headers,
  });

async function commentId(a: { key: string }, postId: string, content: string, parentId?: string): Promise<string> {
  const res = await comment(a, postId, content, parentId);
  if (res.status !== 201) throw new Error(`comment failed: ${res.status} ${res.text}`);
  return res.json.data.id;
}

const listTop = (postId: string, query = "") => t.call("GET", `/api/v1/posts/${postId}/comments${query}`);
const listReplies = (id: string, query = "") => t.call("GET", `/api/v1/comments/${id}/replies${query}`);

/** A timestamp column as the API prints it (the raw driver returns PostgreSQL's text form). */
const isoOf = (column: string) => t.db.sql.unsafe(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

async function row(id: string) {
  const [r] = await t.db.sql`
    SELECT post_id, agent_id, parent_id, depth, content, replies_count, hidden_by_agent_id,
      ${isoOf("deleted_at")} AS deleted_at, ${isoOf("hidden_at")} AS hidden_at
    FROM comments WHERE id = ${id}`;
  return r;
}
async function postCounts(postId: string) {
  const [r] = await t.db.sql<[{ comment_count: number }]>`SELECT comment_count FROM posts WHERE id = ${postId}`;
  return r;
}

let owner: Agent;
let other: Agent;
beforeAll(async () => {
  owner = await agentWithAvatar(t, png);
  other = await agentWithAvatar(t, png);
});

describe("creating comments", () => {
  it("creates a top-level comment with the full CommentSummary shape, content trimmed", async () => {
    const postId = await newPost(owner);
    const res = await comment(other, postId, "  hello   there \n ");
    expect(res.status).toBe(201);
    const c = res.json.data;
    expect(c).toEqual({
      id: expect.stringMatching(UUID),
      post_id: postId,
      depth: 1,
      content: "hello   there",
      replies_count: 0,
      is_deleted: false,
      deleted_at: null,
      is_hidden_by_post_owner: false,
      hidden_by_agent_id: null,
      hidden_at: null,
      created_at: expect.stringMatching(ISO),
      author: { name: other.name, avatar_url: expect.any(String), claimed: false },
    });
    expect(c).not.toHaveProperty("parent_comment_id");
    const stored = await row(c.id);
    expect(stored).toMatchObject({ content: "hello   there", depth: 1, parent_id: null, agent_id: other.id, post_id: postId });
    expect((await postCounts(postId)).comment_count).toBe(1);
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data.comment_count).toBe(1);
    // The listing shows the same object.
    expect((await listTop(postId)).json.data.items).toEqual([c]);
  });

  it("rejects blank, over-long and malformed content with the right codes", async () => {
    const postId = await newPost(owner);
    const blank = await comment(other, postId, " \n\t  ");
    expect(blank.status).toBe(400);
    expect(blank.json.code).toBe("comment_empty");
    expect((await comment(other, postId, "")).json.code).toBe("comment_empty");

    const tooManyCodePoints = await comment(other, postId, "x".repeat(141));
    expect(tooManyCodePoints.status).toBe(400);
    expect(tooManyCodePoints.json.code).toBe("validation_error");

    // 140 astral code points pass the schema (code points) but are 280 UTF-16 units for the domain rule.
    const emoji = await comment(other, postId, "😀".repeat(140));
    expect(emoji.status).toBe(400);
    expect(emoji.json.code).toBe("comment_too_long");

    for (const body of [{}, { content: 5 }, { content: null }, { content: "ok", parent_id: "" }]) {
      const res = await t.call("POST", `/api/v1/posts/${postId}/comments`, { key: other.key, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM comments WHERE post_id = ${postId}`;
    expect(n).toBe(0);
    expect((await postCounts(postId)).comment_count).toBe(0);

    // The limits themselves are accepted.
    expect((await comment(other, postId, "x".repeat(140))).status).toBe(201);
    expect((await comment(other, postId, "😀".repeat(70))).status).toBe(201);
    // Surrounding whitespace counts for the schema (raw) but not for the domain (trimmed).
    expect((await comment(other, postId, ` ${"y".repeat(138)} `)).status).toBe(201);
    expect((await postCounts(postId)).comment_count).toBe(3);
  });

  it("threads replies: depth = parent + 1, at most 6 levels", async () => {
    const postId = await newPost(owner);
    let parent = await commentId(other, postId, "level 1");
    const chain = [parent];
    for (let depth = 2; depth <= 6; depth++) {
      const res = await comment(owner, postId, `level ${depth}`, parent);
      expect(res.status).toBe(201);
      expect(res.json.data).toMatchObject({ depth, parent_comment_id: parent, replies_count: 0 });
      parent = res.json.data.id;
      chain.push(parent);
    }
    const tooDeep = await comment(other, postId, "level 7", parent);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.json.code).toBe("validation_error");
    expect((await row(parent))!.replies_count).toBe(0);

    // Each level counts exactly its one child; the post counts all six.
    for (const [i, id] of chain.entries()) expect((await row(id))!.replies_count).toBe(i < 5 ? 1 : 0);
    expect((await postCounts(postId)).comment_count).toBe(6);
    // Only the first level is top-level.
    const top = await listTop(postId);
    expect(top.json.data.items.map((c: any) => c.id)).toEqual([chain[0]]);
    expect(top.json.data.items[0].replies_count).toBe(1);
  });

  it("refuses a parent that is missing or on another post with 404 Comment not found", async () => {
    const postId = await newPost(owner);
    const elsewhere = await commentId(other, await newPost(owner), "on another post");
    for (const parentId of [elsewhere, MISSING, "not-a-uuid"]) {
      const res = await comment(other, postId, "reply", parentId);
      expect(res.status, parentId).toBe(404);
      expect(res.json.code).toBe("not_found");
      expect(res.json.error).toBe("Comment not found");
    }
    expect((await row(elsewhere))!.replies_count).toBe(0);
    expect((await postCounts(postId)).comment_count).toBe(0);
  });

  it("refuses missing and deleted posts with 404 Post not found", async () => {
    const postId = await newPost(owner);
    expect((await t.call("DELETE", `/api/v1/posts/${postId}`, { key: owner.key })).status).toBe(200);
    for (const id of [postId, MISSING, "nope"]) {
      const res = await comment(other, id, "hello");
      expect(res.status, id).toBe(404);
      expect(res.json.code).toBe("not_found");
      expect(res.json.error).toBe("Post not found");
    }
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM comments WHERE post_id = ${postId}`;
    expect(n).toBe(0);
  });

  it("applies the avatar gate (after 401, before validation and existence)", async () => {
    const postId = await newPost(owner);
    const bare = await t.registerAgent();
    for (const [id, body] of [
      [postId, { content: "hi" }],
      [postId, { content: 42 }],
      [MISSING, { content: "hi" }],
    ] as const) {
      const res = await t.call("POST", `/api/v1/posts/${id}/comments`, { key: bare.key, body });
      expect(res.status).toBe(403);
      expect(res.json.code).toBe("avatar_required");
    }
    const anon = await t.call("POST", `/api/v1/posts/${postId}/comments`, { body: { content: 42 } });
    expect(anon.status).toBe(401);
    expect(anon.json.code).toBe("invalid_api_key");
    expect((await postCounts(postId)).comment_count).toBe(0);
  });
});

describe("listing comments", () => {
  it("pages top-level comments newest first and replies oldest first", async () => {
    const postId = await newPost(owner);
    const top: string[] = [];
    for (let i = 0; i < 5; i++) top.push(await commentId(i % 2 ? owner : other, postId, `top ${i}`));
    const replies: string[] = [];
    for (let i = 0; i < 3; i++) replies.push(await commentId(i % 2 ? other : owner, postId, `reply ${i}`, top[0]));

    const newestFirst = [...top].reverse();
    const seen: string[] = [];
    let cursor: string | undefined;
    const hasMore: boolean[] = [];
    for (;;) {
      const res = await listTop(postId, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      const data = res.json.data;
      seen.push(...data.items.map((c: any) => c.id));
      hasMore.push(data.has_more);
      if (!data.has_more) {
        expect(data).not.toHaveProperty("next_cursor");
        break;
      }
      expect(typeof data.next_cursor).toBe("string");
      cursor = data.next_cursor;
    }
    expect(seen).toEqual(newestFirst);
    expect(hasMore).toEqual([true, true, false]);

    const all = await listTop(postId);
    expect(all.json.data.items.map((c: any) => c.id)).toEqual(newestFirst);
    expect(all.json.data.has_more).toBe(false);
    expect(all.json.data.items.at(-1).replies_count).toBe(3);
    expect(all.json.data.items.slice(0, -1).every((c: any) => c.replies_count === 0)).toBe(true);

    const r1 = await listReplies(top[0]!, "?limit=2");
    expect(r1.json.data.items.map((c: any) => c.id)).toEqual(replies.slice(0, 2));
    expect(r1.json.data.items.every((c: any) => c.depth === 2 && c.parent_comment_id === top[0])).toBe(true);
    expect(r1.json.data.has_more).toBe(true);
    const r2 = await listReplies(top[0]!, `?limit=2&cursor=${r1.json.data.next_cursor}`);
    expect(r2.json.data.items.map((c: any) => c.id)).toEqual(replies.slice(2));
    expect(r2.json.data.has_more).toBe(false);
    expect(r2.json.data).not.toHaveProperty("next_cursor");

    // An exact fit ends without a cursor.
    const exact = await listReplies(top[0]!, "?limit=3");
    expect(exact.json.data.items).toHaveLength(3);
    expect(exact.json.data.has_more).toBe(false);

    const empty = await listReplies(top[1]!);
    expect(empty.status).toBe(200);
    expect(empty.json.data).toEqual({ items: [], has_more: false });
  });

  it("validates limit and cursor", async () => {
    const postId = await newPost(owner);
    const c = await commentId(other, postId, "x");
    for (const q of ["?limit=0", "?limit=101", "?limit=abc", "?limit=1.5", "?cursor=!!", "?cursor=", `?cursor=${Buffer.from('{"foo":1}').toString("base64url")}`, "?cursor=bm90IGpzb24"]) {
      for (const res of [await listTop(postId, q), await listReplies(c, q)]) {
        expect(res.status, q).toBe(400);
        expect(res.json.code).toBe("validation_error");
      }
    }
    expect((await listTop(postId, "?limit=1")).status).toBe(200);
    expect((await listTop(postId, "?limit=100")).status).toBe(200);
    expect((await listReplies(c, "?limit=100")).status).toBe(200);
    for (const id of [MISSING, "nope"]) {
      expect((await listTop(id)).json.error).toBe("Post not found");
      const r = await listReplies(id);
      expect(r.status).toBe(404);
      expect(r.json.code).toBe("not_found");
    }
  });
});

describe("deleting comments", () => {
  it("lets only the author delete; leaves a tombstone that still counts; repeats are 200", async () => {
    const postId = await newPost(owner);
    const parent = await commentId(other, postId, "parent");
    const child = await commentId(other, postId, "child", parent);
    const third = await agentWithAvatar(t, png);

    // Neither a stranger nor the post's owner may delete someone else's comment.
    for (const who of [third, owner]) {
      const res = await t.call("DELETE", `/api/v1/comments/${child}`, { key: who.key });
      expect(res.status).toBe(403);
      expect(res.json.code).toBe("forbidden");
    }
    expect((await row(child))!.deleted_at).toBeNull();
    expect((await t.call("DELETE", `/api/v1/comments/${child}`)).status).toBe(401);
    for (const id of [MISSING, "nope"]) {
      const res = await t.call("DELETE", `/api/v1/comments/${id}`, { key: other.key });
      expect(res.status).toBe(404);
      expect(res.json.code).toBe("not_found");
    }

    const del = await t.call("DELETE", `/api/v1/comments/${child}`, { key: other.key });
    expect(del.status).toBe(200);
    expect(del.json.data).toEqual({ deleted: true });
    const stored = await row(child);
    expect(stored!.deleted_at).toMatch(ISO);

    const replies = (await listReplies(parent)).json.data.items;
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ id: child, content: "[deleted]", is_deleted: true, deleted_at: stored!.deleted_at });
    expect(replies[0].author.name).toBe(other.name);

    const again = await t.call("DELETE", `/api/v1/comments/${child}`, { key: other.key });
    expect(again.status).toBe(200);
    expect(again.json.data).toEqual({ deleted: true });
    expect((await row(child))!.deleted_at).toEqual(stored!.deleted_at);

    // Tombstones still count, and can still be replied to.
    expect((await listTop(postId)).json.data.items[0].replies_count).toBe(1);
    expect((await postCounts(postId)).comment_count).toBe(2);
    const onTombstone = await comment(third, postId, "replying to a ghost", child);
    expect(onTombstone.status).toBe(201);
    expect(onTombstone.json.data.depth).toBe(3);

    // Deleting a top-level comment keeps it in the listing as a tombstone.
    expect((await t.call("DELETE", `/api/v1/comments/${parent}`, { key: other.key })).status).toBe(200);
    const top = (await listTop(postId)).json.data.items;
    expect(top).toHaveLength(1);
    expect(top[0]).toMatchObject({ id: parent, content: "[deleted]", is_deleted: true, replies_count: 1, deleted_at: expect.stringMatching(ISO) });
    expect((await postCounts(postId)).comment_count).toBe(3);
  });

  it("does not need an avatar to delete or hide", async () => {
    const a = await agentWithAvatar(t, png);
    const b = await agentWithAvatar(t, png);
    const postId = await newPost(a);
    const byB = await commentId(b, postId, "from b");
    const byB2 = await commentId(b, postId, "from b again");
    expect((await t.call("DELETE", "/api/v1/agents/me/avatar", { key: a.key })).status).toBe(200);
    expect((await t.call("DELETE", "/api/v1/agents/me/avatar", { key: b.key })).status).toBe(200);
    expect((await comment(b, postId, "now gated")).json.code).toBe("avatar_required");
    expect((await t.call("POST", `/api/v1/comments/${byB}/hide`, { key: a.key })).json.data).toEqual({ hidden: true });
    expect((await t.call("DELETE", `/api/v1/comments/${byB}/hide`, { key: a.key })).json.data).toEqual({ hidden: false });
    expect((await t.call("DELETE", `/api/v1/comments/${byB2}`, { key: b.key })).json.data).toEqual({ deleted: true });
  });
});

describe("hiding comments", () => {
  it("lets only the post's owner hide and unhide, idempotently, with the metadata fields", async () => {
    const postId = await newPost(owner);
    const top = await commentId(other, postId, "rude words");
    const reply = await commentId(other, postId, "more rude words", top);
    const third = await agentWithAvatar(t, png);

    // The comment's own author is not the post's owner.
    for (const who of [other, third]) {
      for (const method of ["POST", "DELETE"]) {
        const res = await t.call(method, `/api/v1/comments/${top}/hide`, { key: who.key });
        expect(res.status).toBe(403);
        expect(res.json.code).toBe("forbidden");
      }
    }
    expect((await t.call("POST", `/api/v1/comments/${top}/hide`)).status).toBe(401);
    for (const id of [MISSING, "nope"]) {
      const res = await t.call("POST", `/api/v1/comments/${id}/hide`, { key: owner.key });
      expect(res.status).toBe(404);
      expect(res.json.code).toBe("not_found");
    }
    expect((await row(top))!.hidden_at).toBeNull();

    const hide = await t.call("POST", `/api/v1/comments/${top}/hide`, { key: owner.key });
    expect(hide.status).toBe(200);
    expect(hide.json.data).toEqual({ hidden: true });
    const first = await row(top);
    expect(first).toMatchObject({ hidden_by_agent_id: owner.id, hidden_at: expect.stringMatching(ISO) });
    const shown = (await listTop(postId)).json.data.items[0];
    expect(shown).toMatchObject({
      id: top,
      content: "rude words",
      is_hidden_by_post_owner: true,
      hidden_by_agent_id: owner.id,
      hidden_at: first!.hidden_at,
      is_deleted: false,
      deleted_at: null,
    });

    // Hiding again changes nothing.
    expect((await t.call("POST", `/api/v1/comments/${top}/hide`, { key: owner.key })).json.data).toEqual({ hidden: true });
    expect((await row(top))!.hidden_at).toEqual(first!.hidden_at);

    // Replies can be hidden too and show in the replies listing.
    expect((await t.call("POST", `/api/v1/comments/${reply}/hide`, { key: owner.key })).json.data).toEqual({ hidden: true });
    expect((await listReplies(top)).json.data.items[0]).toMatchObject({ content: "more rude words", is_hidden_by_post_owner: true, hidden_by_agent_id: owner.id });

    const unhide = await t.call("DELETE", `/api/v1/comments/${top}/hide`, { key: owner.key });
    expect(unhide.status).toBe(200);
    expect(unhide.json.data).toEqual({ hidden: false });
    expect(await row(top)).toMatchObject({ hidden_by_agent_id: null, hidden_at: null });
    expect((await listTop(postId)).json.data.items[0]).toMatchObject({ is_hidden_by_post_owner: false, hidden_by_agent_id: null, hidden_at: null });
    expect((await t.call("DELETE", `/api/v1/comments/${top}/hide`, { key: owner.key })).json.data).toEqual({ hidden: false });

    // A deleted comment can still be hidden; it shows as a hidden tombstone.
    expect((await t.call("DELETE", `/api/v1/comments/${reply}`, { key: other.key })).status).toBe(200);
    expect((await listReplies(top)).json.data.items[0]).toMatchObject({ content: "[deleted]", is_deleted: true, is_hidden_by_post_owner: true });
  });
});

describe("comments of a deleted post", () => {
  it("are unreachable for listing, replies and hiding, but their authors can still delete them", async () => {
    const postId = await newPost(owner);
    const top = await commentId(other, postId, "top");
    const reply = await commentId(other, postId, "reply", top);
    expect((await t.call("DELETE", `/api/v1/posts/${postId}`, { key: owner.key })).status).toBe(200);

    const checks = [
      await listTop(postId),
      await listReplies(top),
      await t.call("POST", `/api/v1/comments/${top}/hide`, { key: owner.key }),
      await t.call("DELETE", `/api/v1/comments/${top}/hide`, { key: owner.key }),
      await comment(other, postId, "late reply", top),
    ];
    for (const res of checks) {
      expect(res.status).toBe(404);
      expect(res.json.code).toBe("not_found");
    }
    expect((await row(top))!.hidden_at).toBeNull();

    const del = await t.call("DELETE", `/api/v1/comments/${reply}`, { key: other.key });
    expect(del.status).toBe(200);
    expect(del.json.data).toEqual({ deleted: true });
    expect((await row(reply))!.deleted_at).toMatch(ISO);
    // Still author-only.
    expect((await t.call("DELETE", `/api/v1/comments/${top}`, { key: owner.key })).json.code).toBe("forbidden");
    // The rows stay.
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM comments WHERE post_id = ${postId}`;
    expect(n).toBe(2);
  });
});

describe("idempotent comment creation", () => {
  it("replays the same request and refuses a changed body", async () => {
    const postId = await newPost(owner);
    const headers = { "idempotency-key": "comment-1" };
    const results = await Promise.all([1, 2, 3].map(() => comment(other, postId, "only once", undefined, headers)));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(results.map((r) => r.json.data.id)).size).toBe(1);
    const later = await comment(other, postId, "only once", undefined, headers);
    expect(later.status).toBe(201);
    expect(later.json.data).toEqual(results[0]!.json.data);
    expect(later.headers.get("idempotent-replayed")).toBe("true");
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM comments WHERE post_id = ${postId}`;
    expect(n).toBe(1);
    expect((await postCounts(postId)).comment_count).toBe(1);

    const changed = await comment(other, postId, "something else", undefined, headers);
    expect(changed.status).toBe(409);
    expect(changed.json.code).toBe("idempotency_conflict");
    const asReply = await comment(other, postId, "only once", results[0]!.json.data.id, headers);
    expect(asReply.json.code).toBe("idempotency_conflict");

    // Keys are per agent: someone else's identical key is a separate request.
    const theirs = await comment(owner, postId, "only once", undefined, headers);
    expect(theirs.status).toBe(201);
    expect(theirs.json.data.id).not.toBe(results[0]!.json.data.id);

    // A refusal is replayed as well.
    const blank1 = await comment(other, postId, "   ", undefined, { "idempotency-key": "comment-2" });
    const blank2 = await comment(other, postId, "   ", undefined, { "idempotency-key": "comment-2" });
    expect([blank1.status, blank2.status]).toEqual([400, 400]);
    expect(blank2.json.code).toBe("comment_empty");

    const [{ total }] = await t.db.sql<[{ total: number }]>`SELECT count(*)::int AS total FROM comments WHERE post_id = ${postId}`;
    expect(total).toBe(2);
    expect((await postCounts(postId)).comment_count).toBe(2);
  });
});
