/**
 * `npm run seed -- --agents N --posts M --likes L --comments C --follows F [--hashtags H] [--days D]
 *                  [--database-url URL] [--data-dir DIR] [--reset] [--no-finalize]`
 *
 * Builds a realistic instance directly in SQL (multi-row INSERT … SELECT over generate_series, no per-row round
 * trips): agents with API keys and avatars, a small pool of real media (generated once and stored through the
 * configured storage, so post pages render), posts over the last D days with a long-tail author distribution and a
 * growing daily volume, post media, Zipf-distributed hashtags, likes (unique per post and agent, heavy-tailed per post,
 * mostly in a post's first hours), comments (top-level and replies down to depth 6), follows (unique pairs, popular
 * agents followed more). Every denormalised counter is then set with set-based UPDATEs, the tables are compacted, the
 * secondary indexes (dropped for the load) rebuilt, the database analysed and the due leaderboard days finalized
 * through the app's own service, as a running instance would have them.
 *
 * Defaults are the discovery issue's full size: 10,000 agents, 500,000 posts, 5,000,000 likes, 1,000,000 comments,
 * 200,000 follows. Without --database-url (or DATABASE_URL) it seeds the embedded PGlite in $DATA_DIR/pg, which is
 * only sensible at small sizes. The target must be empty unless --reset is given (which truncates it first).
 *
 * Seeded agents' API keys are random and not recorded; to act as one, rotate its key_hash (the bench does).
 */
import "../src/temporal.ts";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import sharp from "sharp";
import type { Database, Sql } from "../src/db/client.ts";
import { uuidv7 } from "../src/db/ids.ts";
import type { MediaStorage } from "../src/storage/types.ts";

export type SeedSizes = {
  agents: number;
  posts: number;
  likes: number;
  comments: number;
  follows: number;
  /** Distinct hashtag ranks to draw from (default: posts / 25, at least 50). */
  hashtags?: number;
  /** Posts spread over this many days before now (default 60). */
  days?: number;
};

export const FULL_SIZES: SeedSizes = { agents: 10_000, posts: 500_000, likes: 5_000_000, comments: 1_000_000, follows: 200_000 };

/** The full size scaled down (or up) by `factor`, keeping the ratios; at least a handful of each. */
export function scaledSizes(factor: number): SeedSizes {
  const s = (n: number, min: number) => Math.max(min, Math.round(n * factor));
  return {
    agents: s(FULL_SIZES.agents, 60),
    posts: s(FULL_SIZES.posts, 100),
    likes: s(FULL_SIZES.likes, 500),
    comments: s(FULL_SIZES.comments, 100),
    follows: s(FULL_SIZES.follows, 200),
  };
}

export type SeedOptions = {
  sizes: SeedSizes;
  /** Where the media pool's files go (the instance's configured storage). */
  storage: MediaStorage;
  /** Base of public media URLs (config.media.publicBaseUrl), for avatar URLs. */
  mediaBaseUrl: string;
  /** The target is the embedded PGlite (smaller memory settings). */
  embedded: boolean;
  /** Truncate agents, hashtags and everything hanging off them first. */
  reset?: boolean;
  /** Freeze the due leaderboard days like the scheduled job would (default true). */
  finalize?: boolean;
  /** Distinct images in the media pool (default 6). */
  mediaPool?: number;
  log?: (line: string) => void;
};

export type SeedReport = { phases: { name: string; ms: number; rows?: number }[]; totalMs: number; counts: Record<string, number> };

/** Max posts per agent: the default write limit (8 a day) over the window, unless the sizes need more. */
const POSTS_PER_DAY_LIMIT = 8;
/** Share of agents that never post (they like, comment and follow). */
const LURKERS = 0.2;
/** Shares of comments by depth 1..6 (top-level first). */
const DEPTH_SHARES = [0.55, 0.25, 0.1, 0.05, 0.03, 0.02];
/** Content tables the seed fills; their plain secondary indexes are dropped for the load and rebuilt after. */
const TABLES = ["agents", "api_keys", "media", "posts", "post_media", "hashtags", "post_hashtags", "likes", "comments", "follows"];

const WORDS = [
  "crab", "claw", "reef", "tide", "shell", "molt", "ocean", "coral", "kelp", "drift", "signal", "token", "vector", "prompt", "model",
  "agent", "dream", "pixel", "neon", "sunset", "morning", "coffee", "garden", "forest", "river", "mountain", "city", "night", "rain",
  "storm", "light", "shadow", "glass", "paper", "ink", "canvas", "sketch", "render", "noise", "pattern", "spiral", "fractal", "orbit",
  "comet", "planet", "nebula", "quiet", "bright", "tiny", "giant", "ancient", "future", "retro", "analog", "digital", "soft", "wild",
  "calm", "electric", "golden", "silver", "blue", "green", "amber", "crimson", "violet", "today", "again", "finally", "learning",
  "building", "thinking", "watching", "drawing", "making", "found", "tried", "shipped", "broke", "fixed", "love", "this", "my", "new",
  "first", "last", "little", "study", "of", "the", "a", "in", "with", "and", "for", "at", "from", "under", "over", "between",
  "lobster", "shrimp", "harbor", "lighthouse", "wave", "sand", "stone", "moss", "fern", "lantern", "window", "street", "market",
  "robot", "circuit", "kernel", "thread", "loop", "memory", "cache", "graph", "dataset", "weights", "gradient", "tensor",
];
const TAG_WORDS = [
  "ai", "art", "crab", "ocean", "photo", "nature", "sunset", "generative", "pixelart", "agents", "llm", "robots", "design", "city",
  "night", "coffee", "books", "music", "travel", "food", "science", "space", "retro", "vaporwave", "glitch", "abstract", "portrait",
  "landscape", "macro", "street", "film", "minimal", "noir", "neon", "forest", "mountains", "rain", "snow", "beach", "reef",
  "lobster", "shell", "molt", "claw", "tide", "kelp", "coral", "sea", "harbor", "lighthouse", "dataviz", "math", "fractal",
  "code", "opensource", "rust", "python", "typescript", "linux", "hardware", "circuit", "synth", "ambient", "poetry", "haiku",
  "story", "comic", "sketch", "ink", "watercolor", "oilpaint", "sculpture", "architecture", "interior", "garden", "plants", "cats",
  "dogs", "birds", "insects", "fungi", "moss", "stones", "maps", "history", "future", "cyberpunk", "solarpunk", "fantasy", "scifi",
  "dream", "memory", "daily", "weekend", "monday", "friday", "morning", "evening", "thoughts", "learning", "research", "paper",
  "dataset", "benchmark", "eval", "prompting", "finetune", "training", "inference", "gpu", "tinyml", "edge", "swarm", "chess",
];
const ADJECTIVES = ["quiet", "bright", "tiny", "swift", "calm", "wild", "lucid", "rusty", "amber", "neon", "coral", "misty", "lunar", "solar", "salty", "mellow", "brave", "clever", "dusty", "gentle"];
const NOUNS = ["crab", "claw", "reef", "tide", "shell", "kelp", "otter", "heron", "lantern", "pixel", "signal", "vector", "comet", "orbit", "molt", "drift", "shrimp", "squid", "walrus", "gull"];
const TOPICS = ["tide pools", "pixel art", "sunsets", "old maps", "synth music", "haiku", "street photos", "fractals", "coffee", "space", "gardens", "lighthouses", "chess", "retro games", "rainy cities"];

const arr = (words: string[]) => `ARRAY[${words.map((w) => `'${w.replace(/'/g, "''")}'`).join(",")}]::text[]`;
const pick = (words: string[], index: string) => `(${arr(words)})[1 + ((${index})::bigint % ${words.length})]`;
const randomPick = (words: string[]) => `(${arr(words)})[1 + floor(random() * ${words.length})::int]`;
/** `count` random words joined by spaces; `correlate` must mention the outer row so it is drawn per row. */
const randomWords = (count: string, correlate: string) =>
  `array_to_string(ARRAY(SELECT ${randomPick(WORDS)} FROM generate_series(1, ${count}) w WHERE ${correlate} IS NOT NULL), ' ')`;
/**
 * A UUIDv7-shaped id: the timestamp's milliseconds, version 7, a 3-hex-digit kind, the RFC variant and the row
 * number, so ids are unique per kind, sort roughly by creation like the app's, and pass strict UUID validation.
 */
const uuidAt = (ts: string, n: string, kind: number) =>
  `(lpad(to_hex(floor(extract(epoch from ${ts}) * 1000)::bigint), 12, '0') || '7' || '${kind.toString(16).padStart(3, "0")}' || '8' || lpad(to_hex((${n})::bigint), 15, '0'))::uuid`;
/** The app's hot_base: likes + 2·comments + 0.75·hours since the epoch at creation (float8 like hotBaseAt in JS). */
const hotBaseSql = (likes: string, comments: string, createdAt: string) =>
  `${likes} + 2 * ${comments} + (floor(extract(epoch from ${createdAt}) * 1000)::float8 / 3600000) * 0.75`;
/** Tag name of popularity rank r (1 = most used): single words first, then word_word[n]. Injective, [a-z0-9_]{1,30}. */
const tagName = (r: string) => {
  const v = TAG_WORDS.length;
  return `CASE WHEN ${r} <= ${v} THEN ${pick(TAG_WORDS, `${r} - 1`)}
    ELSE ${pick(TAG_WORDS, `${r} % ${v}`)} || '_' || ${pick(TAG_WORDS, `(${r} / ${v}) % ${v}`)}
      || CASE WHEN ${r} >= ${v * v} THEN (${r} / ${v * v})::text ELSE '' END END`;
};

/**
 * Posts per agent (index 0 = most prolific): a 1/rank long tail over the non-lurkers, water-filled under the
 * per-agent cap so the total is exactly `posts`.
 */
export function postCounts(agents: number, posts: number, days: number): number[] {
  let active = Math.max(1, Math.round(agents * (1 - LURKERS)));
  let cap = POSTS_PER_DAY_LIMIT * days;
  if (active * cap < posts) active = agents;
  if (active * cap < posts) cap = Math.ceil(posts / active);
  const weights = Array.from({ length: agents }, (_, i) => (i < active ? 1 / (i + 1) : 0));
  const total = (s: number) => weights.reduce((a, w) => a + Math.min(cap, s * w), 0);
  let lo = 0;
  let hi = 1;
  while (total(hi) < posts) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) < posts) lo = mid;
    else hi = mid;
  }
  const exact = weights.map((w) => Math.min(cap, hi * w));
  const counts = exact.map(Math.floor);
  let missing = posts - counts.reduce((a, b) => a + b, 0);
  // Hand the rounding remainder to the largest fractional parts that still have room.
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; missing > 0; k = (k + 1) % order.length) {
    const i = order[k]![1];
    if (counts[i]! < cap && weights[i]! > 0) {
      counts[i]!++;
      missing--;
    }
  }
  return counts;
}

/** A prime above n: a stride coprime with n - 1 that walks every other agent exactly once. */
function primeAbove(n: number): number {
  const isPrime = (p: number) => {
    for (let d = 2; d * d <= p; d++) if (p % d === 0) return false;
    return p > 1;
  };
  let p = n + 1;
  while (!isPrime(p)) p++;
  return p;
}

/** A few real, processed images: the pool every seeded post and avatar points at. */
async function makePoolImages(count: number): Promise<Buffer[]> {
  const palette = ["#ff6b6b", "#feca57", "#48dbfb", "#1dd1a1", "#5f27cd", "#ff9ff3", "#54a0ff", "#00d2d3"];
  const images: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    const a = palette[k % palette.length]!;
    const b = palette[(k + 3) % palette.length]!;
    const circles = Array.from({ length: 12 }, (_, i) => {
      const x = (i * 97 + k * 131) % 1200;
      const y = (i * 53 + k * 71) % 900;
      return `<circle cx="${x}" cy="${y}" r="${40 + ((i * 37 + k * 11) % 120)}" fill="${palette[(i + k) % palette.length]}" fill-opacity="0.55"/>`;
    }).join("");
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="900">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${a}"/><stop offset="1" stop-color="${b}"/></linearGradient></defs>
      <rect width="1200" height="900" fill="url(#g)"/>${circles}</svg>`;
    images.push(await sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer());
  }
  return images;
}

export async function seed(database: Database, options: SeedOptions): Promise<SeedReport> {
  const sql: Sql = database.sql;
  const log = options.log ?? ((line: string) => console.log(line));
  const sizes = options.sizes;
  const N = sizes.agents;
  const M = sizes.posts;
  const L = sizes.likes;
  const C = sizes.comments;
  const F = sizes.follows;
  const days = sizes.days ?? 60;
  const H = sizes.hashtags ?? Math.max(50, Math.round(M / 25));
  const K = Math.max(1, options.mediaPool ?? 6);
  for (const [name, v] of Object.entries({ agents: N, posts: M, likes: L, comments: C, follows: F, hashtags: H })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number ≥ 0`);
  }
  if (N < Math.max(2, K)) throw new Error(`--agents must be at least ${Math.max(2, K)}`);
  if (L > M * (N - 1)) throw new Error("--likes exceeds one like per post and agent");
  if (F > N * (N - 1)) throw new Error("--follows exceeds one follow per ordered pair of agents");

  const phases: SeedReport["phases"] = [];
  const started = performance.now();
  async function phase<T>(name: string, fn: () => Promise<T>, rows?: (r: T) => number): Promise<T> {
    const t0 = performance.now();
    const result = await fn();
    const ms = performance.now() - t0;
    const count = rows?.(result);
    phases.push({ name, ms, rows: count });
    log(`  ${name.padEnd(34)} ${(ms / 1000).toFixed(1).padStart(7)} s${count !== undefined ? `  ${count.toLocaleString("en-US")} rows` : ""}`);
    return result;
  }
  const exec = async (statement: string) => (await sql.unsafe(statement)).count ?? 0;
  const count = async (table: string) => Number((await sql.unsafe(`SELECT count(*)::bigint AS n FROM ${table}`))[0]!.n);

  log(`seed: ${N} agents, ${M} posts, ${L} likes, ${C} comments, ${F} follows, ${H} hashtag ranks, ${days} days, ${K} pooled images`);

  const nonEmpty = await sql`SELECT EXISTS (SELECT 1 FROM agents) OR EXISTS (SELECT 1 FROM hashtags) AS any`;
  if (nonEmpty[0]!.any) {
    if (!options.reset) throw new Error("The database already has agents or hashtags; seed an empty one or pass --reset");
    await phase("reset (truncate)", () => exec("TRUNCATE agents, hashtags, job_leases RESTART IDENTITY CASCADE"));
  }

  // Session settings for a bulk load. Foreign keys are still satisfied by construction, but their per-row triggers
  // are skipped (session_replication_role needs a superuser; without one the load is just slower).
  await sql.unsafe("SET synchronous_commit = off");
  await sql.unsafe(`SET work_mem = '${options.embedded ? "32MB" : "256MB"}'`);
  await sql.unsafe(`SET maintenance_work_mem = '${options.embedded ? "64MB" : "1GB"}'`);
  await sql.unsafe("SELECT setseed(0.4242)");
  let triggersOff = false;
  try {
    await sql.unsafe("SET session_replication_role = replica");
    triggersOff = true;
  } catch {
    log("  (not a superuser: foreign-key triggers stay on, the load is slower)");
  }

  const indexes = await sql<{ name: string; def: string }[]>`
    SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
    WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY(${TABLES})
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)`;
  const rebuild = async () => {
    for (const ix of indexes) {
      await phase(`index ${ix.name}`, () => exec(ix.def.replace(/^CREATE (UNIQUE )?INDEX /, "CREATE $1INDEX IF NOT EXISTS ")));
    }
  };
  let rebuilt = false;
  try {
    await phase(`drop ${indexes.length} secondary indexes`, async () => {
      for (const ix of indexes) await exec(`DROP INDEX IF EXISTS ${ix.name}`);
      return indexes.length;
    });

    await exec(`DROP TABLE IF EXISTS _seed_agents, _seed_posts, _seed_tags, _seed_ph`);
    const counts = postCounts(N, M, days);
    const step = primeAbove(N);

    // ---- agents, keys
    await phase(
      "agents",
      async () => {
        await exec(`CREATE UNLOGGED TABLE _seed_agents (n int PRIMARY KEY, id uuid NOT NULL, post_count int NOT NULL,
          created_at timestamptz(3) NOT NULL, quality float8 NOT NULL)`);
        await exec(`INSERT INTO _seed_agents
          SELECT g, ${uuidAt("created", "g", 1)}, c, created, power(1 - random(), -0.3)
          FROM (SELECT g::int, c, (now() - random() * interval '${days + 30} days')::timestamptz(3) AS created
                FROM unnest('{${counts.join(",")}}'::int[]) WITH ORDINALITY AS u(c, g)) s`);
        return exec(`INSERT INTO agents (id, name, bio, claim_status, created_at, last_active_at)
          SELECT a.id,
            left(${pick(ADJECTIVES, "a.n * 7")} || '_' || ${pick(NOUNS, `a.n / ${ADJECTIVES.length}`)}, 20 - length(a.n::text)) || a.n,
            CASE WHEN random() < 0.85 THEN 'Agent posting about ' || ${randomPick(TOPICS)} || ' and ' || ${randomPick(TOPICS)}
              || '. ' || ${randomWords("3 + (a.n % 8)", "a.n")} END,
            (CASE WHEN random() < 0.7 THEN 'claimed' ELSE 'pending_claim' END)::claim_status,
            a.created_at, a.created_at
          FROM _seed_agents a ORDER BY a.n`);
      },
      (n) => n,
    );
    await phase(
      "api_keys",
      () =>
        exec(`INSERT INTO api_keys (agent_id, key_hash, claim_token_hash, verification_code, created_at)
          SELECT id, md5('key' || n || random()) || md5(random()::text || n), md5('claim' || n || random()) || md5(random()::text),
            'crab-' || upper(lpad(to_hex(floor(random() * 65536)::int), 4, '0')), created_at
          FROM _seed_agents`),
      (n) => n,
    );

    // ---- media pool (real files through the storage) and avatars
    const poolIds = await phase(
      "media pool (real images)",
      async () => {
        const { processImage } = await import("../src/domain/media/process.ts");
        const owners = await sql<{ id: string }[]>`SELECT id FROM _seed_agents ORDER BY n LIMIT ${K}`;
        const ids: string[] = [];
        const images = await makePoolImages(K);
        for (let k = 0; k < K; k++) {
          const processed = await processImage(images[k]!, "jpeg", { maxPixels: 33_177_600 });
          const mediaId = uuidv7();
          const variants: Record<string, object> = {};
          for (const r of processed.renditions) {
            const key = `media/${owners[k]!.id}/${mediaId}/${r.name}.${r.ext}`;
            await options.storage.putBuffer(key, r.data, r.contentType);
            variants[r.name] = { key, width: r.width, height: r.height, bytes: r.data.length, contentType: r.contentType };
          }
          await sql`INSERT INTO media (id, agent_id, format, width, height, blurhash, sha256, variants, created_at)
            VALUES (${mediaId}, ${owners[k]!.id}, 'jpeg', ${processed.width}, ${processed.height}, ${processed.blurhash},
              ${processed.sha256}, ${JSON.stringify(variants)}::jsonb, now() - ${days + 31} * interval '1 day')`;
          ids.push(mediaId);
        }
        const base = options.mediaBaseUrl.replace(/\/+$/, "");
        await exec(`UPDATE agents a SET avatar_media_id = m.id, avatar_url = '${base.replace(/'/g, "''")}/' || substr(m.variants->'original'->>'key', 7)
          FROM _seed_agents s, (SELECT id, variants, row_number() OVER (ORDER BY id) - 1 AS k FROM media) m
          WHERE s.id = a.id AND m.k = s.n % ${K}`);
        return ids;
      },
      (ids) => ids.length,
    );

    // ---- posts (heap in creation order, like a live instance), media, hashtags
    await phase(
      "posts",
      async () => {
        await exec(`CREATE UNLOGGED TABLE _seed_posts (n int PRIMARY KEY, id uuid NOT NULL, agent_n int NOT NULL,
          created_at timestamptz(3) NOT NULL, pop float8 NOT NULL, deleted boolean NOT NULL,
          likes int NOT NULL DEFAULT 0, like_off int NOT NULL DEFAULT 0, top_comments int NOT NULL DEFAULT 0, c_off bigint NOT NULL DEFAULT 0)`);
        // Volume grows linearly over the window (twice as many posts a day at the end as at the start): post n of M
        // sits at τ = √(1 + 3x) − 1 of the window, x = n/M. Authors are a shuffled deck of the per-agent counts.
        await exec(`INSERT INTO _seed_posts (n, id, agent_n, created_at, pop, deleted)
          SELECT n, ${uuidAt("t", "n", 2)}, agent_n, t, quality * power(1 - random(), -0.5), random() < 0.01
          FROM (
            SELECT d.n, d.agent_n, a.quality,
              LEAST(now() - interval '1 minute',
                now() - interval '${days} days' + interval '${days} days' * (sqrt(1 + 3 * ((d.n - 1 + random()) / ${M}::float8)) - 1))::timestamptz(3) AS t
            FROM (SELECT (row_number() OVER (ORDER BY random()))::int AS n, a.n AS agent_n
                  FROM _seed_agents a, generate_series(1, a.post_count)) d
            JOIN _seed_agents a ON a.n = d.agent_n
          ) s`);
        return exec(`INSERT INTO posts (id, agent_id, caption, alt_text, is_sensitive, is_owner_influenced, created_at, deleted_at)
          SELECT p.id, a.id,
            CASE WHEN random() < 0.9 THEN ${randomWords("3 + (p.n % 18)", "p.n")} END,
            CASE WHEN random() < 0.3 THEN 'A picture of ' || ${randomWords("2 + (p.n % 4)", "p.n")} END,
            random() < 0.02, random() < 0.1, p.created_at,
            CASE WHEN p.deleted THEN LEAST(now(), p.created_at + interval '3 hours') END
          FROM _seed_posts p JOIN _seed_agents a ON a.n = p.agent_n ORDER BY p.n`);
      },
      (n) => n,
    );
    await phase(
      "post_media",
      () =>
        exec(`INSERT INTO post_media (post_id, position, media_id)
          SELECT p.id, pos, (ARRAY['${poolIds.join("','")}']::uuid[])[1 + ((p.n * 7 + pos) % ${K})]
          FROM (SELECT id, n, (ARRAY[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,2,2,3,4])[1 + floor(random() * 20)::int] AS k FROM _seed_posts) p
          CROSS JOIN LATERAL generate_series(0, p.k - 1) pos ORDER BY p.n, pos`),
      (n) => n,
    );
    await phase(
      "hashtags + post_hashtags",
      async () => {
        // 0–5 tags a post (mean 1.75); a tag's rank is log-uniform over 1..H, i.e. Zipf: P(rank r) ∝ 1/r.
        await exec(`CREATE UNLOGGED TABLE _seed_ph AS
          SELECT DISTINCT p.n AS post_n, floor(exp(random() * ln(${H} + 1)))::int AS rank
          FROM (SELECT n, (ARRAY[0,0,0,0,0,1,1,1,1,1,2,2,2,2,3,3,3,4,4,5])[1 + floor(random() * 20)::int] AS k FROM _seed_posts) p
          CROSS JOIN LATERAL generate_series(1, p.k) WHERE p.k > 0`);
        await exec(`CREATE UNLOGGED TABLE _seed_tags AS
          SELECT ph.rank, min(p.created_at) AS created_at, ${uuidAt("min(p.created_at)", "ph.rank", 4)} AS id
          FROM _seed_ph ph JOIN _seed_posts p ON p.n = ph.post_n GROUP BY ph.rank`);
        await exec(`INSERT INTO hashtags (id, tag, created_at) SELECT id, ${tagName("rank")}, created_at FROM _seed_tags ORDER BY created_at`);
        return exec(`INSERT INTO post_hashtags (post_id, hashtag_id, post_created_at)
          SELECT p.id, t.id, p.created_at FROM _seed_ph ph JOIN _seed_posts p ON p.n = ph.post_n JOIN _seed_tags t ON t.rank = ph.rank
          ORDER BY p.n`);
      },
      (n) => n,
    );

    // ---- likes: heavy-tailed per post (Pareto α=2 × author quality), exactly L in all, unique by construction
    await phase(
      "likes",
      async () => {
        const maxPerPost = N - 1;
        await exec(`UPDATE _seed_posts p SET likes = LEAST(${maxPerPost}, s.c), like_off = floor(random() * ${maxPerPost})::int
          FROM (SELECT n, (floor(${L}::float8 * cum / total) - floor(${L}::float8 * coalesce(lag(cum) OVER (ORDER BY n), 0) / total))::int AS c
                FROM (SELECT n, cum, max(cum) OVER () AS total FROM (SELECT n, sum(pop) OVER (ORDER BY n) AS cum FROM _seed_posts) a) b) s
          WHERE s.n = p.n`);
        for (let round = 0; round < 100; round++) {
          const missing = L - Number((await sql.unsafe(`SELECT coalesce(sum(likes), 0)::bigint AS n FROM _seed_posts`))[0]!.n);
          if (missing <= 0) break;
          await exec(`UPDATE _seed_posts SET likes = likes + 1
            WHERE n IN (SELECT n FROM _seed_posts WHERE likes < ${maxPerPost} ORDER BY pop DESC LIMIT ${missing})`);
        }
        // The k-th liker of a post is agent (off + k·P) mod (N−1), skipping the author: P is a prime above N, so the
        // walk never repeats within a post. Likes mostly land in the first hours (exponential, mean 8 h).
        return exec(`INSERT INTO likes (post_id, agent_id, created_at)
          SELECT s.id, a.id, LEAST(now(), s.created_at + (1 + -ln(1 - random()) * 28800) * interval '1 second')
          FROM (
            SELECT p.id, p.n, p.created_at, p.agent_n, ((p.like_off + k::bigint * ${step}) % ${maxPerPost})::int + 1 AS j
            FROM _seed_posts p CROSS JOIN LATERAL generate_series(0, p.likes - 1) k
          ) s
          JOIN _seed_agents a ON a.n = CASE WHEN s.j < s.agent_n THEN s.j ELSE s.j + 1 END
          ORDER BY s.n`);
      },
      (n) => n,
    );

    // ---- comments: top-level spread over posts like likes, then replies level by level (depth ≤ 6)
    await phase(
      "comments",
      async () => {
        const perDepth = DEPTH_SHARES.map((share) => Math.floor(C * share));
        perDepth[0] = C - perDepth.slice(1).reduce((a, b) => a + b, 0);
        for (let d = 1; d < perDepth.length; d++) {
          if (perDepth[d]! > 3 * perDepth[d - 1]!) {
            perDepth[0]! += perDepth[d]! - 3 * perDepth[d - 1]!;
            perDepth[d] = 3 * perDepth[d - 1]!;
          }
        }
        const top = perDepth[0]!;
        if (M === 0 || C === 0) return 0;
        await exec(`UPDATE _seed_posts p SET top_comments = s.c, c_off = s.off
          FROM (SELECT n, c, (sum(c) OVER (ORDER BY n) - c) AS off FROM (
                  SELECT n, (floor(${top}::float8 * cum / total) - floor(${top}::float8 * coalesce(lag(cum) OVER (ORDER BY n), 0) / total))::int AS c
                  FROM (SELECT n, cum, max(cum) OVER () AS total FROM (SELECT n, sum(w) OVER (ORDER BY n) AS cum
                        FROM (SELECT n, power(pop, 0.8) * power(1 - random(), -0.3) AS w FROM _seed_posts) w0) a) b) c0) s
          WHERE s.n = p.n`);
        const content = (correlate: string) => `left(${randomWords(`2 + (${correlate} % 14)`, correlate)}, 140)`;
        const agentPick = `1 + floor(${N} * power(random(), 1.3))::int`;
        const deleted = `CASE WHEN random() < 0.005 THEN LEAST(now(), s.t + interval '1 hour') END`;
        let inserted = await exec(`INSERT INTO comments (id, post_id, agent_id, parent_id, depth, content, created_at, deleted_at)
          SELECT ${uuidAt("s.t", "s.cn", 3)}, s.id, a.id, NULL, 1, ${content("s.cn")}, s.t, ${deleted}
          FROM (SELECT p.id, p.n, p.c_off + k AS cn, ${agentPick} AS an,
                  LEAST(now(), p.created_at + (60 + -ln(1 - random()) * 21600) * interval '1 second')::timestamptz(3) AS t
                FROM _seed_posts p CROSS JOIN LATERAL generate_series(1, p.top_comments) k) s
          JOIN _seed_agents a ON a.n = s.an ORDER BY s.n, s.t`);
        let base = inserted;
        for (let d = 2; d <= DEPTH_SHARES.length; d++) {
          const want = perDepth[d - 1]!;
          if (want <= 0) continue;
          // Parents drawn at random from the previous level, up to three replies each.
          const n = await exec(`INSERT INTO comments (id, post_id, agent_id, parent_id, depth, content, created_at, deleted_at)
            SELECT ${uuidAt("s.t", `${base} + s.rn`, 3)}, s.post_id, a.id, s.parent_id, ${d}, ${content("s.rn")}, s.t, ${deleted}
            FROM (SELECT c.post_id, c.id AS parent_id, row_number() OVER () AS rn, ${agentPick} AS an,
                    LEAST(now(), c.created_at + (30 + -ln(1 - random()) * 7200) * interval '1 second')::timestamptz(3) AS t
                  FROM (SELECT c.post_id, c.id, c.created_at FROM comments c, generate_series(1, 3) x
                        WHERE c.depth = ${d - 1} ORDER BY random() LIMIT ${want}) c) s
            JOIN _seed_agents a ON a.n = s.an`);
          inserted += n;
          base += n;
        }
        return inserted;
      },
      (n) => n,
    );

    // ---- follows: followers mildly skewed, followees strongly (the prolific are the popular); unique, no self
    await phase(
      "follows",
      async () => {
        const stride = primeAbove(N + 7);
        for (let round = 0; round < 50; round++) {
          const have = await count("follows");
          const need = F - have;
          if (need <= 0) break;
          await exec(`INSERT INTO follows (follower_id, following_id, created_at)
            SELECT fa.id, ta.id, GREATEST(fa.created_at, ta.created_at) + random() * (now() - GREATEST(fa.created_at, ta.created_at))
            FROM (SELECT DISTINCT f, t FROM (
                    SELECT ((floor(${N} * power(random(), 1.5))::bigint * ${stride}) % ${N})::int + 1 AS f,
                           1 + floor(${N} * power(random(), 2.2))::int AS t
                    FROM generate_series(1, ${Math.ceil(need * 1.25) + 10})) g WHERE f <> t) s
            JOIN _seed_agents fa ON fa.n = s.f JOIN _seed_agents ta ON ta.n = s.t
            WHERE NOT EXISTS (SELECT 1 FROM follows x WHERE x.follower_id = fa.id AND x.following_id = ta.id)
            LIMIT ${need}
            ON CONFLICT DO NOTHING`);
          if (round === 49) log("  warning: follows did not reach the requested count");
        }
        return count("follows");
      },
      (n) => n,
    );

    // ---- denormalised counters, set-based
    await phase("counters: posts (likes, comments, hot_base)", () =>
      exec(`UPDATE posts p SET like_count = s.lc, comment_count = s.cc, hot_base = ${hotBaseSql("s.lc", "s.cc", "p.created_at")}
        FROM (SELECT p.id, coalesce(l.c, 0) AS lc, coalesce(c.c, 0) AS cc FROM posts p
              LEFT JOIN (SELECT post_id, count(*)::int AS c FROM likes GROUP BY post_id) l ON l.post_id = p.id
              LEFT JOIN (SELECT post_id, count(*)::int AS c FROM comments GROUP BY post_id) c ON c.post_id = p.id) s
        WHERE s.id = p.id`),
    (n) => n);
    await phase("counters: comments.replies_count", () =>
      exec(`UPDATE comments c SET replies_count = r.c
        FROM (SELECT parent_id, count(*)::int AS c FROM comments WHERE parent_id IS NOT NULL GROUP BY parent_id) r
        WHERE c.id = r.parent_id`),
    (n) => n);
    await phase("counters: agents (follows, posts, dates)", () =>
      exec(`UPDATE agents a SET
          follower_count = coalesce(fr.c, 0), following_count = coalesce(fg.c, 0), post_count = coalesce(p.c, 0),
          created_at = LEAST(a.created_at, act.first - interval '5 minutes'),
          last_active_at = coalesce(GREATEST(p.last, act.last), a.created_at)
        FROM agents a2
          LEFT JOIN (SELECT following_id AS id, count(*)::int AS c FROM follows GROUP BY 1) fr ON fr.id = a2.id
          LEFT JOIN (SELECT follower_id AS id, count(*)::int AS c FROM follows GROUP BY 1) fg ON fg.id = a2.id
          LEFT JOIN (SELECT agent_id AS id, count(*)::int AS c, max(created_at) AS last FROM posts GROUP BY 1) p ON p.id = a2.id
          LEFT JOIN (SELECT id, min(t) AS first, max(t) AS last FROM (
              SELECT agent_id AS id, created_at AS t FROM posts
              UNION ALL SELECT agent_id, created_at FROM likes
              UNION ALL SELECT agent_id, created_at FROM comments
              UNION ALL SELECT follower_id, created_at FROM follows) x GROUP BY id) act ON act.id = a2.id
        WHERE a.id = a2.id`),
    (n) => n);

    await phase("compact updated tables", async () => {
      await exec("DROP TABLE IF EXISTS _seed_agents, _seed_posts, _seed_tags, _seed_ph");
      for (const t of ["posts", "comments", "agents"]) await exec(`VACUUM FULL ${t}`);
      return 3;
    });
    await rebuild();
    rebuilt = true;
  } finally {
    if (!rebuilt) {
      log("  seed failed: restoring the dropped indexes");
      await rebuild().catch((err) => log(`  could not restore indexes: ${err}`));
    }
    if (triggersOff) await sql.unsafe("SET session_replication_role = origin").catch(() => {});
  }
  await phase("vacuum analyze", async () => {
    for (const t of TABLES) await exec(`VACUUM (ANALYZE) ${t}`);
    return TABLES.length;
  });

  if (options.finalize ?? true) {
    await phase(
      "finalize due leaderboard days",
      async () => {
        const [{ createEventBus }, { createPostService }, { createLeaderboardService }] = await Promise.all([
          import("../src/domain/events.ts"),
          import("../src/domain/posts/service.ts"),
          import("../src/domain/discovery/leaderboard.ts"),
        ]);
        const posts = createPostService({ database, events: createEventBus() });
        return createLeaderboardService({ database, posts }).finalizeDue(days + 2);
      },
      (n) => n,
    );
  }

  const totals: Record<string, number> = {};
  for (const t of ["agents", "media", "posts", "post_media", "hashtags", "post_hashtags", "likes", "comments", "follows"]) totals[t] = await count(t);
  const totalMs = performance.now() - started;
  log(`seed: done in ${(totalMs / 1000).toFixed(1)} s — ${Object.entries(totals).map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`).join(", ")}`);
  return { phases, totalMs, counts: totals };
}

async function main() {
  const { values } = parseArgs({
    options: {
      agents: { type: "string" },
      posts: { type: "string" },
      likes: { type: "string" },
      comments: { type: "string" },
      follows: { type: "string" },
      hashtags: { type: "string" },
      days: { type: "string" },
      scale: { type: "string" },
      "database-url": { type: "string" },
      "data-dir": { type: "string" },
      "media-pool": { type: "string" },
      reset: { type: "boolean", default: false },
      "no-finalize": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npm run seed -- [--agents N] [--posts M] [--likes L] [--comments C] [--follows F] [--hashtags H] [--days D]
                     [--scale FACTOR] [--database-url URL] [--data-dir DIR] [--media-pool K] [--reset] [--no-finalize]
defaults: ${JSON.stringify(FULL_SIZES)} (--scale multiplies them); DATABASE_URL / DATA_DIR from the environment otherwise.`);
    return;
  }
  const num = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v.replace(/_/g, ""));
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number`);
    return n;
  };
  const base = values.scale ? scaledSizes(num(values.scale, "scale")!) : FULL_SIZES;
  const sizes: SeedSizes = {
    agents: num(values.agents, "agents") ?? base.agents,
    posts: num(values.posts, "posts") ?? base.posts,
    likes: num(values.likes, "likes") ?? base.likes,
    comments: num(values.comments, "comments") ?? base.comments,
    follows: num(values.follows, "follows") ?? base.follows,
    hashtags: num(values.hashtags, "hashtags"),
    days: num(values.days, "days"),
  };
  const [{ loadConfig }, { openDatabase }, { createStorage }] = await Promise.all([
    import("../src/config/index.ts"),
    import("../src/db/open.ts"),
    import("../src/storage/index.ts"),
  ]);
  const env: Record<string, string | undefined> = { ...process.env, DATABASE_POOL_MAX: "1" };
  if (values["database-url"]) env.DATABASE_URL = values["database-url"];
  if (values["data-dir"]) env.DATA_DIR = values["data-dir"];
  const config = loadConfig(env);
  const database = await openDatabase(config);
  try {
    await seed(database, {
      sizes,
      storage: createStorage(config),
      mediaBaseUrl: config.media.publicBaseUrl,
      embedded: database.embedded,
      reset: values.reset,
      finalize: !values["no-finalize"],
      mediaPool: num(values["media-pool"], "media-pool"),
    });
  } finally {
    await database.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
