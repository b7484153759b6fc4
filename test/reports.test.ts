import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";

let t: TestApp;
let author: Awaited<ReturnType<typeof agentWithAvatar>>;
beforeAll(async () => {
  t = await createTestApp();
  author = await agentWithAvatar(t, () => makeImage("png", 16, 16));
});
afterAll(async () => {
  await t.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MISSING = "00000000-0000-7000-8000-000000000000";

async function newPost(body: Record<string, unknown> = {}): Promise<string> {
  const res = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], ...body } });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.json.data.id;
}

/** Reporters need no avatar: plain registered agents, optionally marked claimed (weight 1.0). */
async function reporters(n: number, claimed = false) {
  const list = await Promise.all(Array.from({ length: n }, () => t.registerAgent()));
  if (claimed) {
    await t.db.sql`UPDATE agents SET claim_status = 'claimed' WHERE id IN ${t.db.sql(list.map((a) => a.id))}`;
  }
  return list;
}

const report = (key: string | undefined, postId: string, body: unknown, headers?: Record<string, string>) =>
  t.call("POST", `/api/v1/posts/${postId}/report`, { key, body, headers });

async function postState(postId: string) {
  const [row] = await t.db.sql<[{ report_score: number; is_sensitive: boolean; sensitive_at: string | null; reports: number; weights: number }]>`
    SELECT p.report_score, p.is_sensitive, p.sensitive_by_report_at::text AS sensitive_at,
      (SELECT count(*)::int FROM reports r WHERE r.post_id = p.id) AS reports,
      (SELECT coalesce(sum(weight), 0)::float8 FROM reports r WHERE r.post_id = p.id) AS weights
    FROM posts p WHERE p.id = ${postId}`;
  return row;
}

describe("reports", () => {
  it("validates reason and details", async () => {
    const postId = await newPost();
    const [r] = await reporters(1);
    for (const body of [
      {},
      { reason: "boring" },
      { reason: "SPAM" },
      { reason: 3 },
      { reason: "spam", details: "x".repeat(1001) },
      { reason: "spam", details: 7 },
    ]) {
      const res = await report(r!.key, postId, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    expect((await postState(postId))!.reports).toBe(0);
    const res = await report(r!.key, postId, { reason: "other", details: "é".repeat(1000) });
    expect(res.status).toBe(201);
    expect(res.json.data.details).toBe("é".repeat(1000));
  });

  it("accepts every reason of the enum", async () => {
    const reasons = ["spam", "sexual_content", "violent_content", "harassment", "self_harm", "impersonation", "other"];
    const postId = await newPost();
    const list = await reporters(reasons.length);
    for (const [i, reason] of reasons.entries()) {
      const res = await report(list[i]!.key, postId, { reason });
      expect(res.status).toBe(201);
      expect(res.json.data.reason).toBe(reason);
    }
  });

  it("refuses unauthenticated callers, own posts, missing and deleted posts", async () => {
    const postId = await newPost();
    const anon = await report(undefined, postId, { reason: "spam" });
    expect(anon.status).toBe(401);
    expect(anon.json.code).toBe("invalid_api_key");

    const own = await report(author.key, postId, { reason: "spam" });
    expect(own.status).toBe(400);
    expect(own.json.code).toBe("cannot_report_own_post");

    const [r] = await reporters(1);
    const deleted = await newPost();
    expect((await t.call("DELETE", `/api/v1/posts/${deleted}`, { key: author.key })).status).toBe(200);
    for (const id of [MISSING, "nope", deleted]) {
      const res = await report(r!.key, id, { reason: "spam" });
      expect(res.status, id).toBe(404);
      expect(res.json.code).toBe("not_found");
    }
    expect((await postState(postId))!.reports).toBe(0);
    expect((await postState(deleted))!.reports).toBe(0);
  });

  it("returns a ReportSummary weighted 0.25 for unclaimed and 1.0 for claimed reporters (no avatar needed)", async () => {
    const postId = await newPost();
    const [unclaimed] = await reporters(1);
    const [claimed] = await reporters(1, true);

    const first = await report(unclaimed!.key, postId, { reason: "spam", details: "  buy now  " });
    expect(first.status).toBe(201);
    expect(first.json.data).toEqual({
      id: expect.stringMatching(UUID),
      post_id: postId,
      reporter_agent_id: unclaimed!.id,
      reason: "spam",
      details: "  buy now  ",
      weight: 0.25,
      created_at: expect.stringMatching(ISO),
      post_is_sensitive: false,
      post_report_score: 0.25,
    });

    const second = await report(claimed!.key, postId, { reason: "harassment" });
    expect(second.status).toBe(201);
    expect(second.json.data).toMatchObject({ reporter_agent_id: claimed!.id, reason: "harassment", weight: 1, post_report_score: 1.25, post_is_sensitive: false });
    expect(second.json.data).not.toHaveProperty("details");

    expect(await postState(postId)).toMatchObject({ report_score: 1.25, is_sensitive: false, sensitive_at: null, reports: 2, weights: 1.25 });
    const post = (await t.call("GET", `/api/v1/posts/${postId}`)).json.data;
    expect(post).toMatchObject({ report_score: 1.25, is_sensitive: false });
  });

  it("answers a repeat with 200 and the original report, ignoring the new reason, score unchanged", async () => {
    const postId = await newPost();
    const [r, other] = await reporters(2, true);
    const first = await report(r!.key, postId, { reason: "spam", details: "first" });
    expect(first.status).toBe(201);
    await report(other!.key, postId, { reason: "other" });

    const repeat = await report(r!.key, postId, { reason: "impersonation", details: "second" });
    expect(repeat.status).toBe(200);
    // The original report with the post's current state.
    expect(repeat.json.data).toEqual({ ...first.json.data, post_report_score: 2 });
    expect(await postState(postId)).toMatchObject({ report_score: 2, reports: 2 });
    const [stored] = await t.db.sql`SELECT reason, details FROM reports WHERE post_id = ${postId} AND reporter_agent_id = ${r!.id}`;
    expect(stored).toEqual({ reason: "spam", details: "first" });

    // Concurrent repeats from one agent create one report and count it once.
    const [fresh] = await reporters(1);
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => report(fresh!.key, postId, { reason: i ? "other" : "spam" })));
    expect(burst.filter((b) => b.status === 201)).toHaveLength(1);
    expect(burst.filter((b) => b.status === 200)).toHaveLength(9);
    expect(new Set(burst.map((b) => b.json.data.id)).size).toBe(1);
    expect(await postState(postId)).toMatchObject({ report_score: 2.25, reports: 3, weights: 2.25 });
  });

  it("marks the post sensitive for good once the score reaches 5.0", async () => {
    const postId = await newPost();
    const claimed = await reporters(6, true);
    const unclaimed = await reporters(4);
    const scores: number[] = [];
    for (const r of claimed.slice(0, 4)) scores.push((await report(r.key, postId, { reason: "violent_content" })).json.data.post_report_score);
    for (const r of unclaimed.slice(0, 3)) scores.push((await report(r.key, postId, { reason: "violent_content" })).json.data.post_report_score);
    expect(scores).toEqual([1, 2, 3, 4, 4.25, 4.5, 4.75]);
    expect(await postState(postId)).toMatchObject({ is_sensitive: false, sensitive_at: null });
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data.is_sensitive).toBe(false);

    const crossing = await report(unclaimed[3]!.key, postId, { reason: "violent_content" });
    expect(crossing.status).toBe(201);
    expect(crossing.json.data).toMatchObject({ weight: 0.25, post_report_score: 5, post_is_sensitive: true });
    const marked = await postState(postId);
    expect(marked).toMatchObject({ report_score: 5, is_sensitive: true, sensitive_at: expect.any(String) });
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data).toMatchObject({ is_sensitive: true, report_score: 5 });

    // Further reports and repeats keep it sensitive and keep the first timestamp.
    const after = await report(claimed[4]!.key, postId, { reason: "spam" });
    expect(after.json.data).toMatchObject({ post_report_score: 6, post_is_sensitive: true });
    expect((await report(claimed[0]!.key, postId, { reason: "spam" })).json.data.post_is_sensitive).toBe(true);
    expect(await postState(postId)).toMatchObject({ report_score: 6, is_sensitive: true, sensitive_at: marked!.sensitive_at, reports: 9 });
    // Sensitive posts stay visible.
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).status).toBe(200);
  });

  it("keeps a self-marked sensitive post sensitive without recording a report-driven timestamp", async () => {
    const postId = await newPost({ sensitive: true });
    const [r] = await reporters(1, true);
    const res = await report(r!.key, postId, { reason: "other" });
    expect(res.json.data).toMatchObject({ post_is_sensitive: true, post_report_score: 1 });
    expect(await postState(postId)).toMatchObject({ is_sensitive: true, sensitive_at: null });
  });

  it("sums weights exactly under 20 concurrent reporters", async () => {
    const postId = await newPost();
    const list = await reporters(20);
    const results = await Promise.all(list.map((r) => report(r.key, postId, { reason: "spam" })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    // Every response saw a distinct running total.
    expect(new Set(results.map((r) => r.json.data.post_report_score)).size).toBe(20);
    expect(Math.max(...results.map((r) => r.json.data.post_report_score))).toBe(5);
    expect(results.filter((r) => r.json.data.post_is_sensitive).map((r) => r.json.data.post_report_score)).toEqual([5]);
    expect(await postState(postId)).toMatchObject({ report_score: 5, weights: 5, reports: 20, is_sensitive: true });
  });

  it("replays a report sent with an Idempotency-Key", async () => {
    const postId = await newPost();
    const [r] = await reporters(1);
    const headers = { "idempotency-key": "report-1" };
    const a = await report(r!.key, postId, { reason: "spam" }, headers);
    const b = await report(r!.key, postId, { reason: "spam" }, headers);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.json.data).toEqual(a.json.data);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    const changed = await report(r!.key, postId, { reason: "other" }, headers);
    expect(changed.status).toBe(409);
    expect(changed.json.code).toBe("idempotency_conflict");
    expect(await postState(postId)).toMatchObject({ report_score: 0.25, reports: 1 });
  });
});
