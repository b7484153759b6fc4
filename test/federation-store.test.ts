import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClawgramKvStore, ClawgramMessageQueue } from "../federation/store.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.close();
});

describe("Fedify KV store on PostgreSQL", () => {
  it("gets, sets, deletes, expires and lists by prefix", async () => {
    const kv = new ClawgramKvStore(db.sql);
    await kv.set(["a", "1"], { n: 1 });
    await kv.set(["a", "2"], [1, 2]);
    await kv.set(["b", "1"], "x");
    await kv.set(["t"], "soon gone", { ttl: Temporal.Duration.from({ seconds: 3 }) });
    expect(await kv.get(["a", "1"])).toEqual({ n: 1 });
    expect(await kv.get(["t"])).toBe("soon gone");
    const listed = [];
    for await (const e of kv.list(["a"])) listed.push(e);
    expect(listed.map((e) => e.key).sort()).toEqual([["a", "1"], ["a", "2"]]);
    await kv.delete(["a", "1"]);
    expect(await kv.get(["a", "1"])).toBeUndefined();
    // Expiry: the row outlives its TTL in the table, but reads no longer see it.
    await db.sql`UPDATE fedify_kv_v2 SET created = created - interval '1 minute' WHERE key = ARRAY['t']`;
    expect(await kv.get(["t"])).toBeUndefined();
  });

  it("compare-and-swap succeeds only against the current value", async () => {
    const kv = new ClawgramKvStore(db.sql);
    expect(await kv.cas(["c"], undefined, { v: 1 })).toBe(true);
    expect(await kv.cas(["c"], undefined, { v: 9 })).toBe(false);
    expect(await kv.cas(["c"], { v: 2 }, { v: 3 })).toBe(false);
    expect(await kv.cas(["c"], { v: 1 }, { v: 2 })).toBe(true);
    expect(await kv.get(["c"])).toEqual({ v: 2 });
    const racers = await Promise.all([1, 2, 3, 4].map((i) => kv.cas(["c"], { v: 2 }, { v: 10 + i })));
    expect(racers.filter(Boolean)).toHaveLength(1);
    const now = (await kv.get<{ v: number }>(["c"]))!;
    expect(await kv.cas(["c"], now, undefined)).toBe(true);
    expect(await kv.get(["c"])).toBeUndefined();
  });
});

describe("Fedify message queue on PostgreSQL", () => {
  it("delivers enqueued messages once each, including delayed and batched ones", async () => {
    const mq = new ClawgramMessageQueue(db.sql, { pollIntervalSeconds: 1 });
    const received: unknown[] = [];
    const controller = new AbortController();
    const listening = mq.listen((m) => {
      received.push(m);
    }, { signal: controller.signal });
    await mq.enqueue({ n: 1 });
    await mq.enqueueMany([{ n: 2 }, { n: 3 }] as const);
    await mq.enqueue({ n: 4 }, { delay: Temporal.Duration.from({ milliseconds: 500 }) });
    const deadline = Date.now() + 15_000;
    while (received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await listening;
    await new Promise((r) => setTimeout(r, 50));
    expect(received.map((m) => (m as { n: number }).n).sort()).toEqual([1, 2, 3, 4]);
    const [{ n }] = await db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM fedify_message_v2`;
    expect(n).toBe(0);
  });
});

describe("Fedify message queue: workers", () => {
  /** A handler that records what runs at once and waits until `release` lets each message finish. */
  function gatedHandler() {
    const started: string[] = [];
    const finished: string[] = [];
    let active = 0;
    let peak = 0;
    const gates = new Map<string, () => void>();
    const handler = async (m: unknown) => {
      const id = (m as { id: string }).id;
      started.push(id);
      active++;
      peak = Math.max(peak, active);
      await new Promise<void>((resolve) => gates.set(id, resolve));
      active--;
      finished.push(id);
    };
    const release = (id: string) => gates.get(id)?.();
    return { handler, started, finished, release, peak: () => peak, waiting: () => [...gates.keys()].filter((k) => !finished.includes(k)) };
  }
  const until = async (what: () => boolean) => {
    const deadline = Date.now() + 15_000;
    while (!what()) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it("handles up to `workers` messages at once, keeps messages of one ordering key in order, and finishes taken ones on stop", async () => {
    const mq = new ClawgramMessageQueue(db.sql, { pollIntervalSeconds: 1, workers: 3 });
    const h = gatedHandler();
    const controller = new AbortController();
    const listening = mq.listen(h.handler, { signal: controller.signal });
    // Two Fedify-style messages share a key (a post's Create, then its Delete, to one server); three have none.
    await mq.enqueue({ id: "create", orderingKey: "note-1\nhttps://a.example" });
    await mq.enqueue({ id: "delete", orderingKey: "note-1\nhttps://a.example" });
    await mq.enqueueMany([{ id: "x" }, { id: "y" }, { id: "z" }] as const);

    // Three slots: "create", then "delete" (holding its slot, waiting for "create"), then "x". Nothing else yet.
    await until(() => h.started.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.started).toEqual(["create", "x"]);
    expect(h.peak()).toBe(2);
    // "delete" may start only after "create" finishes, whatever else is running.
    h.release("x");
    await until(() => h.started.includes("y"));
    expect(h.started).not.toContain("delete");
    h.release("create");
    await until(() => h.started.includes("delete"));
    await until(() => h.started.length === 5);
    expect(h.peak()).toBeLessThanOrEqual(3);

    // Stopping waits for what was already taken off the queue.
    controller.abort();
    let stopped = false;
    void listening.then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false);
    for (const id of h.waiting()) h.release(id);
    await listening;
    expect(h.finished.sort()).toEqual(["create", "delete", "x", "y", "z"]);
    const [{ n }] = await db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM fedify_message_v2`;
    expect(n).toBe(0);
  });
});
