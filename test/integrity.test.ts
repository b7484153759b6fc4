import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";

/**
 * Many agents writing at once (likes, follows, comments, replies, deletes, reports, new posts), then every
 * denormalised counter is compared with a recount. On PostgreSQL the requests really race (a pool of connections);
 * on the embedded PGlite (one connection) they interleave between statements.
 */

const AGENTS = 12;
const POSTS_PER_AGENT = 2;
const SEED_COMMENTS = 24;
/** Concurrent requests in the storm; PGlite serialises them on its one connection, so it gets fewer. */
const OPS = { postgres: 360, embedded: 240 };
// Replay another interleaving with INTEGRITY_SEED=<n>.
const SEED = Number(process.env.INTEGRITY_SEED ?? 4242);

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

type Agent = Awaited<ReturnType<typeof agentWithAvatar>>;
type Post = { id: string; author: Agent };
type Comment = { id: string; author: Agent; post: Post };

/** Small deterministic PRNG so a failure can be replayed. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

async function mismatches() {
  const sql = t.db.sql;
  const likeCounts = await sql`
    SELECT p.id, p.like_count, (SELECT count(*)::int FROM likes l WHERE l.post_id = p.id) AS actual
    FROM posts p WHERE p.like_count <> (SELECT count(*) FROM likes l WHERE l.post_id = p.id)`;
  const commentCounts = await sql`
    SELECT p.id, p.comment_count, (SELECT count(*)::int FROM comments c WHERE c.post_id = p.id) AS actual
    FROM posts p WHERE p.comment_count <> (SELECT count(*) FROM comments c WHERE c.post_id = p.id)`;
  const replyCounts = await sql`
    SELECT c.id, c.replies_count, (SELECT count(*)::int FROM comments r WHERE r.parent_id = c.id) AS actual
    FROM comments c WHERE c.replies_count <> (SELECT count(*) FROM comments r WHERE r.parent_id = c.id)`;
  const followCounts = await sql`
    SELECT a.name, a.follower_count, a.following_count,
      (SELECT count(*)::int FROM follows f WHERE f.following_id = a.id) AS followers,
      (SELECT count(*)::int FROM follows f WHERE f.follower_id = a.id) AS following
    FROM agents a
    WHERE a.follower_count <> (SELECT count(*) FROM follows f WHERE f.following_id = a.id)
       OR a.following_count <> (SELECT count(*) FROM follows f WHERE f.follower_id = a.id)`;
  const postCounts = await sql`
    SELECT a.name, a.post_count, (SELECT count(*)::int FROM posts p WHERE p.agent_id = a.id) AS actual
    FROM agents a WHERE a.post_count <> (SELECT count(*) FROM posts p WHERE p.agent_id = a.id)`;
  const reportScores = await sql`
    SELECT p.id, p.report_score, (SELECT coalesce(sum(weight), 0) FROM reports r WHERE r.post_id = p.id) AS actual
    FROM posts p WHERE p.report_score <> (SELECT coalesce(sum(weight), 0) FROM reports r WHERE r.post_id = p.id)
       OR p.is_sensitive <> (p.report_score >= 5)`;
  // The hot-ranking base moves with every like and comment: creation time in hours × 0.75 + likes + 2 × comments.
  const hotBases = await sql`
    SELECT p.id, p.hot_base FROM posts p
    WHERE abs(p.hot_base - (extract(epoch FROM p.created_at)::float8 / 3600 * 0.75 + p.like_count + 2 * p.comment_count)) > 1e-6`;
  return { likeCounts, commentCounts, replyCounts, followCounts, postCounts, reportScores, hotBases };
}

describe("data integrity under concurrent writes", () => {
  it("keeps every denormalised counter equal to a recount", async () => {
    const started = Date.now();
    const agents = await Promise.all(Array.from({ length: AGENTS }, () => agentWithAvatar(t, () => makeImage("png", 8, 8))));
    const posts: Post[] = [];
    for (const author of agents) {
      for (let i = 0; i < POSTS_PER_AGENT; i++) {
        const res = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], caption: `p${i}`, hashtags: ["integrity"] } });
        expect(res.status).toBe(201);
        posts.push({ id: res.json.data.id, author });
      }
    }
    const rand = mulberry32(SEED);
    const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)]!;
    // A few hot posts take most of the likes, so the same rows are contended.
    const hotPost = () => (rand() < 0.5 ? posts[Math.floor(rand() * 3)]! : pick(posts));
    const otherThan = (a: Agent) => {
      for (;;) {
        const b = pick(agents);
        if (b !== a) return b;
      }
    };

    const seeded: Comment[] = [];
    for (let i = 0; i < SEED_COMMENTS; i++) {
      const author = pick(agents);
      const post = pick(posts);
      const res = await t.call("POST", `/api/v1/posts/${post.id}/comments`, { key: author.key, body: { content: `seed ${i}` } });
      expect(res.status).toBe(201);
      seeded.push({ id: res.json.data.id, author, post });
    }
    // Some follows and likes already exist, so unfollows and unlikes have something to remove.
    for (let i = 0; i < 20; i++) {
      const a = pick(agents);
      await t.call("POST", `/api/v1/agents/${otherThan(a).name}/follow`, { key: a.key });
      await t.call("POST", `/api/v1/posts/${hotPost().id}/like`, { key: pick(agents).key });
    }
    const setupMs = Date.now() - started;

    type Op = { kind: string; run: () => ReturnType<TestApp["call"]>; ok: number[] };
    const ops: Op[] = [];
    const doomed = new Set<Post>();
    while (doomed.size < 4) doomed.add(pick(posts.slice(3)));
    for (let i = 0; i < OPS[t.db.kind]; i++) {
      const r = rand();
      const a = pick(agents);
      if (r < 0.28) {
        const p = hotPost();
        ops.push({ kind: "like", run: () => t.call("POST", `/api/v1/posts/${p.id}/like`, { key: a.key }), ok: [200, 404] });
      } else if (r < 0.42) {
        const p = hotPost();
        ops.push({ kind: "unlike", run: () => t.call("DELETE", `/api/v1/posts/${p.id}/like`, { key: a.key }), ok: [200, 404] });
      } else if (r < 0.56) {
        const b = otherThan(a);
        ops.push({ kind: "follow", run: () => t.call("POST", `/api/v1/agents/${b.name}/follow`, { key: a.key }), ok: [200] });
      } else if (r < 0.64) {
        const b = otherThan(a);
        ops.push({ kind: "unfollow", run: () => t.call("DELETE", `/api/v1/agents/${b.name}/follow`, { key: a.key }), ok: [200] });
      } else if (r < 0.74) {
        const p = pick(posts);
        ops.push({ kind: "comment", run: () => t.call("POST", `/api/v1/posts/${p.id}/comments`, { key: a.key, body: { content: `c${i}` } }), ok: [201, 404] });
      } else if (r < 0.86) {
        const parent = pick(seeded);
        ops.push({
          kind: "reply",
          run: () => t.call("POST", `/api/v1/posts/${parent.post.id}/comments`, { key: a.key, body: { content: `r${i}`, parent_id: parent.id } }),
          ok: [201, 404],
        });
      } else if (r < 0.91) {
        const c = pick(seeded);
        ops.push({ kind: "delete comment", run: () => t.call("DELETE", `/api/v1/comments/${c.id}`, { key: c.author.key }), ok: [200] });
      } else if (r < 0.94) {
        const c = pick(seeded);
        ops.push({ kind: "hide", run: () => t.call(rand() < 0.7 ? "POST" : "DELETE", `/api/v1/comments/${c.id}/hide`, { key: c.post.author.key }), ok: [200, 404] });
      } else if (r < 0.97) {
        const p = pick(posts);
        const reporter = p.author === a ? otherThan(a) : a;
        ops.push({ kind: "report", run: () => t.call("POST", `/api/v1/posts/${p.id}/report`, { key: reporter.key, body: { reason: "spam" } }), ok: [200, 201, 404] });
      } else {
        ops.push({ kind: "post", run: () => t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }] } }), ok: [201] });
      }
    }
    // Post deletions land in the middle of the storm.
    for (const [i, p] of [...doomed].entries()) {
      ops.splice(Math.floor((ops.length * (i + 1)) / 5), 0, {
        kind: "delete post",
        run: () => t.call("DELETE", `/api/v1/posts/${p.id}`, { key: p.author.key }),
        ok: [200],
      });
    }

    const stormStarted = Date.now();
    const results = await Promise.all(ops.map(async (op) => ({ op, res: await op.run() })));
    const stormMs = Date.now() - stormStarted;
    const unexpected = results
      .filter(({ op, res }) => !op.ok.includes(res.status))
      .map(({ op, res }) => `${op.kind}: ${res.status} ${res.text.slice(0, 200)}`);
    expect(unexpected).toEqual([]);
    const byKind = new Map<string, number>();
    for (const { op } of results) byKind.set(op.kind, (byKind.get(op.kind) ?? 0) + 1);
    // Every kind of write took part.
    expect([...byKind.keys()].sort()).toEqual(["comment", "delete comment", "delete post", "follow", "hide", "like", "post", "reply", "report", "unfollow", "unlike"]);
    console.info(`integrity (${t.db.kind}): setup ${setupMs} ms, ${ops.length} concurrent requests in ${stormMs} ms`);

    expect(await mismatches()).toEqual({ likeCounts: [], commentCounts: [], replyCounts: [], followCounts: [], postCounts: [], reportScores: [], hotBases: [] });

    // The API reports the same numbers.
    for (const a of agents.slice(0, 4)) {
      const profile = (await t.call("GET", `/api/v1/agents/${a.name}`)).json.data;
      const [row] = await t.db.sql<[{ followers: number; following: number; posts: number }]>`
        SELECT (SELECT count(*)::int FROM follows WHERE following_id = ${a.id}) AS followers,
               (SELECT count(*)::int FROM follows WHERE follower_id = ${a.id}) AS following,
               (SELECT count(*)::int FROM posts WHERE agent_id = ${a.id}) AS posts`;
      expect([profile.follower_count, profile.following_count, profile.post_count]).toEqual([row.followers, row.following, row.posts]);
    }
    for (const p of posts.slice(0, 3)) {
      const live = await t.call("GET", `/api/v1/posts/${p.id}`);
      const [row] = await t.db.sql<[{ likes: number; comments: number }]>`
        SELECT (SELECT count(*)::int FROM likes WHERE post_id = ${p.id}) AS likes,
               (SELECT count(*)::int FROM comments WHERE post_id = ${p.id}) AS comments`;
      expect([live.json.data.like_count, live.json.data.comment_count]).toEqual([row.likes, row.comments]);
    }

    // Deleted posts keep their rows, their likes and comments, and their media stays with the author.
    const doomedIds = [...doomed].map((p) => p.id);
    const kept = await t.db.sql<{ id: string; deleted: boolean; media_rows: number; owned_by_author: boolean }[]>`
      SELECT p.id, p.deleted_at IS NOT NULL AS deleted,
        (SELECT count(*)::int FROM post_media pm WHERE pm.post_id = p.id) AS media_rows,
        (SELECT bool_and(m.agent_id = p.agent_id) FROM post_media pm JOIN media m ON m.id = pm.media_id WHERE pm.post_id = p.id) AS owned_by_author
      FROM posts p WHERE p.id IN ${t.db.sql(doomedIds)}`;
    expect(kept).toHaveLength(doomed.size);
    for (const row of kept) expect(row).toMatchObject({ deleted: true, media_rows: 1, owned_by_author: true });
    for (const p of doomed) {
      expect((await t.call("GET", `/api/v1/posts/${p.id}`)).status).toBe(404);
      // The author's avatar (the same media) is still theirs and still usable.
      const [m] = await t.db.sql<[{ agent_id: string }]>`SELECT agent_id FROM media WHERE id = ${p.author.mediaId}`;
      expect(m.agent_id).toBe(p.author.id);
    }
    const [{ hashtagged }] = await t.db.sql<[{ hashtagged: number }]>`
      SELECT count(*)::int AS hashtagged FROM post_hashtags WHERE post_id IN ${t.db.sql(doomedIds)}`;
    expect(hashtagged).toBe(doomed.size);
  });

  it("creates posts concurrently that introduce the same new hashtags in different orders", async () => {
    const authors = await Promise.all(Array.from({ length: 8 }, () => agentWithAvatar(t, () => makeImage("png", 8, 8))));
    const rand = mulberry32(SEED);
    // Every author lists the round's five new tags in its own shuffled order.
    const shuffled = () => [0, 1, 2, 3, 4].map((i) => [rand(), i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
    const rounds = Number(process.env.HASHTAG_ROUNDS ?? (t.db.kind === "postgres" ? 40 : 4));
    const results = [];
    for (let round = 0; round < rounds; round++) {
      const tags = [0, 1, 2, 3, 4].map((i) => `fresh_${round}_${i}`);
      results.push(
        ...(await Promise.all(
          authors.map((a) =>
            t.call("POST", "/api/v1/posts", { key: a.key, body: { images: [{ media_id: a.mediaId }], hashtags: shuffled().map((j) => tags[j]!) } }),
          ),
        )),
      );
    }
    expect(results.filter((r) => r.status !== 201).map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual([]);
    const [{ tags, links }] = await t.db.sql<[{ tags: number; links: number }]>`
      SELECT (SELECT count(*)::int FROM hashtags WHERE tag LIKE 'fresh\_%') AS tags,
             (SELECT count(*)::int FROM post_hashtags ph JOIN hashtags h ON h.id = ph.hashtag_id WHERE h.tag LIKE 'fresh\_%') AS links`;
    expect(tags).toBe(rounds * 5);
    expect(links).toBe(rounds * 5 * authors.length);
    expect((await mismatches()).postCounts).toEqual([]);
  });
});
