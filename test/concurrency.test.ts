import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql as dsql } from "drizzle-orm";
import { connect } from "../src/db/client.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";

// Races only really happen on a real PostgreSQL (TEST_DATABASE_URL); the embedded PGlite runs one statement at a
// time, so there the same tests prove the code is correct under interleaving of whole statements.

let t: TestApp;
beforeAll(async () => {
  // Each racing request comes from its own client address (as 10,000 real registrations would; one address is
  // limited to 30 per 10 minutes), so the per-IP counters are not what is being measured.
  t = await createTestApp({ TRUST_PROXY: "true" });
});
afterAll(async () => {
  await t.close();
});

type Result = Awaited<ReturnType<TestApp["call"]>>;

let clients = 0;
/** A distinct client address per call: 10.x.y.z from a counter. */
function nextClientIp(): string {
  const n = ++clients;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

const register = (name: unknown, description = "racing") =>
  t.call("POST", "/api/v1/agents/register", { body: { name, description }, headers: { "x-forwarded-for": nextClientIp() } });

function countStatuses(results: Result[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/** The database holds exactly one agent (with exactly one key) under `name`, and no key belongs to nobody. */
async function expectOneAgent(name: string) {
  const agents = await t.db.sql`SELECT id FROM agents WHERE name = ${name}`;
  expect(agents).toHaveLength(1);
  const keys = await t.db.sql`SELECT count(*)::int AS n FROM api_keys WHERE agent_id = ${agents[0]!.id}`;
  expect(keys[0]!.n).toBe(1);
  const orphans = await t.db.sql`
    SELECT count(*)::int AS n FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id WHERE a.id IS NULL`;
  expect(orphans[0]!.n).toBe(0);
  const keyless = await t.db.sql`
    SELECT count(*)::int AS n FROM agents a LEFT JOIN api_keys k ON k.agent_id = a.id WHERE k.agent_id IS NULL`;
  expect(keyless[0]!.n).toBe(0);
  return agents[0]!.id as string;
}

describe("parallel registrations of one name", () => {
  // The issue asks for 10,000, on both databases. Measured on 2 busy cores: ~6 s on PostgreSQL, ~8 s on PGlite.
  const N = 10_000;

  it(`${N.toLocaleString("en")} at once: exactly one 201, the rest 409, one agent and one key`, async () => {
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: N }, () => register("Same_Name")));
    const elapsed = performance.now() - started;
    console.info(`${N} concurrent registrations of one name on ${t.db.kind}: ${Math.round(elapsed)} ms`);

    expect(countStatuses(results)).toEqual({ 201: 1, 409: N - 1 });
    for (const r of results.filter((r) => r.status === 409)) {
      expect(r.json).toMatchObject({
        success: false,
        code: "validation_error",
        error: "Agent name is already taken",
        hint: "Choose another name",
      });
    }
    const winner = results.find((r) => r.status === 201)!;
    const id = await expectOneAgent("same_name");
    const me = await t.call("GET", "/api/v1/agents/me", { key: winner.json.data.agent.api_key });
    expect(me.status).toBe(200);
    expect(me.json.data).toMatchObject({ id, name: "same_name" });
  });

  it("case variants race to one agent; fullwidth look-alikes are refused with 400", async () => {
    const variants = ["Race_Case", "RACE_CASE", "race_case", "rAcE_cAsE", "Race_case"];
    const lookAlikes = ["ｒａｃｅ_ｃａｓｅ", "Ｒａｃｅ＿Ｃａｓｅ", "ｒace_case", "race\u200b_case"];
    const bodies = Array.from({ length: 50 }, () => [...variants, ...lookAlikes]).flat();
    const results = await Promise.all(bodies.map((name) => register(name)));
    const byKind = (lookAlike: boolean) => results.filter((_, i) => lookAlikes.includes(bodies[i]!) === lookAlike);

    expect(countStatuses(byKind(false))).toEqual({ 201: 1, 409: 50 * variants.length - 1 });
    expect(countStatuses(byKind(true))).toEqual({ 400: 50 * lookAlikes.length });
    for (const r of byKind(true)) expect(r.json.code).toBe("validation_error");
    await expectOneAgent("race_case");
    const similar = await t.db.sql`SELECT name FROM agents WHERE name ILIKE '%race%' OR name LIKE '%ｒ%'`;
    expect(similar.map((r) => r.name)).toEqual(["race_case"]);
  });

  it("different names in parallel all succeed with distinct ids and keys", async () => {
    const names = Array.from({ length: 200 }, (_, i) => `many_${i}`);
    const results = await Promise.all(names.map((name) => register(name)));
    expect(countStatuses(results)).toEqual({ 201: names.length });
    const keys = results.map((r) => r.json.data.agent.api_key as string);
    expect(new Set(keys).size).toBe(names.length);

    // Every key authenticates as the agent it was issued for.
    const profiles = await Promise.all(keys.map((key) => t.call("GET", "/api/v1/agents/me", { key })));
    expect(profiles.map((p) => p.status)).toEqual(names.map(() => 200));
    expect(profiles.map((p) => p.json.data.name)).toEqual(names);
    expect(new Set(profiles.map((p) => p.json.data.id)).size).toBe(names.length);

    const rows = await t.db.sql`
      SELECT count(*)::int AS agents, count(k.agent_id)::int AS keys, count(DISTINCT k.key_hash)::int AS hashes
      FROM agents a LEFT JOIN api_keys k ON k.agent_id = a.id WHERE a.name LIKE 'many\\_%'`;
    expect(rows[0]).toEqual({ agents: names.length, keys: names.length, hashes: names.length });
  });
});

describe("parallel key rotations", () => {
  it("leave exactly one working key: one of those handed out", async () => {
    const { key: original, id } = await t.registerAgent("rotate_race");
    const N = 50;
    const results = await Promise.all(
      Array.from({ length: N }, () => t.call("POST", "/api/v1/agents/me/api-key/rotate", { key: original })),
    );
    // Every rotation presents the same key and only replaces it while it is still the stored one: exactly one
    // wins, the others find it dead (401 like any rotated key), so nobody is handed a key that is already replaced.
    expect(countStatuses(results)).toEqual({ 200: 1, 401: N - 1 });
    for (const r of results.filter((r) => r.status === 401)) expect(r.json.code).toBe("invalid_api_key");
    const issued = results.filter((r) => r.status === 200).map((r) => r.json.data.api_key as string);

    const checks = await Promise.all(
      [original, ...issued].map(async (key) => ({ key, status: (await t.call("GET", "/api/v1/agents/me", { key })).status })),
    );
    const working = checks.filter((c) => c.status === 200);
    expect(working.map((c) => c.key)).toEqual(issued);
    expect(checks.filter((c) => c.status !== 200).every((c) => c.status === 401)).toBe(true);

    const me = await t.call("GET", "/api/v1/agents/me", { key: working[0]!.key });
    expect(me.json.data.id).toBe(id);
    const keys = await t.db.sql`SELECT count(*)::int AS n FROM api_keys WHERE agent_id = ${id}`;
    expect(keys[0]!.n).toBe(1);
  });
});

describe("transactions in a burst", () => {
  // postgres.js 3.4.9's own `begin` can send BEGIN on a pooled connection without reserving it once that connection's
  // pipeline is full (porsager/postgres#823, #1189): the transaction fails with UNSAFE_TRANSACTION and unrelated
  // queries run inside it. A pipeline of 2 reaches that boundary with a handful of queries; ours reserves instead.
  it("never fail with UNSAFE_TRANSACTION nor take in other queries", async () => {
    const database = connect(t.db.url, { max: 3, maxPipeline: 2 });
    try {
      const failures: unknown[] = [];
      let leaked = 0;
      let committed = 0;
      for (let round = 0; round < 8; round++) {
        const busy = Array.from({ length: 3 }, () => database.sql`SELECT pg_sleep(0.05)`);
        await new Promise((r) => setTimeout(r, 10));
        const jobs: Promise<unknown>[] = [];
        for (let i = 0; i < 6; i++) {
          jobs.push(
            database.sql`SELECT current_setting('transaction_read_only') AS ro`.then(([r]) => {
              if (r!.ro === "on") leaked++;
            }),
          );
        }
        for (let i = 0; i < 4; i++) jobs.push(database.sql.begin("read only", async (tx) => tx`SELECT 1`));
        for (let i = 0; i < 2; i++) {
          jobs.push(
            database.db.transaction(async (tx) => {
              await tx.execute(dsql`SELECT 1`);
              committed++;
            }),
          );
        }
        for (const r of await Promise.allSettled([...busy, ...jobs])) if (r.status === "rejected") failures.push(r.reason);
      }
      expect(failures.map(String)).toEqual([]);
      expect(leaked).toBe(0);
      expect(committed).toBe(16);
    } finally {
      await database.close();
    }
  });

  it("roll back to a savepoint inside a transaction and commit the rest", async () => {
    await t.db.sql`CREATE TABLE IF NOT EXISTS tx_probe (n int)`;
    const result = await t.db.db.transaction(async (tx) => {
      await tx.execute(dsql`INSERT INTO tx_probe VALUES (1)`);
      await expect(
        tx.transaction(async (inner) => {
          await inner.execute(dsql`INSERT INTO tx_probe VALUES (2)`);
          await inner.execute(dsql`SELECT 1 / 0`);
        }),
      ).rejects.toThrow(/SELECT 1 \/ 0/);
      await tx.execute(dsql`INSERT INTO tx_probe VALUES (3)`);
      return "done";
    });
    expect(result).toBe("done");
    await expect(t.db.db.transaction(async (tx) => {
      await tx.execute(dsql`INSERT INTO tx_probe VALUES (4)`);
      throw new Error("abandon");
    })).rejects.toThrow("abandon");
    const rows = await t.db.sql`SELECT n FROM tx_probe ORDER BY n`;
    expect(rows.map((r) => r.n)).toEqual([1, 3]);
  });
});
