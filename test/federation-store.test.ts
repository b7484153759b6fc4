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
