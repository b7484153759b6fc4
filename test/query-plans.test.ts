import { drizzle } from "drizzle-orm/postgres-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as schema from "../src/db/schema.ts";
import type { Database } from "../src/db/client.ts";
import { createServices } from "../src/services.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";

/**
 * Every list query is served by an index. The test seeds a few tens of thousands of rows straight into the tables,
 * runs ANALYZE, then calls the real domain functions through a drizzle instance that records their SQL, and
 * EXPLAINs exactly those statements with their parameters. No planner settings are changed (enable_seqscan stays on).
 * PGlite embeds PostgreSQL's own planner, so the same assertions hold there.
 */

const AGENTS = 1500;
const POSTS = 15000;
/** Rows behind each busy list (followers of agent 1, comments on post 2, replies to comment 1, ...). */
const BUSY = 1500;
const REPLIES = 5000;
const BIG_TABLES = ["posts", "comments", "likes", "follows", "post_hashtags"];

const id = (prefix: string, n: number) => `${prefix}0000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const agentId = (n: number) => id("a", n);
const postId = (n: number) => id("b", n);
const commentId = (n: number) => id("c", n);
const uuidSql = (prefix: string, expr: string) => `('${prefix}0000000-0000-4000-8000-' || lpad(to_hex(${expr}), 12, '0'))::uuid`;

/** Agent 1 is the celebrity (many posts, followers, followings); post 1 is liked by all; post 2 and comment 1 are busy threads. */
const SEED = [
  `INSERT INTO agents (id, name, bio, created_at)
   SELECT ${uuidSql("a", "g")}, 'seed_' || g, 'seeded', now() - g * interval '1 minute' FROM generate_series(1, ${AGENTS}) g`,
  `INSERT INTO posts (id, agent_id, caption, created_at, deleted_at)
   SELECT ${uuidSql("b", "g")}, ${uuidSql("a", `CASE WHEN g % 10 = 0 THEN 1 ELSE g % ${AGENTS} + 1 END`)}, 'post ' || g,
     now() - g * interval '10 seconds', CASE WHEN g % 50 = 0 THEN now() END
   FROM generate_series(1, ${POSTS}) g`,
  `INSERT INTO likes (post_id, agent_id, created_at)
   SELECT ${uuidSql("b", "p")}, ${uuidSql("a", `(p + k * 37) % ${AGENTS} + 1`)}, now() - p * interval '1 second'
   FROM generate_series(1, ${POSTS}) p, generate_series(1, 2) k`,
  `INSERT INTO likes (post_id, agent_id) SELECT ${uuidSql("b", "1")}, ${uuidSql("a", "g")} FROM generate_series(1, ${AGENTS}) g ON CONFLICT DO NOTHING`,
  `INSERT INTO follows (follower_id, following_id, created_at)
   SELECT ${uuidSql("a", "f")}, ${uuidSql("a", `(f + k * 13) % ${AGENTS} + 1`)}, now() - (f * 10 + k) * interval '1 second'
   FROM generate_series(1, ${AGENTS}) f, generate_series(1, 10) k`,
  `INSERT INTO follows (follower_id, following_id) SELECT ${uuidSql("a", "g")}, ${uuidSql("a", "1")} FROM generate_series(2, ${AGENTS}) g ON CONFLICT DO NOTHING`,
  `INSERT INTO follows (follower_id, following_id) SELECT ${uuidSql("a", "1")}, ${uuidSql("a", "g")} FROM generate_series(2, ${BUSY}) g ON CONFLICT DO NOTHING`,
  // One top-level comment per post, BUSY more on post 2, one reply to each of the first REPLIES, BUSY replies to comment 1.
  `INSERT INTO comments (id, post_id, agent_id, parent_id, depth, content, created_at)
   SELECT ${uuidSql("c", "g")}, ${uuidSql("b", "g")}, ${uuidSql("a", `g % ${AGENTS} + 1`)}, NULL, 1, 'c', now() - g * interval '1 second'
   FROM generate_series(1, ${POSTS}) g`,
  `INSERT INTO comments (id, post_id, agent_id, parent_id, depth, content, created_at)
   SELECT ${uuidSql("c", `${POSTS} + g`)}, ${uuidSql("b", "2")}, ${uuidSql("a", `g % ${AGENTS} + 1`)}, NULL, 1, 'c', now() - g * interval '1 second'
   FROM generate_series(1, ${BUSY}) g`,
  `INSERT INTO comments (id, post_id, agent_id, parent_id, depth, content, created_at)
   SELECT ${uuidSql("c", `${POSTS + BUSY} + g`)}, ${uuidSql("b", "g")}, ${uuidSql("a", `g % ${AGENTS} + 1`)}, ${uuidSql("c", "g")}, 2, 'r', now()
   FROM generate_series(1, ${REPLIES}) g`,
  `INSERT INTO comments (id, post_id, agent_id, parent_id, depth, content, created_at)
   SELECT ${uuidSql("c", `${POSTS + BUSY + REPLIES} + g`)}, ${uuidSql("b", "1")}, ${uuidSql("a", `g % ${AGENTS} + 1`)}, ${uuidSql("c", "1")}, 2, 'r', now() - g * interval '1 second'
   FROM generate_series(1, ${BUSY}) g`,
  `INSERT INTO hashtags (id, tag) SELECT ${uuidSql("d", "g")}, 'tag' || g FROM generate_series(1, 20) g`,
  `INSERT INTO hashtags (id, tag) VALUES (${uuidSql("d", "21")}, 'hot')`,
  `INSERT INTO post_hashtags (post_id, hashtag_id, post_created_at)
   SELECT p.id, ${uuidSql("d", "(row_number() OVER ()) % 20 + 1")}, p.created_at FROM posts p`,
  `INSERT INTO post_hashtags (post_id, hashtag_id, post_created_at)
   SELECT p.id, ${uuidSql("d", "21")}, p.created_at FROM posts p WHERE p.caption LIKE '%0'`,
  "ANALYZE",
];

type Captured = { query: string; params: unknown[] };
type PlanNode = { "Node Type": string; "Relation Name"?: string; "Index Name"?: string; Plans?: PlanNode[] };

let t: TestApp;
let captured: Captured[] = [];
let services: ReturnType<typeof createServices>;

beforeAll(async () => {
  t = await createTestApp();
  const seeding = Date.now();
  for (const statement of SEED) await t.db.sql.unsafe(statement);
  console.info(`query-plans (${t.db.kind}): seeded in ${Date.now() - seeding} ms`);
  // The real services over the same connection, with a drizzle logger that records each statement and its parameters.
  const db = drizzle(t.db.sql, { schema, logger: { logQuery: (query, params) => void captured.push({ query, params }) } });
  const recording: Database = { sql: t.db.sql, db, close: async () => {} };
  services = createServices(t.config, recording);
});
afterAll(async () => {
  await t.close();
});

const fromTable = (table: string) => new RegExp(`\\bfrom "${table}"`, "i");

/** Runs `action` and returns the one recorded statement matching `pattern` (a table name: the one reading from it). */
async function captureFrom(pattern: string | RegExp, action: () => Promise<unknown>): Promise<Captured> {
  captured = [];
  await action();
  const re = typeof pattern === "string" ? fromTable(pattern) : pattern;
  const matching = captured.filter((c) => re.test(c.query));
  expect(matching, `statements matching ${re}: ${captured.map((c) => c.query).join("\n")}`).toHaveLength(1);
  return matching[0]!;
}

async function plan(statement: Captured): Promise<PlanNode> {
  const [row] = await t.db.sql.unsafe(`EXPLAIN (FORMAT JSON) ${statement.query}`, statement.params as never[]);
  const json = (row as Record<string, unknown>)["QUERY PLAN"];
  const parsed = (typeof json === "string" ? JSON.parse(json) : json) as [{ Plan: PlanNode }];
  return parsed[0].Plan;
}

function nodes(root: PlanNode): PlanNode[] {
  return [root, ...(root.Plans ?? []).flatMap(nodes)];
}

/**
 * No sequential scan of a big table, and the expected indexes in use. A page query (`ordered`) must also take its
 * order from the index: no Sort node, so a page reads about `limit` index entries however many rows match.
 */
async function expectIndexed(statement: Captured, indexes: string[], options: { ordered?: boolean } = {}) {
  const root = await plan(statement);
  const all = nodes(root);
  const describe = JSON.stringify(root, (k, v) => (["Node Type", "Relation Name", "Index Name", "Plans"].includes(k) || /^\d+$/.test(k) || k === "" ? v : undefined));
  const seqScans = all.filter((n) => n["Node Type"] === "Seq Scan" && BIG_TABLES.includes(n["Relation Name"] ?? ""));
  expect(seqScans.map((n) => n["Relation Name"]), describe).toEqual([]);
  const used = new Set(all.map((n) => n["Index Name"]).filter(Boolean));
  for (const index of indexes) expect(used, describe).toContain(index);
  if (options.ordered) {
    expect(root["Node Type"], describe).toBe("Limit");
    expect(all.filter((n) => /Sort/.test(n["Node Type"])).map((n) => n["Node Type"]), describe).toEqual([]);
  }
}

const page = { ordered: true };

const cursorAfter = (createdAt: Date, key: string) => ({ createdAt, id: key });

describe("list queries are served by indexes", () => {
  it("seeded enough rows", async () => {
    const [row] = await t.db.sql<[{ posts: number; comments: number; likes: number; follows: number; tags: number }]>`
      SELECT (SELECT count(*)::int FROM posts) AS posts, (SELECT count(*)::int FROM comments) AS comments,
             (SELECT count(*)::int FROM likes) AS likes, (SELECT count(*)::int FROM follows) AS follows,
             (SELECT count(*)::int FROM post_hashtags) AS tags`;
    expect(row.posts).toBe(POSTS);
    expect(row.comments).toBe(POSTS + 2 * BUSY + REPLIES);
    expect(row.likes).toBeGreaterThan(2 * POSTS);
    expect(row.follows).toBeGreaterThan(10 * AGENTS);
    expect(row.tags).toBeGreaterThan(POSTS);
  });

  it("top-level comments of a post, newest first (first page and after a cursor)", async () => {
    // Post 2 has BUSY + 1 top-level comments, post 1234 one.
    for (const post of [postId(2), postId(1234)]) {
      await expectIndexed(await captureFrom("comments", () => services.comments.listTopLevel(post, 25)), ["comments_top_level_idx"], page);
      const after = cursorAfter(new Date(Date.now() - 100_000), commentId(POSTS + 100));
      await expectIndexed(await captureFrom("comments", () => services.comments.listTopLevel(post, 25, after)), ["comments_top_level_idx"], page);
    }
  });

  it("replies of a comment, oldest first", async () => {
    for (const parent of [commentId(1), commentId(77)]) {
      const statements: Captured[] = [];
      captured = [];
      await services.comments.listReplies(parent, 25);
      statements.push(...captured.filter((c) => /from "comments"/i.test(c.query)));
      captured = [];
      await services.comments.listReplies(parent, 25, cursorAfter(new Date(Date.now() - 1_000_000), commentId(POSTS + BUSY + REPLIES + 500)));
      statements.push(...captured.filter((c) => /from "comments"/i.test(c.query)));
      // The reachability check (comment joined with its post) and the page itself.
      expect(statements).toHaveLength(4);
      for (const s of statements) {
        if (/"parent_id" =/i.test(s.query)) await expectIndexed(s, ["comments_replies_idx"], page);
        else await expectIndexed(s, ["comments_pkey", "posts_pkey"]);
      }
    }
  });

  it("followers and followings of an agent, newest first", async () => {
    // seed_1 has thousands of edges each way: pages must come straight off the index. seed_42 has a handful, where
    // fetching them all and sorting is the cheaper plan, but still through the index.
    for (const [who, shape] of [["seed_1", page], ["seed_42", {}]] as const) {
      // For the small agent any index on the edge will do (the primary key serves "following" just as well).
      const idx = (name: string) => (shape.ordered ? [name] : []);
      const after = cursorAfter(new Date(Date.now() - 3_600_000), agentId(500));
      for (const cursor of [undefined, after]) {
        await expectIndexed(await captureFrom("follows", () => services.social.listConnections(who, "followers", 25, cursor)), idx("follows_following_created_idx"), shape);
        await expectIndexed(await captureFrom("follows", () => services.social.listConnections(who, "following", 25, cursor)), idx("follows_follower_created_idx"), shape);
      }
    }
  });

  it("an agent's posts newest first, with the viewer's likes and follows for the page", async () => {
    for (const [author, shape] of [[agentId(1), page], [agentId(42), {}]] as const) {
      captured = [];
      const first = await services.posts.listByAgent(author, 25, undefined, agentId(7));
      expect(first.items.length).toBeGreaterThan(0);
      const byTable = (table: string) => captured.filter((c) => fromTable(table).test(c.query));
      const [list] = byTable("posts");
      // The busy author's pages come off the (agent, created_at, id) index; a small one may use any index on agent_id.
      await expectIndexed(list!, shape.ordered ? ["posts_agent_live_created_idx"] : [], shape);
      const [viewerLikes] = byTable("likes");
      // Either the (post_id, agent_id) key or the agent's likes index will do.
      await expectIndexed(viewerLikes!, []);
      const [viewerFollows] = byTable("follows");
      await expectIndexed(viewerFollows!, ["follows_follower_id_following_id_pk"]);
      const [tags] = byTable("post_hashtags");
      await expectIndexed(tags!, ["post_hashtags_post_id_hashtag_id_pk"]);
      if (first.next) {
        const next = first.next;
        await expectIndexed(await captureFrom("posts", () => services.posts.listByAgent(author, 25, next)), ["posts_agent_live_created_idx"], shape);
      }
    }
  });

  it("a post's like by an agent (the like/unlike edge)", async () => {
    const viewer = await t.registerAgent();
    const agent = (await services.agents.findByName(viewer.name))!;
    // Unliking something never liked runs the edge lookup and changes nothing.
    const statement = await captureFrom("likes", () => services.social.unlike(agent, postId(1)));
    await expectIndexed(statement, ["likes_post_id_agent_id_pk"]);
  });

  it("explore and the following feed read posts in hot order off the hot indexes", async () => {
    const hotPages = () => captured.filter((c) => fromTable("posts").test(c.query) && /order by "posts"."hot_base" desc/i.test(c.query));
    captured = [];
    const first = await services.feeds.explore(25);
    expect(first.items).toHaveLength(25);
    for (const s of hotPages()) await expectIndexed(s, ["posts_hot_idx"], page);
    captured = [];
    await services.feeds.explore(25, first.next);
    expect(hotPages().length).toBeGreaterThan(0);
    for (const s of hotPages()) await expectIndexed(s, ["posts_hot_idx"], page);

    // seed_7 follows about ten agents: the following pool merges each one's own posts (read through an index on
    // agent_id: with a few posts each, any such index will do), and the discovery pool walks posts_hot_idx past them.
    captured = [];
    const feed = await services.feeds.followingFeed(agentId(7), 25);
    expect(feed.items.length).toBeGreaterThan(0);
    const statements = hotPages();
    expect(statements).toHaveLength(2);
    const [following, discovery] = [statements.find((s) => /cross join lateral/i.test(s.query)), statements.find((s) => !/cross join lateral/i.test(s.query))];
    await expectIndexed(following!, []);
    await expectIndexed(discovery!, ["posts_hot_idx"], page);
  });

  it("hashtag feed via post_hashtags, newest first", async () => {
    for (const tag of ["hot", "tag7"]) {
      const feedQuery = /from "post_hashtags" inner join "posts"/i;
      let result: Awaited<ReturnType<typeof services.posts.listByHashtag>> | undefined;
      const first = await captureFrom(feedQuery, async () => (result = await services.posts.listByHashtag(tag, 25)));
      expect(result!.items).toHaveLength(25);
      await expectIndexed(first, ["post_hashtags_feed_idx", "posts_pkey"], page);
      await expectIndexed(await captureFrom(feedQuery, () => services.posts.listByHashtag(tag, 25, result!.next)), ["post_hashtags_feed_idx"], page);
    }
  });
});
