/**
 * Reads case: the discovery read paths over HTTP against a seeded instance, each next to the ceiling of the same
 * server (GET /health) measured in the same run.
 *
 * - Database: on PostgreSQL (BENCH_DATABASE_URL / DATABASE_URL), a persistent database on that server, seeded with
 *   `scripts/seed.ts` the first time and reused afterwards (seeding the full size takes minutes): `clawgram_bench`
 *   for the full size, `clawgram_bench_<scale>` otherwise, or BENCH_READS_DATABASE. BENCH_RESEED=1 seeds it again.
 *   On the embedded PGlite the runner's in-memory database is seeded at a small scale every run.
 * - Size: BENCH_SCALE = `full` (the issue's 10k agents, 500k posts, 5M likes, 1M comments, 200k follows) or a factor
 *   of it; default 0.1 on PostgreSQL (a run takes a few minutes once seeded), 0.01 on PGlite.
 * - Server: the real one (`startServer`: config → database → app → node HTTP listener) in the runner process,
 *   NODE_ENV=production, WRITE_LIMITS=off, HOT_CACHE_MS as configured (default 2 s).
 * - Load: a child process (so its CPU is not on the server's event loop) keeps BENCH_CONNECTIONS (32) keep-alive
 *   connections busy with Node's own http client for BENCH_READS_SECONDS (10) per endpoint after a warm-up, cycling
 *   through that endpoint's URL list, and reports requests/s and latency percentiles. Any non-200 aborts the run.
 *   It sends `Accept-Encoding: gzip, deflate, br` as real clients do (the server gzips hot-cached pages; everything
 *   else, /health included, goes out as is).
 * - Ceiling: the same load against GET /health, measured first and last; the mean of the two is the baseline.
 * - BENCH_READS_ONLY=word,word runs only the endpoints whose name contains one of the words (plus the ceiling).
 * - Under writes: the cached pages again while the load process also likes and unlikes posts at BENCH_WRITES_PER_SEC
 *   (20; 0 skips it) as 20 agents, half of them posts on explore's first pages (what a busy instance's likes hit), so
 *   the hot cache is invalidated as it would be in use. Reads and writes share the server; only reads are timed.
 */
import http from "node:http";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Database } from "../../src/db/client.ts";
import { latencyStats, MB, type BenchCase, type BenchContext, type Measurement, type Row } from "../lib.ts";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_READS_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_READS_WARMUP ?? 2);
const DEEP_PAGES = 10;
const P99_TARGET_MS = 100;
const WRITES_PER_SEC = Number(process.env.BENCH_WRITES_PER_SEC ?? 20);

type Target = { name: string; paths: string[]; key?: string; keys?: string[]; share: number; description: string; underWrites?: boolean };
/** Likes to make meanwhile: `rate` a second, each writer key liking (then unliking, next time round) the posts. */
type Writes = { rate: number; keys: string[]; postIds: string[] };
/** `keys`: one per request in turn (many readers), instead of `key` on every request. */
type LoadArgs = { url: string; paths: string[]; key: string | null; keys?: string[]; seconds: number; warmup: number; connections: number; label: string; writes?: Writes };

function scaleFromEnv(kind: BenchContext["databaseKind"]): number {
  const raw = process.env.BENCH_SCALE?.trim();
  if (!raw) return kind === "postgres" ? 0.1 : 0.01;
  if (raw === "full") return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_SCALE must be "full" or a positive factor, not ${raw}`);
  return n;
}

/**
 * CPU time (ms) used so far by every process named `postgres` on this machine (a local server's backends), from
 * /proc; null where there is no /proc. Other databases on the same server count too: it is a machine-wide figure.
 */
function postgresCpuMs(): number | null {
  try {
    let ticks = 0;
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const close = stat.lastIndexOf(")");
        if (stat.slice(stat.indexOf("(") + 1, close) !== "postgres") continue;
        const fields = stat.slice(close + 2).split(" ");
        ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the line)
      } catch {
        // the process ended meanwhile
      }
    }
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** USER_HZ: the unit of /proc/<pid>/stat times (100 on Linux everywhere that matters). */
const CLOCK_TICKS = 100;

async function get(url: string, key?: string): Promise<{ status: number; json: { data?: Record<string, unknown> } }> {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 300)}`);
  return { status: res.status, json: JSON.parse(text) };
}

/** The seeded database this run reads: opened (created, migrated and seeded when needed) on PostgreSQL, or the runner's PGlite. */
async function openReadDatabase(ctx: BenchContext, scale: number): Promise<{ database: Database; url: string; dataDir: string; seeded: string; close(): Promise<void> }> {
  const [{ connect }, { migrate }, { loadConfig }, { createStorage }, seedModule] = await Promise.all([
    import("../../src/db/client.ts"),
    import("../../src/db/migrate.ts"),
    import("../../src/config/index.ts"),
    import("../../src/storage/index.ts"),
    import("../../scripts/seed.ts"),
  ]);
  const sizes = scale === 1 ? seedModule.FULL_SIZES : seedModule.scaledSizes(scale);
  const runSeed = async (database: Database, dataDir: string, embedded: boolean, reset: boolean) => {
    const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: "http://clawgram.bench" });
    const t0 = performance.now();
    const report = await seedModule.seed(database, {
      sizes,
      storage: createStorage(config),
      mediaBaseUrl: config.media.publicBaseUrl,
      embedded,
      reset,
      log: (line) => ctx.log(line),
    });
    ctx.note(
      `seeded in ${((performance.now() - t0) / 1000).toFixed(0)} s: ` +
        report.phases
          .filter((p) => p.ms >= 1000)
          .map((p) => `${p.name} ${(p.ms / 1000).toFixed(1)} s`)
          .join(", "),
    );
    return report;
  };

  if (ctx.databaseKind === "embedded") {
    const database = await ctx.database();
    const dataDir = path.join(ctx.workDir, "reads-data");
    mkdirSync(dataDir, { recursive: true });
    await runSeed(database, dataDir, true, false);
    return { database, url: ctx.databaseUrl, dataDir, seeded: "this run (embedded PGlite, in memory)", close: async () => {} };
  }

  const server = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL!;
  const name = process.env.BENCH_READS_DATABASE || (scale === 1 ? "clawgram_bench" : `clawgram_bench_${String(scale).replace(/\W/g, "_")}`);
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`BENCH_READS_DATABASE must be a plain lowercase identifier, not ${name}`);
  const admin = connect(server, { max: 1 });
  try {
    const exists = await admin.sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (exists.length === 0) await admin.sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  const dataDir = process.env.BENCH_DATA_DIR || path.join(os.tmpdir(), "clawgram-bench-data", name);
  mkdirSync(dataDir, { recursive: true });
  const database = connect(url.href, { max: 1 });
  await migrate(database.sql);
  const [{ n }] = (await database.sql`SELECT count(*)::int AS n FROM agents`) as unknown as [{ n: number }];
  const reseed = process.env.BENCH_RESEED === "1";
  let seeded = `earlier run (database ${name}, reused; BENCH_RESEED=1 to rebuild)`;
  if (n === 0 || reseed) {
    ctx.log(`seeding ${name} at scale ${scale}…`);
    await runSeed(database, dataDir, false, reseed);
    seeded = `this run (database ${name})`;
  }
  return { database, url: url.href, dataDir, seeded, close: () => database.close() };
}

export const reads: BenchCase = {
  name: "reads",
  description: "Discovery reads over HTTP (32 keep-alive connections) on a seeded instance vs GET /health of the same server",

  async run(ctx) {
    const scale = scaleFromEnv(ctx.databaseKind);
    const db = await openReadDatabase(ctx, scale);
    const sql = db.database.sql;
    const stats = (await sql`
      SELECT (SELECT count(*) FROM agents)::int AS agents, (SELECT count(*) FROM posts)::int AS posts,
        (SELECT count(*) FROM likes)::int AS likes, (SELECT count(*) FROM comments)::int AS comments,
        (SELECT count(*) FROM follows)::int AS follows, (SELECT count(*) FROM hashtags)::int AS hashtags`)[0]!;
    ctx.note(
      `data (scale ${scale === 1 ? "full" : scale}, seeded ${db.seeded}): ${stats.agents} agents, ${stats.posts} posts, ${stats.likes} likes, ` +
        `${stats.comments} comments, ${stats.follows} follows, ${stats.hashtags} hashtags; database ${ctx.databaseKind}.`,
    );

    // The feed reader: an agent following about 50 others, with a key we set (seeded keys are not recorded).
    const pepper = randomBytes(24).toString("hex");
    const { generateApiKey, hashSecret } = await import("../../src/domain/agents/keys.ts");
    const key = generateApiKey("live");
    const [reader] = await sql<{ id: string; name: string; following_count: number }[]>`
      SELECT id, name, following_count FROM agents WHERE kind = 'local' ORDER BY abs(following_count - 50), name LIMIT 1`;
    await sql`UPDATE api_keys SET key_hash = ${hashSecret(key, pepper)} WHERE agent_id = ${reader!.id}`;
    // Writers for the "under writes" rows: 20 agents (with avatars, as the seed gives every agent) with keys we set.
    const writers = await sql<{ id: string }[]>`
      SELECT id FROM agents WHERE kind = 'local' AND avatar_url IS NOT NULL AND id <> ${reader!.id} ORDER BY md5(name) LIMIT 20`;
    const writerKeys: string[] = [];
    for (const w of writers) {
      const k = generateApiKey("live");
      await sql`UPDATE api_keys SET key_hash = ${hashSecret(k, pepper)} WHERE agent_id = ${w.id}`;
      writerKeys.push(k);
    }
    // Many feed readers: 200 agents following 20-100 others each, so most feed reads miss the per-agent cache.
    const feedReaders = await sql<{ id: string }[]>`
      SELECT id FROM agents WHERE kind = 'local' AND following_count BETWEEN 20 AND 100 AND id <> ${reader!.id}
        AND id <> ALL(${writers.map((w) => w.id)}::uuid[]) ORDER BY md5(name) LIMIT 200`;
    const feedKeys: string[] = [];
    for (const r of feedReaders) {
      const k = generateApiKey("live");
      await sql`UPDATE api_keys SET key_hash = ${hashSecret(k, pepper)} WHERE agent_id = ${r.id}`;
      feedKeys.push(k);
    }
    const recentPosts = await sql<{ id: string }[]>`
      SELECT id FROM posts WHERE deleted_at IS NULL AND NOT is_remote AND created_at > (SELECT max(created_at) FROM posts) - interval '2 days'
      ORDER BY md5(id::text) LIMIT 100`;
    const [tag] = await sql<{ tag: string; n: number }[]>`
      SELECT h.tag, count(*)::int AS n FROM post_hashtags ph JOIN hashtags h ON h.id = ph.hashtag_id GROUP BY h.tag ORDER BY n DESC, h.tag LIMIT 1`;
    const profiles = await sql<{ name: string }[]>`
      SELECT name FROM agents WHERE post_count > 0 ORDER BY md5(name) LIMIT 100`;
    const postIds = await sql<{ id: string }[]>`
      SELECT id FROM posts WHERE deleted_at IS NULL ORDER BY md5(id::text) LIMIT 1000`;

    const { loadConfig } = await import("../../src/config/index.ts");
    const { startServer } = await import("../../src/server.ts");
    const config = loadConfig({
      NODE_ENV: "production",
      PORT: "0",
      HOST: "127.0.0.1",
      PUBLIC_URL: "http://clawgram.bench",
      DATABASE_URL: db.url,
      ...(ctx.databaseKind === "embedded" ? { DATABASE_POOL_MAX: "1" } : {}),
      ...(process.env.DATABASE_POOL_MAX ? { DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX } : {}),
      DATA_DIR: db.dataDir,
      API_KEY_PEPPER: pepper,
      OWNER_TOKEN_PEPPER: randomBytes(24).toString("hex"),
      WRITE_LIMITS: "off",
      NODE_ROLE: "web",
      LOG_LEVEL: "warning",
      ...(process.env.HOT_CACHE_MS ? { HOT_CACHE_MS: process.env.HOT_CACHE_MS } : {}),
    });
    const server = await startServer(config);
    const base = server.url;
    const rows: Row[] = [];
    try {
      // A deep explore page: follow next_cursor, then replay the last cursor (the page a scrolling reader reaches).
      let cursor: string | undefined;
      const explored: string[] = [];
      for (let i = 0; i < DEEP_PAGES; i++) {
        const r = await get(`${base}/api/v1/explore${cursor ? `?cursor=${cursor}` : ""}`);
        if (i < 4) explored.push(...((r.json.data?.items ?? []) as { id: string }[]).map((p) => p.id));
        cursor = r.json.data?.next_cursor as string | undefined;
        if (!cursor) throw new Error(`explore ran out of pages after ${i + 1}`);
      }
      const me = await get(`${base}/api/v1/agents/me`, key);
      if (me.json.data?.name !== reader!.name) throw new Error("the feed reader's key does not authenticate");

      const searches = ["lantern", "neon", "sunset", "crab", "robot"];
      const targets: Target[] = [
        { name: "explore, first page", paths: ["/api/v1/explore"], share: 0.5, description: "hot-cached first page", underWrites: true },
        { name: `explore, page ${DEEP_PAGES + 1}`, paths: [`/api/v1/explore?cursor=${cursor}`], share: 0.15, description: "cursor replay" },
        { name: "following feed", paths: ["/api/v1/feed"], key, share: 0.15, description: `${reader!.name} follows ${reader!.following_count}`, underWrites: true },
        {
          name: "following feed, 200 readers",
          paths: ["/api/v1/feed"],
          keys: feedKeys,
          share: 0.15,
          description: `${feedKeys.length} agents in turn, each following 20-100`,
        },
        { name: "hashtag feed", paths: [`/api/v1/hashtags/${tag!.tag}/feed`], share: 0.15, description: `#${tag!.tag}, ${tag!.n} posts` },
        { name: "profile posts", paths: profiles.map((p) => `/api/v1/agents/${p.name}/posts`), share: 0.15, description: `${profiles.length} agents` },
        { name: "post detail", paths: postIds.map((p) => `/api/v1/posts/${p.id}`), share: 0.15, description: `${postIds.length} posts` },
        { name: "search posts", paths: searches.map((q) => `/api/v1/search?q=${q}&type=posts`), share: 0.05, description: searches.join("/") },
        { name: "search all", paths: searches.map((q) => `/api/v1/search?q=${q}`), share: 0.05, description: "agents+hashtags+posts" },
        { name: "search posts, with a key", paths: searches.map((q) => `/api/v1/search?q=${q}&type=posts`), key, share: 0.05, description: "viewer fields on the shared page" },
        { name: "leaderboard daily", paths: ["/api/v1/leaderboard/daily"], share: 0.15, description: "yesterday, provisional", underWrites: true },
        { name: "explore summary", paths: ["/api/v1/explore/summary"], share: 0.15, description: "last 24 h", underWrites: true },
      ];
      // Every URL answers 200 before anything is timed.
      for (const t of targets) for (const p of t.paths.slice(0, 3)) await get(`${base}${p}`, t.key ?? t.keys?.[0]);

      // PostgreSQL's CPU is read from /proc when the server runs on this machine (PGlite's is in the server's own).
      const localPostgres = ctx.databaseKind === "postgres" && ["127.0.0.1", "localhost", "[::1]"].includes(new URL(db.url).hostname);
      const runLoad = async (label: string, paths: string[], k?: string, writes?: Writes, keys?: string[]) => {
        const cpu0 = process.cpuUsage();
        const db0 = localPostgres ? postgresCpuMs() : null;
        const m = await ctx.isolated("load", { url: base, paths, key: k ?? null, seconds: SECONDS, warmup: WARMUP_SECONDS, connections: CONNECTIONS, label, ...(writes ? { writes } : {}), ...(keys ? { keys } : {}) });
        const cpu = process.cpuUsage(cpu0);
        const db1 = localPostgres ? postgresCpuMs() : null;
        // CPU per request of the server process and of PostgreSQL; the span includes the warm-up, so the request
        // count is scaled up to match.
        const served = Math.max(1, (m.iterations * (SECONDS + WARMUP_SECONDS)) / SECONDS);
        return { m, serverCpuMs: (cpu.user + cpu.system) / 1000 / served, dbCpuMs: db0 !== null && db1 !== null ? (db1 - db0) / served : null };
      };
      ctx.log(`ceiling: GET /health × ${SECONDS} s…`);
      const ceilingBefore = await runLoad("GET /health", ["/health"]);
      const results: { t: Target; m: Measurement; serverCpuMs: number; dbCpuMs: number | null }[] = [];
      // BENCH_READS_ONLY=explore,feed runs only the endpoints whose name contains one of the words.
      const only = (process.env.BENCH_READS_ONLY ?? "").split(",").map((w) => w.trim()).filter(Boolean);
      for (const t of targets) {
        if (only.length && !only.some((w) => t.name.includes(w))) continue;
        ctx.log(`${t.name} × ${SECONDS} s…`);
        const r = await runLoad(t.name, t.paths, t.key, undefined, t.keys);
        results.push({ t, ...r });
        ctx.log(`  ${r.m.opsPerSec.toFixed(0)} req/s, p50 ${r.m.p50Ms.toFixed(1)} ms, p99 ${r.m.p99Ms.toFixed(1)} ms`);
      }
      if (WRITES_PER_SEC > 0) {
        const likeable = [...new Set([...explored.slice(0, 50), ...recentPosts.map((p) => p.id)])];
        const writes: Writes = { rate: WRITES_PER_SEC, keys: writerKeys, postIds: likeable };
        for (const t of targets) {
          if (!t.underWrites || (only.length && !only.some((w) => t.name.includes(w)))) continue;
          const u = { ...t, name: `${t.name}, under ${WRITES_PER_SEC} likes/s`, description: `${t.description}; half the likes on explore's first pages` };
          ctx.log(`${u.name} × ${SECONDS} s…`);
          const r = await runLoad(u.name, u.paths, u.key, writes);
          results.push({ t: u, ...r });
          ctx.log(`  ${r.m.opsPerSec.toFixed(0)} req/s, p50 ${r.m.p50Ms.toFixed(1)} ms, p99 ${r.m.p99Ms.toFixed(1)} ms, ${r.m.label}`);
        }
      }
      ctx.log(`ceiling again: GET /health × ${SECONDS} s…`);
      const ceilingAfter = await runLoad("GET /health", ["/health"]);
      const ceiling = {
        rps: (ceilingBefore.m.opsPerSec + ceilingAfter.m.opsPerSec) / 2,
        p50: (ceilingBefore.m.p50Ms + ceilingAfter.m.p50Ms) / 2,
        p99: (ceilingBefore.m.p99Ms + ceilingAfter.m.p99Ms) / 2,
      };

      rows.push(
        { metric: "ceiling GET /health throughput", value: ceiling.rps, unit: "req/s", better: "higher" },
        { metric: "ceiling GET /health p99 latency", value: ceiling.p99, unit: "ms", better: "lower" },
      );
      for (const { t, m } of results) {
        rows.push(
          { metric: `${t.name} throughput`, value: m.opsPerSec, unit: "req/s", better: "higher", baseline: ceiling.rps },
          { metric: `${t.name} p50 latency`, value: m.p50Ms, unit: "ms", better: "lower", baseline: ceiling.p50 },
          { metric: `${t.name} p99 latency`, value: m.p99Ms, unit: "ms", better: "lower", baseline: ceiling.p99 },
        );
      }

      ctx.note(
        `${CONNECTIONS} keep-alive connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per endpoint, load from a separate process; ` +
          `ceiling = GET /health before (${ceilingBefore.m.opsPerSec.toFixed(0)} req/s) and after (${ceilingAfter.m.opsPerSec.toFixed(0)} req/s) the endpoints, averaged.`,
      );
      const ms = (v: number | null) => (v === null ? "–" : v.toFixed(2));
      const header = "| endpoint | req/s | p50 ms | p99 ms | % of ceiling | target | CPU ms/req: server · PostgreSQL · load client | meets target |";
      const lines = [header, "|---|---:|---:|---:|---:|---:|---:|---|"];
      const cpuCells = (r: { m: Measurement; serverCpuMs: number; dbCpuMs: number | null }) => `${ms(r.serverCpuMs)} · ${ms(r.dbCpuMs)} · ${ms(r.m.cpuMsPerOp)}`;
      lines.push(`| GET /health (ceiling) | ${ceiling.rps.toFixed(0)} | ${ceiling.p50.toFixed(1)} | ${ceiling.p99.toFixed(1)} | 100% | – | ${cpuCells(ceilingBefore)} | – |`);
      for (const r of results) {
        const { t, m } = r;
        const share = m.opsPerSec / ceiling.rps;
        const misses = [share < t.share ? `throughput < ${Math.round(t.share * 100)}%` : "", m.p99Ms >= P99_TARGET_MS ? `p99 ≥ ${P99_TARGET_MS} ms` : ""].filter(Boolean);
        lines.push(
          `| ${t.name} (${t.description}) | ${m.opsPerSec.toFixed(0)} | ${m.p50Ms.toFixed(1)} | ${m.p99Ms.toFixed(1)} | ${(share * 100).toFixed(1)}% | ≥ ${Math.round(t.share * 100)}% | ${cpuCells(r)} | ${misses.length ? `no: ${misses.join(", ")}` : "yes"} |`,
        );
      }
      for (const l of lines) ctx.note(l);
    } finally {
      await server.stop();
      await db.close();
    }
    return rows;
  },

  tasks: {
    /** The load generator: `connections` loops over one keep-alive agent, time-bounded, after an untimed warm-up. */
    async load(ctx) {
      const args = ctx.args as unknown as LoadArgs;
      const target = new URL(args.url);
      const agent = new http.Agent({ keepAlive: true, maxSockets: args.connections, maxFreeSockets: args.connections });
      // As browsers, fetch(), curl --compressed and Python's requests do; bodies are counted, not decompressed.
      const headers: Record<string, string> = { accept: "application/json", "accept-encoding": "gzip, deflate, br" };
      if (args.key) headers.authorization = `Bearer ${args.key}`;
      let next = 0;
      let turn = 0;
      const once = (p: string) =>
        new Promise<number>((resolve, reject) => {
          const t0 = performance.now();
          const h = args.keys ? { ...headers, authorization: `Bearer ${args.keys[turn++ % args.keys.length]}` } : headers;
          const req = http.request({ host: target.hostname, port: target.port, path: p, method: "GET", agent, headers: h }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => {
              if (res.statusCode !== 200) chunks.push(c);
            });
            res.on("end", () => {
              if (res.statusCode !== 200) reject(new Error(`GET ${p}: ${res.statusCode} ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`));
              else resolve(performance.now() - t0);
            });
            res.on("error", reject);
          });
          req.on("error", reject);
          req.end();
        });
      // The paced writer: one like or unlike every 1/rate s, each writer toggling its like on each post in turn.
      let writesDone = 0;
      const liked = new Set<string>();
      let writeTurn = 0;
      const write = async () => {
        const w = args.writes!;
        const n = writeTurn++;
        const key = w.keys[n % w.keys.length]!;
        const postId = w.postIds[Math.floor(n / w.keys.length) % w.postIds.length]!;
        const pair = `${key}|${postId}`;
        const method = liked.has(pair) ? "DELETE" : "POST";
        if (method === "POST") liked.add(pair);
        else liked.delete(pair);
        await new Promise<void>((resolve, reject) => {
          const req = http.request(
            { host: target.hostname, port: target.port, path: `/api/v1/posts/${postId}/like`, method, agent, headers: { authorization: `Bearer ${key}`, "content-length": "0" } },
            (res) => {
              res.resume();
              res.on("end", () => (res.statusCode! < 300 ? resolve() : reject(new Error(`${method} like: ${res.statusCode}`))));
            },
          );
          req.on("error", reject);
          req.end();
        });
        writesDone++;
      };
      const paceWrites = (seconds: number) => {
        if (!args.writes || args.writes.rate <= 0) return Promise.resolve();
        const deadline = performance.now() + seconds * 1000;
        const every = 1000 / args.writes.rate;
        const pending: Promise<void>[] = [];
        return new Promise<void>((resolve, reject) => {
          const start = performance.now();
          let sent = 0;
          const timer = setInterval(() => {
            if (performance.now() >= deadline) {
              clearInterval(timer);
              Promise.all(pending).then(() => resolve(), reject);
              return;
            }
            // Catch up on the schedule (timers are coarse under load) so the rate holds.
            while (sent < (performance.now() - start) / every) {
              sent++;
              pending.push(write());
            }
          }, Math.max(1, Math.floor(every / 2)));
        });
      };
      const drive = async (seconds: number, latencies: number[] | null) => {
        const writing = paceWrites(seconds);
        const deadline = performance.now() + seconds * 1000;
        const loop = async () => {
          while (performance.now() < deadline) {
            const ms = await once(args.paths[next++ % args.paths.length]!);
            latencies?.push(ms);
          }
        };
        const t0 = performance.now();
        await Promise.all(Array.from({ length: args.connections }, loop));
        const wall = performance.now() - t0;
        await writing;
        return wall;
      };
      await drive(args.warmup, null);
      const latencies: number[] = [];
      const rssBeforeMb = process.memoryUsage.rss() / MB;
      const cpu0 = process.cpuUsage();
      const wallMs = await drive(args.seconds, latencies);
      const cpu = process.cpuUsage(cpu0);
      agent.destroy();
      const writesMeasured = writesDone;
      return {
        label: args.writes ? `${(writesMeasured / ((args.seconds + args.warmup))).toFixed(1)} writes/s done` : args.label,
        iterations: latencies.length,
        concurrency: args.connections,
        wallMs,
        opsPerSec: (latencies.length * 1000) / wallMs,
        ...latencyStats(latencies),
        cpuMsPerOp: (cpu.user + cpu.system) / 1000 / Math.max(1, latencies.length),
        rssBeforeMb,
        peakRssMb: process.memoryUsage.rss() / MB,
        isolated: true,
        // Percentiles are computed here; tens of thousands of raw samples per endpoint would only bloat the report.
        latenciesMs: [],
      } satisfies Measurement;
    },
  },
};
