import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config/index.ts";
import { connect } from "../src/db/client.ts";
import { createRateLimiter } from "../src/limits/fixed-window.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";

// One database for the file; every test counts against its own client address (TEST-NET ranges), so the tests do
// not share counters unless they mean to.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ TRUST_PROXY: "true", RATE_LIMIT_REGISTER: "30/600" });
});
afterAll(async () => {
  await t.close();
});

type Result = Awaited<ReturnType<TestApp["call"]>>;

const REGISTER = "/api/v1/agents/register";
let names = 0;
const freshName = (prefix = "rl") => `${prefix}_${(names++).toString(36)}`;

function registerAs(app: TestApp, xff: string | undefined, body: unknown = { name: freshName(), description: "limits" }) {
  return app.call("POST", REGISTER, { body, headers: xff === undefined ? {} : { "x-forwarded-for": xff } });
}

/**
 * Waits for the next window when fewer than `needMs` are left in the current one, so a test that must stay inside
 * one fixed window cannot straddle a boundary (windows are aligned to the epoch).
 */
async function freshWindow(windowSeconds: number, needMs: number): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await sleep(left + 25);
}

function rateHeaders(res: Result) {
  const h = (name: string) => res.headers.get(name);
  for (const name of ["Limit", "Remaining", "Reset"]) {
    // The X- mirrors always carry the same values.
    expect(h(`X-RateLimit-${name}`), name).toBe(h(`RateLimit-${name}`));
  }
  return {
    limit: h("RateLimit-Limit") === null ? null : Number(h("RateLimit-Limit")),
    remaining: h("RateLimit-Remaining") === null ? null : Number(h("RateLimit-Remaining")),
    reset: h("RateLimit-Reset") === null ? null : Number(h("RateLimit-Reset")),
    retryAfter: h("Retry-After") === null ? null : Number(h("Retry-After")),
  };
}

async function counter(key: string): Promise<number> {
  const rows = await t.db.sql`
    SELECT coalesce(sum(count), 0)::int AS n FROM rate_limit_counters WHERE scope = 'agent_register_ip' AND bucket_key = ${key}`;
  return rows[0]!.n;
}

async function agentCount(prefix: string): Promise<number> {
  const rows = await t.db.sql`SELECT count(*)::int AS n FROM agents WHERE starts_with(name, ${prefix})`;
  return rows[0]!.n;
}

describe("registration limit: 30 per 10 minutes per client IP", () => {
  it("refuses the 31st attempt with 429 rate_limited, Retry-After and RateLimit-* headers", async () => {
    await freshWindow(600, 8000);
    const ip = "192.0.2.1";
    const resets = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const res = await registerAs(t, ip, { name: `first_${i}`, description: "counting" });
      expect(res.status).toBe(201);
      const h = rateHeaders(res);
      expect(h).toMatchObject({ limit: 30, remaining: 29 - i, retryAfter: null });
      resets.add(h.reset!);
    }
    // One window: Reset is the epoch second the 10-minute window ends, the same for every response in it.
    expect(resets.size).toBe(1);
    const [reset] = [...resets] as [number];
    const nowSeconds = Date.now() / 1000;
    expect(reset % 600).toBe(0);
    expect(reset).toBeGreaterThan(nowSeconds);
    expect(reset).toBeLessThanOrEqual(nowSeconds + 600);

    const refused = await registerAs(t, ip, { name: "first_30", description: "one too many" });
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({
      success: false,
      error: "Too many registration attempts",
      code: "rate_limited",
      hint: "Try again later",
      request_id: refused.headers.get("x-request-id"),
    });
    const h = rateHeaders(refused);
    expect(h).toMatchObject({ limit: 30, remaining: 0, reset });
    expect(Number.isInteger(h.retryAfter)).toBe(true);
    expect(h.retryAfter).toBeGreaterThanOrEqual(1);
    expect(h.retryAfter).toBeLessThanOrEqual(600);
    // Retry-After points at the end of the window.
    expect(Math.abs(Date.now() / 1000 + h.retryAfter! - reset)).toBeLessThanOrEqual(2);

    // Refused attempts keep being refused and create nothing.
    expect((await registerAs(t, ip, { name: "first_31", description: "x" })).status).toBe(429);
    expect(await agentCount("first_")).toBe(30);
    expect(await counter(ip)).toBe(32);

    // Another client is unaffected.
    const other = await registerAs(t, "192.0.2.2", { name: "first_30", description: "someone else" });
    expect(other.status).toBe(201);
    expect(rateHeaders(other).remaining).toBe(29);
  });

  it("counts failures after schema validation but not schema failures", async () => {
    await freshWindow(600, 8000);
    const ip = "192.0.2.10";
    // Schema failures (bad shape, malformed JSON, names the raw pattern refuses) are not attempts.
    const schemaFailures: unknown[] = [
      { name: 12345, description: "x" },
      {},
      { name: "ab", description: "x" },
      { name: "ｆｕｌｌｗｉｄｔｈ", description: "x" },
      { name: "valid_name", description: "" },
      "{not json",
      "[]",
    ];
    for (const body of schemaFailures) {
      const res = await registerAs(t, ip, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("validation_error");
      expect(rateHeaders(res).limit, JSON.stringify(body)).toBeNull();
    }
    expect(await counter(ip)).toBe(0);

    // Failures after validation are attempts, and report the limit too.
    const taken = freshName("taken");
    expect((await registerAs(t, "192.0.2.11", { name: taken, description: "first" })).status).toBe(201);
    const attempts: [unknown, number][] = [
      [{ name: "admin", description: "reserved" }, 400],
      [{ name: "SUPPORT", description: "reserved" }, 400],
      [{ name: taken.toUpperCase(), description: "duplicate" }, 409],
      [{ name: freshName(), description: " \t " }, 400], // blank after normalisation
      [{ name: freshName(), description: "fine" }, 201],
    ];
    for (const [i, [body, status]] of attempts.entries()) {
      const res = await registerAs(t, ip, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(rateHeaders(res)).toMatchObject({ limit: 30, remaining: 29 - i });
    }
    expect(await counter(ip)).toBe(attempts.length);

    // Spend the rest on refused names: the window's 31st attempt is refused even though it is valid.
    for (let i = attempts.length; i < 30; i++) expect((await registerAs(t, ip, { name: "root", description: "x" })).status).toBe(400);
    const name = freshName("late");
    const refused = await registerAs(t, ip, { name, description: "valid but late" });
    expect(refused.status).toBe(429);
    expect(await agentCount(name)).toBe(0);
    // A schema failure after the limit is still a plain 400: validation comes first and is not counted.
    const bad = await registerAs(t, ip, { name: 1 });
    expect(bad.status).toBe(400);
    expect(await counter(ip)).toBe(31);
  });

  it("never lets more than the limit through when requests arrive at once", async () => {
    await freshWindow(600, 15_000);
    const ip = "192.0.2.20";
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => registerAs(t, ip, { name: `burst_${i}`, description: "burst" })),
    );
    const ok = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(30);
    expect(refused).toHaveLength(70);
    // Each admitted request saw its own count: Remaining values are exactly 29..0.
    expect(ok.map((r) => rateHeaders(r).remaining).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    for (const r of refused) expect(rateHeaders(r)).toMatchObject({ limit: 30, remaining: 0 });
    expect(await agentCount("burst_")).toBe(30);
    expect(await counter(ip)).toBe(100);
  });
});

describe("client address", () => {
  it("with TRUST_PROXY uses the proxy's entry, so prepending fake X-Forwarded-For entries does not escape", async () => {
    await freshWindow(600, 8000);
    const client = "198.51.100.7";
    for (let i = 0; i < 30; i++) {
      // The client sends its own X-Forwarded-For; the trusted proxy appends the address it saw.
      const res = await registerAs(t, `203.0.113.${i}, 10.9.8.${i}, ${client}`);
      expect(res.status).toBe(201);
      expect(rateHeaders(res).remaining).toBe(29 - i);
    }
    expect((await registerAs(t, `203.0.113.200, ${client}`)).status).toBe(429);
    expect((await registerAs(t, `  ${client}  `)).status).toBe(429);
    expect(await counter(client)).toBe(32);
    // Nothing was counted against the forged addresses.
    const forged = await t.db.sql`
      SELECT count(*)::int AS n FROM rate_limit_counters WHERE bucket_key LIKE '203.0.113.%' OR bucket_key LIKE '10.9.8.%'`;
    expect(forged[0]!.n).toBe(0);
    // The limit is per client: a different client behind the same proxy still registers.
    const neighbour = await registerAs(t, `${client}, 198.51.100.8`);
    expect(neighbour.status).toBe(201);
    expect(rateHeaders(neighbour).remaining).toBe(29);
  });

  it("with TRUST_PROXY=2 counts the entry two hops from the end", async () => {
    const twoHops = await createTestApp({ TRUST_PROXY: "2", RATE_LIMIT_REGISTER: "2/600" }, t.db);
    await freshWindow(600, 8000);
    const client = "198.51.100.20";
    const proxy = "10.0.0.1";
    expect(rateHeaders(await registerAs(twoHops, `1.1.1.1, ${client}, ${proxy}`)).remaining).toBe(1);
    expect(rateHeaders(await registerAs(twoHops, `2.2.2.2, 3.3.3.3, ${client}, ${proxy}`)).remaining).toBe(0);
    expect((await registerAs(twoHops, `4.4.4.4, ${client}, ${proxy}`)).status).toBe(429);
    expect(await counter(client)).toBe(3);
    expect(await counter(proxy)).toBe(0);
    await twoHops.close();
  });

  it("without TRUST_PROXY ignores X-Forwarded-For entirely", async () => {
    const direct = await createTestApp({ RATE_LIMIT_REGISTER: "3/600" }, t.db);
    await freshWindow(600, 8000);
    const forged = ["198.51.100.100", "198.51.100.101", "198.51.100.102", "198.51.100.103"];
    for (const [i, xff] of forged.slice(0, 3).entries()) {
      const res = await registerAs(direct, xff);
      expect(res.status).toBe(201);
      expect(rateHeaders(res).remaining).toBe(2 - i);
    }
    // A fresh forged address does not buy a fresh allowance; neither does leaving the header out.
    expect((await registerAs(direct, forged[3])).status).toBe(429);
    expect((await registerAs(direct, undefined)).status).toBe(429);
    const rows = await t.db.sql`SELECT count(*)::int AS n FROM rate_limit_counters WHERE bucket_key LIKE '198.51.100.1__'`;
    expect(rows[0]!.n).toBe(0);
    await direct.close();
  });
});

describe("shared counters", () => {
  it("two app instances on one database share one allowance", async () => {
    // On PostgreSQL the second instance gets its own connection pool, as a second server process would.
    const ownPool = t.db.kind === "postgres" ? { ...connect(t.db.url, { max: 4 }), url: t.db.url, kind: t.db.kind } : t.db;
    const a = await createTestApp({ TRUST_PROXY: "true", RATE_LIMIT_REGISTER: "4/600" }, t.db);
    const b = await createTestApp({ TRUST_PROXY: "true", RATE_LIMIT_REGISTER: "4/600" }, ownPool);
    try {
      await freshWindow(600, 8000);
      const ip = "198.51.100.50";
      const remaining: (number | null)[] = [];
      for (const app of [a, b, a, b]) {
        const res = await registerAs(app, ip);
        expect(res.status).toBe(201);
        remaining.push(rateHeaders(res).remaining);
      }
      expect(remaining).toEqual([3, 2, 1, 0]);
      expect((await registerAs(a, ip)).status).toBe(429);
      expect((await registerAs(b, ip)).status).toBe(429);
      expect(await counter(ip)).toBe(6);
    } finally {
      await a.close();
      await b.close();
      if (ownPool !== t.db) await ownPool.close();
    }
  });
});

describe("windows", () => {
  it("a new window starts a fresh allowance (injected clock)", async () => {
    // A clock in 2000, so these rows cannot collide with, or be pruned alongside, the other tests' real-time rows.
    let now = Date.UTC(2000, 0, 1, 0, 0, 10);
    const limiter = createRateLimiter(t.db.sql, () => now);
    const spec = { limit: 2, windowSeconds: 60 };
    const first = await limiter.consume("clock_test", "k", spec);
    expect(first).toEqual({
      limited: false,
      limit: 2,
      remaining: 1,
      resetAt: new Date(Date.UTC(2000, 0, 1, 0, 1, 0)),
      retryAfterSeconds: 50,
    });
    expect((await limiter.consume("clock_test", "k", spec)).remaining).toBe(0);
    expect(await limiter.consume("clock_test", "k", spec)).toMatchObject({ limited: true, remaining: 0, retryAfterSeconds: 50 });
    // Other keys and scopes have their own counters.
    expect((await limiter.consume("clock_test", "other", spec)).limited).toBe(false);
    expect((await limiter.consume("clock_test_2", "k", spec)).limited).toBe(false);

    now = Date.UTC(2000, 0, 1, 0, 0, 59, 999);
    expect(await limiter.consume("clock_test", "k", spec)).toMatchObject({ limited: true, retryAfterSeconds: 1 });
    now = Date.UTC(2000, 0, 1, 0, 1, 0);
    expect(await limiter.consume("clock_test", "k", spec)).toEqual({
      limited: false,
      limit: 2,
      remaining: 1,
      resetAt: new Date(Date.UTC(2000, 0, 1, 0, 2, 0)),
      retryAfterSeconds: 60,
    });
  });

  it("prune() deletes windows that have ended and keeps current ones", async () => {
    // Earlier than the clock test's rows, so its windows are not "expired" at this clock.
    let now = Date.UTC(1999, 0, 1, 0, 0, 0);
    const limiter = createRateLimiter(t.db.sql, () => now);
    const spec = { limit: 5, windowSeconds: 60 };
    await limiter.consume("prune_test", "old", spec);
    await limiter.consume("prune_test", "old_2", spec);
    now += 60_000;
    await limiter.consume("prune_test", "current", spec);
    now += 30_000;
    const rows = async () =>
      (await t.db.sql`SELECT bucket_key FROM rate_limit_counters WHERE scope = 'prune_test' ORDER BY bucket_key`).map(
        (r) => r.bucket_key,
      );
    expect(await rows()).toEqual(["current", "old", "old_2"]);
    expect(await limiter.prune()).toBe(2);
    expect(await rows()).toEqual(["current"]);
    expect(await limiter.prune()).toBe(0);

    // Pruning by real time leaves the live windows of the other tests alone.
    const live = await t.db.sql`SELECT count(*)::int AS n FROM rate_limit_counters WHERE window_end > now()`;
    await createRateLimiter(t.db.sql).prune();
    const after = await t.db.sql`SELECT count(*)::int AS n FROM rate_limit_counters WHERE window_end > now()`;
    expect(after[0]!.n).toBe(live[0]!.n);
    expect(await rows()).toEqual([]);
  });

  it("over HTTP, a 1-second window resets after Retry-After", async () => {
    const fast = await createTestApp({ TRUST_PROXY: "true", RATE_LIMIT_REGISTER: "2/1" }, t.db);
    const ip = "198.51.100.60";
    await freshWindow(1, 700);
    expect((await registerAs(fast, ip)).status).toBe(201);
    expect((await registerAs(fast, ip)).status).toBe(201);
    const refused = await registerAs(fast, ip);
    expect(refused.status).toBe(429);
    const h = rateHeaders(refused);
    expect(h.retryAfter).toBe(1);
    expect(h.limit).toBe(2);
    await sleep(h.reset! * 1000 - Date.now() + 25);
    const again = await registerAs(fast, ip);
    expect(again.status).toBe(201);
    expect(rateHeaders(again)).toMatchObject({ limit: 2, remaining: 1, reset: h.reset! + 1 });
    await fast.close();
  });
});

describe("configuration", () => {
  it("RATE_LIMIT_REGISTER sets the limit and a bad value names the variable", () => {
    expect(loadConfig({ RATE_LIMIT_REGISTER: "5/60" }).limits.register).toEqual({ limit: 5, windowSeconds: 60 });
    expect(loadConfig({}).limits.register).toEqual({ limit: 30, windowSeconds: 600 });
    for (const bad of ["30", "0/600", "30/0", "-1/600", "thirty/600", "30/600s"]) {
      expect(() => loadConfig({ RATE_LIMIT_REGISTER: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ RATE_LIMIT_REGISTER: bad }), bad).toThrow(/RATE_LIMIT_REGISTER/);
    }
  });
});
