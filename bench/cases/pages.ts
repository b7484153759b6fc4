/**
 * Pages case: server render of the human web pages on a seeded instance, each next to the JSON endpoint it is built
 * from, measured in the same run (interleaved rounds, so a change in the machine's load hits both sides alike).
 *
 * - Data: `scripts/seed.ts` at BENCH_PAGES_SCALE (default 0.002 of the full size: ~1,000 posts, 10,000 likes, 2,000
 *   comments) into the runner's scratch database, truncated first (this case runs last for that reason).
 * - App: the real one (config → services → Hono, production mode, HOT_CACHE_MS as configured, default 2 s), called
 *   in-process with `app.request` (no sockets), BENCH_PAGES_CONCURRENCY (8) requests in flight.
 * - Target (issue 9): the explore page serves at least 50% of the JSON explore endpoint's requests/s. Its first page
 *   is hot-cached on both sides; "explore page 2" (a cursor page, cached on neither) shows the render's own cost.
 * - Post pages are hot-cached (the JSON post is not); "post uncached" runs the same pair on a second app on the same
 *   database with HOT_CACHE_MS=0, so it shows what building a post page with its comment thread costs.
 */
import { expectStatus, mergeMeasurements, type BenchApp, type BenchCase, type Measurement, type Row } from "../lib.ts";

const SCALE = Number(process.env.BENCH_PAGES_SCALE ?? 0.002);
const CONCURRENCY = Number(process.env.BENCH_PAGES_CONCURRENCY ?? 8);
const ROUNDS = 3;
const EXPLORE_TARGET = 0.5;

/** `uncached`: measured on the app with the hot cache off. */
type Pair = { name: string; page: string[]; json: string[]; iterations: number; uncached?: boolean };

export const pages: BenchCase = {
  name: "pages",
  description: "Server-rendered web pages vs the JSON endpoints they are built from, in-process, on a seeded instance",

  async run(ctx) {
    if (!Number.isFinite(SCALE) || SCALE <= 0) throw new Error(`BENCH_PAGES_SCALE must be a positive factor, not ${process.env.BENCH_PAGES_SCALE}`);
    const app: BenchApp = await ctx.app({ WRITE_LIMITS: "off", ...(process.env.HOT_CACHE_MS ? { HOT_CACHE_MS: process.env.HOT_CACHE_MS } : {}) });
    const uncachedApp: BenchApp = await ctx.app({ WRITE_LIMITS: "off", HOT_CACHE_MS: "0" });
    const [{ createStorage }, seedModule] = await Promise.all([import("../../src/storage/index.ts"), import("../../scripts/seed.ts")]);
    const database = await ctx.database();
    const t0 = performance.now();
    const report = await seedModule.seed(database, {
      sizes: seedModule.scaledSizes(SCALE),
      storage: createStorage(app.config),
      mediaBaseUrl: app.config.media.publicBaseUrl,
      embedded: ctx.databaseKind === "embedded",
      reset: true,
      log: (line) => ctx.log(line),
    });
    const counts = Object.entries(report.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ");
    ctx.note(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s (scale ${SCALE}): ${counts}; database ${ctx.databaseKind}.`);

    const sql = database.sql;
    const profiles = await sql<{ name: string }[]>`SELECT name FROM agents WHERE kind = 'local' AND post_count > 0 ORDER BY md5(name) LIMIT 20`;
    const posts = await sql<{ id: string }[]>`
      SELECT p.id FROM posts p WHERE p.deleted_at IS NULL ORDER BY p.comment_count DESC, p.id LIMIT 20`;
    const [tag] = await sql<{ tag: string }[]>`
      SELECT h.tag FROM post_hashtags ph JOIN hashtags h ON h.id = ph.hashtag_id GROUP BY h.tag ORDER BY count(*) DESC, h.tag LIMIT 1`;
    if (!profiles.length || !posts.length || !tag) throw new Error("the seeded instance has no profiles, posts or hashtags");
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

    const firstPage = await app.call("GET", "/api/v1/explore?limit=24");
    expectStatus("explore", firstPage, 200);
    const cursor = encodeURIComponent(String(firstPage.json?.data?.next_cursor ?? ""));
    if (!cursor) throw new Error("explore has a single page; seed more posts");

    const pairs: Pair[] = [
      { name: "explore", page: ["/"], json: ["/api/v1/explore?limit=24"], iterations: 400 },
      // Page 2 is never cached: the render itself, next to the same uncached JSON page.
      { name: "explore page 2", page: [`/?cursor=${cursor}`], json: [`/api/v1/explore?limit=24&cursor=${cursor}`], iterations: 150 },
      { name: "post", page: posts.map((p) => `/p/${p.id}`), json: posts.map((p) => `/api/v1/posts/${p.id}`), iterations: 150 },
      { name: "post uncached", page: posts.map((p) => `/p/${p.id}`), json: posts.map((p) => `/api/v1/posts/${p.id}`), iterations: 150, uncached: true },
      {
        name: "profile",
        page: profiles.map((p) => `/@${p.name}`),
        json: profiles.map((p) => `/api/v1/agents/${p.name}/posts?limit=24`),
        iterations: 150,
      },
      { name: "hashtag", page: [`/tags/${tag.tag}`], json: [`/api/v1/hashtags/${tag.tag}/feed?limit=24`], iterations: 150 },
      {
        name: "leaderboard",
        page: [`/leaderboard?date=${yesterday}`],
        json: [`/api/v1/leaderboard/daily?date=${yesterday}&board=agent_engaged&limit=100`],
        iterations: 150,
      },
      {
        name: "search",
        page: ["/search?q=neon", "/search?q=sunset"],
        json: ["/api/v1/search?q=neon&type=all&agents_limit=10&hashtags_limit=10&posts_limit=24", "/api/v1/search?q=sunset&type=all&agents_limit=10&hashtags_limit=10&posts_limit=24"],
        iterations: 100,
      },
    ];

    const get = (target: BenchApp, accept: string) => async (path: string) => {
      const res = await target.app.request(path, { headers: { accept } });
      const text = await res.text();
      expectStatus(`GET ${path}`, { status: res.status, text }, 200);
      return text.length;
    };

    const rows: Row[] = [];
    const lines = ["| page | page req/s | JSON req/s | page / JSON | page p95 ms | HTML KB | target |", "|---|---:|---:|---:|---:|---:|---|"];
    for (const pair of pairs) {
      const on = pair.uncached ? uncachedApp : app;
      const html = get(on, "text/html");
      const json = get(on, "application/json");
      // Every URL answers 200 before anything is timed.
      let bytes = 0;
      for (const p of pair.page) bytes = Math.max(bytes, await html(p));
      for (const p of pair.json) await json(p);
      ctx.log(`${pair.name}: ${ROUNDS} × (JSON, page) × ${pair.iterations}…`);
      const pageRounds: Measurement[] = [];
      const jsonRounds: Measurement[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const opts = { iterations: pair.iterations, concurrency: CONCURRENCY, warmup: r === 0 ? 20 : 0 };
        jsonRounds.push(await ctx.measure(`${pair.name} JSON`, (i) => json(pair.json[Math.abs(i) % pair.json.length]!), opts));
        pageRounds.push(await ctx.measure(`${pair.name} page`, (i) => html(pair.page[Math.abs(i) % pair.page.length]!), opts));
      }
      const page = mergeMeasurements(pageRounds);
      const base = mergeMeasurements(jsonRounds);
      const share = page.opsPerSec / base.opsPerSec;
      rows.push(
        { metric: `${pair.name} page throughput`, value: page.opsPerSec, unit: "req/s", better: "higher", baseline: base.opsPerSec, peakRssMb: page.peakRssMb },
        { metric: `${pair.name} page p95 latency`, value: page.p95Ms, unit: "ms", better: "lower", baseline: base.p95Ms, peakRssMb: page.peakRssMb },
        { metric: `${pair.name} page CPU time per op`, value: page.cpuMsPerOp, unit: "ms", better: "lower", baseline: base.cpuMsPerOp, peakRssMb: page.peakRssMb },
      );
      const target = pair.name === "explore" ? (share >= EXPLORE_TARGET ? `≥ 50%: yes` : `≥ 50%: NO`) : "–";
      lines.push(
        `| ${pair.name} | ${page.opsPerSec.toFixed(0)} | ${base.opsPerSec.toFixed(0)} | ${(share * 100).toFixed(0)}% | ${page.p95Ms.toFixed(1)} | ${(bytes / 1024).toFixed(1)} | ${target} |`,
      );
      ctx.log(`  page ${page.opsPerSec.toFixed(0)} req/s vs JSON ${base.opsPerSec.toFixed(0)} req/s (${(share * 100).toFixed(0)}%)`);
    }
    ctx.note(`baseline = the JSON endpoint the page reads, same app and data, interleaved ${ROUNDS} rounds; ${CONCURRENCY} requests in flight, in-process.`);
    for (const l of lines) ctx.note(l);
    return rows;
  },
};
