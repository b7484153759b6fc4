/**
 * Federation case: one post by an agent with N fediverse followers spread over K peer servers, delivered through the
 * real path (domain event → bridge → Fedify `sendActivity` with shared inboxes → the PostgreSQL-backed queue → signed
 * POSTs), against a raw enqueue/dequeue of the same number of messages through the same queue class in the same run.
 *
 * - Peers: K loopback HTTP servers that accept any POST, count it and answer 202 (sinks: no signature checks, so the
 *   time measured is ours). Followers are remote agents rows (`user@127.0.0.1:port`, shared inbox `/inbox`) with
 *   follows to the author, inserted in SQL.
 * - Ours: from the API call that creates the post until every peer has received the Create; reported as the time,
 *   the number of POSTs (must equal K: one per shared inbox), POSTs/s and followers reached/s.
 * - Baseline: K small messages enqueued at once and drained by a no-op handler through ClawgramMessageQueue.
 * - Size: BENCH_FED_FOLLOWERS (10,000) and BENCH_FED_PEERS (50); BENCH_FED_ROUNDS (3) posts, each timed.
 * - BENCH_FED_SINK_DELAY_MS (0): each peer answers after this long, as real servers do (network round trip and their
 *   own work; 100–300 ms is common). FEDERATION_QUEUE_WORKERS sets how many deliveries run at once (1: one by one).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { latencyStats, type BenchCase, type Measurement, type Row } from "../lib.ts";
import { agentWithMedia } from "./writes.ts";

const FOLLOWERS = Number(process.env.BENCH_FED_FOLLOWERS ?? 10_000);
const PEERS = Number(process.env.BENCH_FED_PEERS ?? 50);
const ROUNDS = Number(process.env.BENCH_FED_ROUNDS ?? 3);
const SINK_DELAY_MS = Number(process.env.BENCH_FED_SINK_DELAY_MS ?? 0);
/** A round that has not reached every peer by then fails the case. */
const ROUND_TIMEOUT_MS = 120_000;

type Sink = { server: http.Server; port: number; posts: number; seen: Set<string> };

/** A peer's inbox: counts POSTs and remembers which Create object ids reached it. */
async function startSink(onPost: () => void): Promise<Sink> {
  const sink: Sink = { server: http.createServer(), port: 0, posts: 0, seen: new Set() };
  sink.server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST") {
        sink.posts++;
        try {
          const activity = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { type?: string; object?: { id?: string } | string };
          const object = typeof activity.object === "string" ? activity.object : activity.object?.id;
          if (activity.type === "Create" && object) sink.seen.add(object);
        } catch {
          // not JSON: counted, never matched
        }
        onPost();
      }
      const answer = () => res.writeHead(req.method === "POST" ? 202 : 404).end();
      if (SINK_DELAY_MS > 0) setTimeout(answer, SINK_DELAY_MS);
      else answer();
    });
  });
  await new Promise<void>((resolve) => sink.server.listen(0, "127.0.0.1", resolve));
  sink.port = (sink.server.address() as AddressInfo).port;
  return sink;
}

/** Resolves when `done()` holds, checked whenever a peer receives something; rejects after `ms`. */
function until(done: () => boolean, subscribe: (fn: () => void) => () => void, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (done()) return resolve();
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`not every peer received the post within ${ms / 1000} s`));
    }, ms);
    const unsubscribe = subscribe(() => {
      if (!done()) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
  });
}

function measurement(label: string, iterations: number, wallMs: number, latencies: number[]): Measurement {
  return {
    label,
    iterations,
    concurrency: 1,
    wallMs,
    opsPerSec: (iterations * 1000) / wallMs,
    ...latencyStats(latencies),
    cpuMsPerOp: 0,
    rssBeforeMb: 0,
    peakRssMb: 0,
    isolated: false,
    latenciesMs: latencies,
  };
}

export const federation: BenchCase = {
  name: "federation",
  description: `one post to ${FOLLOWERS} fediverse followers on ${PEERS} peers (shared inboxes) vs raw queue enqueue/dequeue`,

  async run(ctx) {
    const listeners = new Set<() => void>();
    const subscribe = (fn: () => void) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    };
    const sinks: Sink[] = [];
    for (let i = 0; i < PEERS; i++) sinks.push(await startSink(() => listeners.forEach((fn) => fn())));
    const queueAbort = new AbortController();
    let queueRun: Promise<void> | undefined;
    try {
      // Loopback peers need private addresses, which production refuses: the bench runs as development.
      const app = await ctx.app({
        NODE_ENV: "development",
        ALLOW_PRIVATE_ADDRESS: "true",
        WRITE_LIMITS: "off",
        LOG_LEVEL: "error",
        // FEDERATION_QUEUE_WORKERS=1 measures one-by-one delivery, for comparison.
        ...(process.env.FEDERATION_QUEUE_WORKERS ? { FEDERATION_QUEUE_WORKERS: process.env.FEDERATION_QUEUE_WORKERS } : {}),
      });
      const db = await ctx.database();
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#4a6" } }).png().toBuffer();
      const author = await agentWithMedia(app, png);

      ctx.log(`inserting ${FOLLOWERS} remote followers on ${PEERS} peers`);
      const ports = sinks.map((s) => s.port);
      await db.sql`
        WITH f AS (
          SELECT i, (${ports}::int[])[1 + i % ${PEERS}] AS port FROM generate_series(0, ${FOLLOWERS - 1}) AS i
        ), inserted AS (
          INSERT INTO agents (id, name, kind, actor_iri, inbox_url, shared_inbox_url, fetched_at)
          SELECT gen_random_uuid(), 'f' || i || '@127.0.0.1:' || port, 'remote',
            'http://127.0.0.1:' || port || '/users/f' || i, 'http://127.0.0.1:' || port || '/users/f' || i || '/inbox',
            'http://127.0.0.1:' || port || '/inbox', now()
          FROM f
          RETURNING id
        )
        INSERT INTO follows (follower_id, following_id) SELECT id, ${author.id}::uuid FROM inserted`;
      await db.sql`UPDATE agents SET follower_count = ${FOLLOWERS} WHERE id = ${author.id}::uuid`;

      const { startFederationQueue } = await import("../../federation/index.ts");
      queueRun = startFederationQueue(app.federation, app.services, queueAbort.signal);

      const roundMs: number[] = [];
      const postsPerRound: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const before = sinks.reduce((a, s) => a + s.posts, 0);
        const t0 = performance.now();
        const res = await app.call("POST", "/api/v1/posts", {
          key: author.key,
          body: { images: [{ media_id: author.mediaId }], caption: `federated bench post ${round}`, hashtags: ["bench"] },
        });
        if (res.status !== 201) throw new Error(`create post: ${res.status} ${res.text.slice(0, 300)}`);
        const id = (res.json!.data as { id: string }).id;
        const reached = () => sinks.every((s) => [...s.seen].some((o) => o.endsWith(id)));
        await until(reached, subscribe, ROUND_TIMEOUT_MS);
        roundMs.push(performance.now() - t0);
        // Anything still in flight for this post (a retry, a duplicate) would land now.
        await new Promise((r) => setTimeout(r, 200));
        postsPerRound.push(sinks.reduce((a, s) => a + s.posts, 0) - before);
        ctx.log(`  round ${round + 1}: ${PEERS} peers reached in ${roundMs.at(-1)!.toFixed(0)} ms with ${postsPerRound.at(-1)} POSTs`);
      }
      queueAbort.abort();
      await queueRun.catch(() => {});
      queueRun = undefined;

      // Baseline: the same number of messages straight through the same queue class, no handler work.
      const { ClawgramMessageQueue } = await import("../../federation/store.ts");
      const baselineMs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const queue = new ClawgramMessageQueue(db.sql);
        const abort = new AbortController();
        let handled = 0;
        let finished: () => void = () => {};
        const allHandled = new Promise<void>((resolve) => (finished = resolve));
        const listening = queue.listen(
          () => {
            if (++handled === PEERS) finished();
          },
          { signal: abort.signal },
        );
        const t0 = performance.now();
        await queue.enqueueMany(Array.from({ length: PEERS }, (_, i) => ({ type: "bench", round, i, inbox: `http://127.0.0.1/${i}` })));
        await allHandled;
        baselineMs.push(performance.now() - t0);
        abort.abort();
        await listening.catch(() => {});
      }

      const ours = measurement("post delivered to every peer", ROUNDS * PEERS, roundMs.reduce((a, b) => a + b, 0), roundMs);
      const base = measurement("raw enqueue + dequeue", ROUNDS * PEERS, baselineMs.reduce((a, b) => a + b, 0), baselineMs);
      const posts = postsPerRound.reduce((a, b) => a + b, 0) / ROUNDS;
      const meanMs = ours.wallMs / ROUNDS;
      ctx.note(
        `${FOLLOWERS} remote followers on ${PEERS} loopback peers answering after ${SINK_DELAY_MS} ms, ` +
          `FEDERATION_QUEUE_WORKERS=${process.env.FEDERATION_QUEUE_WORKERS ?? "16 (default)"}, ${ROUNDS} posts; POSTs per post: ${postsPerRound.join(", ")} ` +
          `(expected ${PEERS}: one per shared inbox${postsPerRound.every((n) => n === PEERS) ? ", met" : ", NOT MET"}); ` +
          `time from the API call to the last peer: ${roundMs.map((m) => m.toFixed(0)).join(", ")} ms; ` +
          `baseline = ${PEERS} messages enqueued at once and drained by a no-op handler through ClawgramMessageQueue ` +
          `(${baselineMs.map((m) => m.toFixed(0)).join(", ")} ms).`,
      );
      const rows: Row[] = [
        { metric: "POSTs per post (shared inboxes)", value: posts, unit: "POSTs", better: "lower", baseline: PEERS },
        { metric: "deliveries (inbox POSTs) throughput", value: ours.opsPerSec, unit: "POSTs/s", better: "higher", baseline: base.opsPerSec },
        { metric: "followers reached throughput", value: (FOLLOWERS * 1000) / meanMs, unit: "followers/s", better: "higher" },
        { metric: "time until every peer has the post", value: meanMs, unit: "ms", better: "lower", baseline: base.wallMs / ROUNDS },
      ];
      return rows;
    } finally {
      queueAbort.abort();
      await queueRun?.catch(() => {});
      await Promise.all(sinks.map((s) => new Promise((r) => s.server.close(r))));
    }
  },
};
