import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const register = (body: unknown) => t.call("POST", "/api/v1/agents/register", { body });

describe("POST /api/v1/agents/register", () => {
  it("creates an agent and shows a test key once", async () => {
    const res = await register({ name: "Crab_One", description: "  a   crab\tthat   posts  ", unknown_field: 1 });
    expect(res.status).toBe(201);
    expect(res.json.success).toBe(true);
    expect(res.json.data.important).toBe("SAVE YOUR API KEY");
    const { api_key, claim_url, verification_code } = res.json.data.agent;
    expect(api_key).toMatch(/^claw_test_[A-Za-z0-9_-]{43}$/);
    expect(claim_url).toMatch(/^http:\/\/clawgram\.test\/claim\?token=clawgram_claim_[0-9a-f]{32}$/);
    expect(verification_code).toMatch(/^crab-[0-9A-F]{4}$/);
    expect(Object.keys(res.json.data.agent).sort()).toEqual(["api_key", "claim_url", "verification_code"]);

    const me = await t.call("GET", "/api/v1/agents/me", { key: api_key });
    expect(me.status).toBe(200);
    expect(me.json.data).toMatchObject({
      name: "crab_one",
      claimed: false,
      bio: "a crab that posts",
      follower_count: 0,
      following_count: 0,
      post_count: 0,
    });
    expect(me.json.data.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(me.json.data.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (const absent of ["avatar_url", "website_url", "last_active", "metadata"]) expect(me.json.data).not.toHaveProperty(absent);
  });

  it("stores only a peppered hash of the key", async () => {
    const res = await register({ name: "hash_check", description: "x" });
    const key: string = res.json.data.agent.api_key;
    const rows = await t.db.sql`SELECT k.key_hash FROM api_keys k JOIN agents a ON a.id = k.agent_id WHERE a.name = 'hash_check'`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.key_hash).not.toContain(key.slice(10));
    const dump = await t.db.sql`SELECT row_to_json(k)::text AS j FROM api_keys k`;
    for (const r of dump) expect(r.j).not.toContain(key.slice(10));
  });

  it.each([
    ["too short", "ab"],
    ["too long", "a".repeat(21)],
    ["space inside", "bad name"],
    ["leading space", " crab_a"],
    ["punctuation", "crab.a"],
    ["fullwidth look-alike", "ｃｒａｂ_ｂ"],
    ["cyrillic look-alike", "сrab_c"],
    ["not a string", 12345],
  ])("rejects a bad name (%s) with 400 validation_error", async (_label, name) => {
    const res = await register({ name, description: "x" });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ success: false, code: "validation_error", error: "Request validation failed" });
  });

  it("rejects reserved names after normalisation with a hint", async () => {
    for (const name of ["admin", "ADMIN", "Leaderboard", "null"]) {
      const res = await register({ name, description: "x" });
      expect(res.status).toBe(400);
      expect(res.json.code).toBe("validation_error");
      expect(res.json.hint).toBe("Choose another name");
    }
  });

  it("answers 409 validation_error for a taken name in any case", async () => {
    expect((await register({ name: "Taken_Name", description: "x" })).status).toBe(201);
    const res = await register({ name: "tAKEN_nAME", description: "y" });
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ code: "validation_error", error: "Agent name is already taken", hint: "Choose another name" });
    const rows = await t.db.sql`SELECT count(*)::int AS n FROM agents WHERE name = 'taken_name'`;
    expect(rows[0]!.n).toBe(1);
  });

  it("validates the description", async () => {
    expect((await register({ name: "desc_a", description: "" })).status).toBe(400);
    const blank = await register({ name: "desc_b", description: "   \t " });
    expect(blank.status).toBe(400);
    expect(blank.json.code).toBe("validation_error");
    expect((await register({ name: "desc_c", description: "x".repeat(161) })).status).toBe(400);
    // 160 astral characters are 160 code points (320 UTF-16 units) and fit.
    expect((await register({ name: "desc_d", description: "🦀".repeat(160) })).status).toBe(201);
    expect((await register({ name: "desc_e" })).status).toBe(400);
    const count = await t.db.sql`SELECT count(*)::int AS n FROM agents WHERE name LIKE 'desc_%'`;
    expect(count[0]!.n).toBe(1);
  });
});

describe("agent authentication", () => {
  it("answers every bad credential with the same 401", async () => {
    const { key } = await t.registerAgent();
    const variants: Record<string, string | undefined> = {
      missing: undefined,
      "wrong scheme": `Basic ${key}`,
      "no token": "Bearer ",
      unknown: "Bearer claw_test_doesnotexist",
      "inner whitespace": `Bearer ${key.slice(0, 10)} ${key.slice(10)}`,
      "too long": `Bearer ${key}${"a".repeat(600)}`,
      control: `Bearer ${key}\u0001`,
    };
    for (const [label, header] of Object.entries(variants)) {
      const res = await t.call("GET", "/api/v1/agents/me", { headers: header === undefined ? {} : { authorization: header } });
      expect(res.status, label).toBe(401);
      expect(res.json, label).toMatchObject({ success: false, code: "invalid_api_key", error: "Invalid API key" });
    }
  });

  it("accepts a case-insensitive scheme and surrounding spaces", async () => {
    const { key } = await t.registerAgent();
    for (const header of [`bearer ${key}`, `BEARER   ${key}  `]) {
      const res = await t.call("GET", "/api/v1/agents/status", { headers: { authorization: header } });
      expect(res.status).toBe(200);
      expect(res.json.data).toEqual({ status: "pending_claim" });
    }
  });
});

describe("PATCH /api/v1/agents/me", () => {
  it("stores bio verbatim and leaves absent fields alone", async () => {
    const { key } = await t.registerAgent();
    let res = await t.call("PATCH", "/api/v1/agents/me", { key, body: { bio: "  spaced  bio " } });
    expect(res.status).toBe(200);
    expect(res.json.data.bio).toBe("  spaced  bio ");
    res = await t.call("PATCH", "/api/v1/agents/me", { key, body: {} });
    expect(res.status).toBe(200);
    expect(res.json.data.bio).toBe("  spaced  bio ");
    res = await t.call("PATCH", "/api/v1/agents/me", { key });
    expect(res.status).toBe(200);
    res = await t.call("PATCH", "/api/v1/agents/me", { key, body: { bio: "" } });
    expect(res.json.data.bio).toBe("");
    res = await t.call("PATCH", "/api/v1/agents/me", { key, body: { bio: "x".repeat(161) } });
    expect(res.status).toBe(400);
    expect(res.json.code).toBe("validation_error");
  });

  it("refuses a profile link for an unclaimed agent and accepts it once claimed", async () => {
    const { key, id } = await t.registerAgent();
    let res = await t.call("PATCH", "/api/v1/agents/me", { key, body: { website_url: "https://example.org/me" } });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ code: "forbidden", error: "Only claimed agents can set a profile link" });

    await t.db.sql`UPDATE agents SET claim_status = 'claimed' WHERE id = ${id}`;
    for (const bad of ["http://example.org", "notaurl", "https://", 42, `https://e.org/${"a".repeat(2048)}`]) {
      res = await t.call("PATCH", "/api/v1/agents/me", { key, body: { website_url: bad } });
      expect(res.status, String(bad)).toBe(400);
    }
    res = await t.call("PATCH", "/api/v1/agents/me", { key, body: { website_url: "https://example.org/me" } });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ claimed: true, website_url: "https://example.org/me", metadata: {} });
    expect((await t.call("GET", "/api/v1/agents/status", { key })).json.data.status).toBe("claimed");
  });

  it("validates the body before authenticating", async () => {
    const res = await t.call("PATCH", "/api/v1/agents/me", { body: { bio: 5 } });
    expect(res.status).toBe(400);
  });
});

describe("GET /api/v1/agents/{name}", () => {
  it("finds agents by normalised name and 404s unknown ones", async () => {
    const { name } = await t.registerAgent();
    const res = await t.call("GET", `/api/v1/agents/${name.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(res.json.data.name).toBe(name);
    const missing = await t.call("GET", "/api/v1/agents/nobody_here");
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ code: "not_found", error: "Agent not found" });
    expect((await t.call("GET", "/api/v1/agents/a.b.c")).status).toBe(400);
    expect((await t.call("GET", `/api/v1/agents/${"x".repeat(30)}`)).status).toBe(400);
  });
});

describe("POST /api/v1/agents/me/api-key/rotate", () => {
  it("issues a new key and kills the old one at once", async () => {
    const { key, id } = await t.registerAgent();
    await t.db.sql`UPDATE agents SET claim_status = 'claimed' WHERE id = ${id}`;
    const res = await t.call("POST", "/api/v1/agents/me/api-key/rotate", { key });
    expect(res.status).toBe(200);
    expect(res.json.data.important).toBe("SAVE YOUR API KEY");
    const fresh: string = res.json.data.api_key;
    expect(fresh).toMatch(/^claw_test_/);
    expect(fresh).not.toBe(key);
    expect((await t.call("GET", "/api/v1/agents/me", { key })).status).toBe(401);
    const me = await t.call("GET", "/api/v1/agents/me", { key: fresh });
    expect(me.status).toBe(200);
    expect(me.json.data.claimed).toBe(true);
    const again = await t.call("POST", "/api/v1/agents/me/api-key/rotate", { key: fresh, body: {} });
    expect(again.status).toBe(200);
    expect(again.json.data.api_key).not.toBe(fresh);
  });

  it("issues live keys on production instances", async () => {
    const prod = await createTestApp({ NODE_ENV: "production", API_KEY_PEPPER: "a-real-secret-pepper-value", OWNER_TOKEN_PEPPER: "another-real-secret-value" }, t.db);
    const res = await prod.call("POST", "/api/v1/agents/register", { body: { name: "live_one", description: "x" } });
    expect(res.status).toBe(201);
    expect(res.json.data.agent.api_key).toMatch(/^claw_live_[A-Za-z0-9_-]{43}$/);
  });
});
