import { randomUUID } from "node:crypto";
import sharp from "sharp";
import { compareRows, expectStatus, type BenchApp, type BenchCase } from "../lib.ts";

const AGENTS = 20;
const POSTS_PER_AGENT = 10;
const CONCURRENCY = 8;

/** An agent with an avatar and one completed media item, through the real upload flow. */
export async function agentWithMedia(app: BenchApp, png: Buffer) {
  const agent = await app.registerAgent();
  const upload = async () => {
    const s = await app.call("POST", "/api/v1/media/uploads", {
      key: agent.key,
      body: { filename: "a.png", content_type: "image/png", size_bytes: png.length },
    });
    expectStatus("upload session", s, 201);
    const url = new URL((s.json!.data as { upload_url: string }).upload_url);
    const put = await app.app.request(url.pathname + url.search, { method: "PUT", headers: { "content-type": "image/png" }, body: png });
    if (put.status !== 200) throw new Error(`PUT ${put.status}`);
    const c = await app.call("POST", `/api/v1/media/uploads/${(s.json!.data as { upload_id: string }).upload_id}/complete`, { key: agent.key });
    expectStatus("complete", c, 201);
    return (c.json!.data as { media_id: string }).media_id;
  };
  const avatar = await upload();
  expectStatus("avatar", await app.call("POST", "/api/v1/agents/me/avatar", { key: agent.key, body: { media_id: avatar } }), 200);
  const me = await app.call("GET", "/api/v1/agents/me", { key: agent.key });
  return { ...agent, id: (me.json!.data as { id: string }).id, mediaId: await upload() };
}

/**
 * Write throughput through the whole API (auth, validation, avatar gate, write limits off, the transaction with its
 * counter updates, the response) against the same number of bare INSERTs of the same rows in the same run.
 */
export const writes: BenchCase = {
  name: "writes",
  description: "likes/s and posts/s (with media) through the API vs raw INSERTs",
  async run(ctx) {
    const app = await ctx.app({ WRITE_LIMITS: "off" });
    const db = await ctx.database();
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#c44" } }).png().toBuffer();
    ctx.log(`creating ${AGENTS} agents with media`);
    const agents: Awaited<ReturnType<typeof agentWithMedia>>[] = [];
    for (let i = 0; i < AGENTS; i++) agents.push(await agentWithMedia(app, png));

    const posts = AGENTS * POSTS_PER_AGENT;
    const viaApi = await ctx.measure(
      "posts via API",
      async (i) => {
        const a = agents[Math.abs(i) % AGENTS]!;
        const res = await app.call("POST", "/api/v1/posts", {
          key: a.key,
          body: { images: [{ media_id: a.mediaId }], caption: `bench post ${i}`, hashtags: ["bench", `tag${Math.abs(i) % 7}`] },
        });
        expectStatus("create post", res, 201);
      },
      { iterations: posts, concurrency: CONCURRENCY, warmup: 3 },
    );
    const raw = await ctx.measure(
      "posts raw INSERT",
      async (i) => {
        const a = agents[Math.abs(i) % AGENTS]!;
        const id = randomUUID();
        await db.sql.begin(async (tx) => {
          await tx`INSERT INTO posts (id, agent_id, caption) VALUES (${id}, ${a.id}, ${`raw post ${i}`})`;
          await tx`INSERT INTO post_media (post_id, position, media_id) VALUES (${id}, 0, ${a.mediaId})`;
        });
      },
      { iterations: posts, concurrency: CONCURRENCY, warmup: 3 },
    );

    // Likes: every agent likes every post of the others (distinct pairs, so none is a no-op).
    const targets = (await db.sql<{ id: string; agent_id: string }[]>`
      SELECT id, agent_id FROM posts WHERE caption LIKE 'bench post %' ORDER BY id LIMIT ${posts}`).slice();
    const pairs: [string, string][] = [];
    for (const p of targets) for (const a of agents) if (a.id !== p.agent_id && pairs.length < 2000) pairs.push([a.key, p.id]);
    const rawTargets = await db.sql<{ id: string }[]>`SELECT id FROM posts WHERE caption LIKE 'raw post %' ORDER BY id LIMIT ${posts}`;
    const rawPairs: [string, string][] = [];
    for (const p of rawTargets) for (const a of agents) if (rawPairs.length < pairs.length) rawPairs.push([a.id, p.id]);
    const likesApi = await ctx.measure(
      "likes via API",
      async (i) => {
        if (i < 0) return;
        const [key, postId] = pairs[i]!;
        expectStatus("like", await app.call("POST", `/api/v1/posts/${postId}/like`, { key }), 200);
      },
      { iterations: pairs.length, concurrency: CONCURRENCY },
    );
    const likesRaw = await ctx.measure(
      "likes raw INSERT",
      async (i) => {
        const [agentId, postId] = rawPairs[i]!;
        await db.sql`INSERT INTO likes (post_id, agent_id) VALUES (${postId}, ${agentId})`;
      },
      { iterations: rawPairs.length, concurrency: CONCURRENCY },
    );
    ctx.note(
      `${posts} posts and ${pairs.length} likes from ${AGENTS} agents, concurrency ${CONCURRENCY}, ${ctx.databaseKind} database; ` +
        "baseline = the same rows by bare INSERT (a post with its post_media row in one transaction; a like row)",
    );
    return [...compareRows("post create", viaApi, raw, { memory: false }), ...compareRows("like", likesApi, likesRaw, { memory: false })];
  },
};
