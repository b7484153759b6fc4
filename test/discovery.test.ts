import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar, uploadImage } from "./helpers/media.ts";

let t: TestApp;
type A = Awaited<ReturnType<typeof agentWithAvatar>>;
let alpha: A;
let beta: A;
let gamma: A;

beforeAll(async () => {
  t = await createTestApp({ HOT_CACHE_MS: "0" });
  alpha = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  beta = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  gamma = await agentWithAvatar(t, () => makeImage("png", 8, 8));
  await t.call("PATCH", "/api/v1/agents/me", { key: gamma.key, body: { bio: "I paint Lobsters at dawn" } });
  await t.call("POST", `/api/v1/agents/${alpha.name}/follow`, { key: beta.key });
});
afterAll(async () => {
  await t.close();
});

async function post(a: A, caption: string, hashtags: string[] = []) {
  const { mediaId } = await uploadImage(t, a.key, await makeImage("jpeg", 16, 16), "image/jpeg");
  const res = await t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: mediaId }], caption, hashtags } });
  return res.json.data.id as string;
}

describe("search", () => {
  it("finds agents by name or bio, hashtags and posts, in buckets with their own cursors", async () => {
    await post(alpha, "A red Lobster on a rock", ["lobster", "sea"]);
    await post(beta, "nothing to see", ["lobsterart"]);
    await post(beta, "100% pure crab");
    const all = await t.call("GET", "/api/v1/search?q=LOBSTER");
    expect(all.status).toBe(200);
    const d = all.json.data;
    expect(d.query).toBe("LOBSTER");
    expect(d.type).toBe("all");
    expect(d.agents.items.map((a: any) => a.name)).toEqual([gamma.name]);
    expect(d.hashtags.items).toEqual([
      { tag: "lobster", post_count: 1 },
      { tag: "lobsterart", post_count: 1 },
    ]);
    expect(d.posts.items.map((p: any) => p.caption).sort()).toEqual(["A red Lobster on a rock", "nothing to see"]);
    expect(all.headers.get("access-control-allow-origin")).toBeNull(); // no Origin sent

    const byTag = await t.call("GET", `/api/v1/search?q=${encodeURIComponent("#lobsterart")}&type=posts`);
    expect(byTag.json.data.items.map((p: any) => p.caption)).toEqual(["nothing to see"]);
    const pct = await t.call("GET", `/api/v1/search?q=${encodeURIComponent("0%")}&type=posts`);
    expect(pct.json.data.items.map((p: any) => p.caption)).toEqual(["100% pure crab"]);

    const first = await t.call("GET", "/api/v1/search?q=lobster&type=hashtags&limit=1");
    expect(first.json.data).toMatchObject({ type: "hashtags", has_more: true, items: [{ tag: "lobster" }] });
    const second = await t.call("GET", `/api/v1/search?q=lobster&type=hashtags&limit=1&cursor=${first.json.data.next_cursor}`);
    expect(second.json.data).toMatchObject({ has_more: false, items: [{ tag: "lobsterart" }] });
    expect(second.json.data).not.toHaveProperty("next_cursor");
  });

  it("validates q, type, limits and cursors", async () => {
    for (const q of ["q=a", "", `q=${"x".repeat(101)}`, "q=ok&type=people", "q=ok&type=agents&limit=61", "q=ok&posts_limit=0", "q=ok&type=agents&cursor=zzz", "q=ok&agents_cursor=%24"]) {
      const res = await t.call("GET", `/api/v1/search?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
  });
});

describe("daily leaderboard", () => {
  it("scores a day's posts by first-24h engagement, provisional until D+2, then finalized with medals", async () => {
    const p1 = await post(alpha, "lb one");
    const p2 = await post(beta, "lb two");
    const p3 = await post(gamma, "lb three");
    await t.call("POST", `/api/v1/posts/${p2}/like`, { key: alpha.key });
    await t.call("POST", `/api/v1/posts/${p2}/like`, { key: gamma.key });
    await t.call("POST", `/api/v1/posts/${p3}/comments`, { key: alpha.key, body: { content: "nice" } });
    const late = await t.call("POST", `/api/v1/posts/${p1}/comments`, { key: beta.key, body: { content: "late" } });
    // Move everything to a day three days ago; the late comment lands after its post's first 24 h.
    const day = new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10);
    const at = `${day}T10:00:00.000Z`;
    await t.db.sql`UPDATE posts SET created_at = ${at}::timestamptz WHERE id IN (${p1}, ${p2}, ${p3})`;
    await t.db.sql`UPDATE likes SET created_at = ${at}::timestamptz + interval '1 hour' WHERE post_id = ${p2}`;
    await t.db.sql`UPDATE comments SET created_at = ${at}::timestamptz + interval '2 hours' WHERE post_id = ${p3}`;
    await t.db.sql`UPDATE comments SET created_at = ${at}::timestamptz + interval '30 hours' WHERE id = ${late.json.data.id}`;

    const live = await t.services.leaderboard.compute("agent_engaged", day, 100);
    expect(live.map((s) => [s.postId, s.score])).toEqual([
      [p2, 2],
      [p3, 2],
      [p1, 0],
    ]);
    // Day is due (3 days ago): the first read finalizes it.
    const res = await t.call("GET", `/api/v1/leaderboard/daily?date=${day}`);
    expect(res.status).toBe(200);
    const d = res.json.data;
    expect(d).toMatchObject({ board: "agent_engaged", contest_date_utc: day, status: "finalized" });
    expect(d.finalized_at).toBeTruthy();
    expect(d).not.toHaveProperty("finalizes_after");
    expect(d.items.map((i: any) => [i.rank, i.post.id, i.score, i.like_count, i.comment_count, i.medal])).toEqual([
      [1, p2, 2, 2, 0, "gold"],
      [2, p3, 2, 0, 1, "silver"],
      [3, p1, 0, 0, 0, "bronze"],
    ]);
    const awards = await t.db.sql`SELECT rank, medal FROM agent_daily_awards WHERE contest_date = ${day} ORDER BY rank`;
    expect(awards.map((a) => a.medal)).toEqual(["gold", "silver", "bronze"]);
    // Racing finalizers make one snapshot.
    await Promise.all([t.services.leaderboard.finalizeDue(), t.services.leaderboard.finalizeDue()]);
    const [{ n }] = await t.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM leaderboard_snapshots WHERE contest_date = ${day}`;
    expect(n).toBe(2); // one per board
  });

  it("is provisional for recent days, accepts human_liked, validates dates", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const res = await t.call("GET", `/api/v1/leaderboard/daily?date=${today}`);
    expect(res.json.data.status).toBe("provisional");
    expect(res.json.data.finalizes_after).toBe(new Date(Date.parse(`${today}T00:00:00Z`) + 2 * 86_400_000).toISOString());
    const human = await t.call("GET", "/api/v1/leaderboard/daily?board=human_liked");
    expect(human.status).toBe(200);
    expect(human.json.data).toMatchObject({ board: "human_liked", items: [] });
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    expect((await t.call("GET", "/api/v1/leaderboard/daily")).json.data.contest_date_utc).toBe(yesterday);
    for (const q of ["date=2026-02-30", "date=2026-2-3", "date=yesterday", "board=best", "limit=101"]) {
      expect((await t.call("GET", `/api/v1/leaderboard/daily?${q}`)).status, q).toBe(400);
    }
  });
});

describe("explore summary", () => {
  it("summarises the last 24 hours", async () => {
    const res = await t.call("GET", "/api/v1/explore/summary?limit=3");
    expect(res.status).toBe(200);
    const d = res.json.data;
    expect(d.agents.length).toBeGreaterThan(0);
    expect(d.agents[0]).toHaveProperty("post_count");
    expect(d.leaderboard[0]).toHaveProperty("score");
    expect(d.hashtags.map((h: any) => h.tag)).toContain("lobster");
    expect(res.headers.get("etag")).toMatch(/^W\//);
  });
});
