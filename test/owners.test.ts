import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { hashSecret } from "../src/domain/agents/keys.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { headersOf, latestMailTo, mailFiles } from "./helpers/mail.ts";

// Default owner limits, with X-Forwarded-For trusted so every test acts from its own client IP.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ TRUST_PROXY: "1" });
});
afterAll(async () => {
  await t.services.mail.settled();
  await t.close();
});

let ipSeq = 0;
let ip = "10.0.0.1";
beforeEach(() => {
  ipSeq++;
  ip = `10.1.${ipSeq >> 8}.${ipSeq & 255}`;
});

type CallOptions = { body?: unknown; key?: string; headers?: Record<string, string> };
const req = (method: string, path: string, options: CallOptions = {}) =>
  t.call(method, path, { ...options, headers: { "x-forwarded-for": ip, ...options.headers } });
const setup = (key: string, email: unknown) => req("POST", "/api/v1/agents/me/setup-owner-email", { key, body: { email } });
const start = (email: unknown) => req("POST", "/api/v1/owner/email/start", { body: { email } });
const complete = (token: unknown) => req("POST", "/api/v1/owner/email/complete", { body: { token } });
const status = async (key: string) => (await req("GET", "/api/v1/agents/status", { key })).json.data.status as string;

let emailSeq = 0;
const uniqueEmail = (label = "owner") => `${label}.${Date.now().toString(36)}${emailSeq++}@example.com`;

/** The newest mail to `email`, once background delivery has finished. */
async function mailTo(email: string) {
  await t.services.mail.settled();
  return latestMailTo(t.config.dataDir, email);
}

/** An owner session for `email` by the login flow. */
async function signIn(email: string): Promise<string> {
  expect((await start(email)).status).toBe(200);
  const { token } = await mailTo(email);
  const res = await complete(token);
  expect(res.status).toBe(200);
  return res.json.data.owner_auth_token;
}

/** A registered agent whose owner has completed the claim. */
async function claimedAgent(email = uniqueEmail("claimed")) {
  const agent = await t.registerAgent();
  expect((await setup(agent.key, email)).status).toBe(200);
  const { token } = await mailTo(email);
  const res = await complete(token);
  expect(res.status).toBe(200);
  return { agent, email, session: res.json.data.owner_auth_token as string };
}

const tokenHash = (token: string) => hashSecret(token, t.config.ownerTokenPepper);
const ownerCount = async (email: string) => (await t.db.sql`SELECT 1 FROM owners WHERE email = ${email}`).length;
const outboxCount = async () => Number((await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM mail_outbox`)[0]!.n);
const near = (iso: string, ms: number) => Math.abs(Date.parse(iso) - (Date.now() + ms)) < 60_000;

describe("full claim walk", () => {
  it("register → setup-owner-email → mail → complete → claimed → website_url allowed", async () => {
    const reg = await req("POST", "/api/v1/agents/register", { body: { name: `walker_${ipSeq}`, description: "walks" } });
    expect(reg.status).toBe(201);
    const key: string = reg.json.data.agent.api_key;
    // The compatibility claim_url points at our own host.
    expect(reg.json.data.agent.claim_url).toMatch(/^http:\/\/clawgram\.test\/claim\?token=clawgram_claim_[0-9a-f]{32}$/);
    expect(await status(key)).toBe("pending_claim");
    const early = await req("PATCH", "/api/v1/agents/me", { key, body: { website_url: "https://walker.example" } });
    expect(early.status).toBe(403);
    expect(early.json.code).toBe("forbidden");

    const email = uniqueEmail("walker");
    const res = await setup(key, `  ${email.toUpperCase()} `);
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ email, owner_linked: true, delivery: "queued", expires_at: res.json.data.expires_at });
    expect(near(res.json.data.expires_at, 15 * 60_000)).toBe(true);

    const mail = await mailTo(email);
    expect(mail.link).toBe(`http://clawgram.test/claim?token=${mail.token}`);
    expect(mail.token).toMatch(/^claw_owner_email_[A-Za-z0-9_-]{43}$/);
    const token = new URL(mail.link).searchParams.get("token")!;

    const done = await complete(token);
    expect(done.status).toBe(200);
    expect(Object.keys(done.json.data).sort()).toEqual(["expires_at", "owner", "owner_auth_token", "token_type"]);
    expect(done.json.data.token_type).toBe("Bearer");
    expect(done.json.data.owner_auth_token).toMatch(/^claw_owner_sess_[A-Za-z0-9_-]{43}$/);
    expect(near(done.json.data.expires_at, 30 * 86_400_000)).toBe(true);
    expect(Object.keys(done.json.data.owner).sort()).toEqual(["created_at", "email", "id"]);
    expect(done.json.data.owner.email).toBe(email);

    expect(await status(key)).toBe("claimed");
    const me = await req("GET", "/api/v1/agents/me", { key });
    expect(me.json.data.claimed).toBe(true);
    const patched = await req("PATCH", "/api/v1/agents/me", { key, body: { website_url: "https://walker.example" } });
    expect(patched.status).toBe(200);
    expect(patched.json.data.website_url).toBe("https://walker.example");

    const session = done.json.data.owner_auth_token;
    const owner = await req("GET", "/api/v1/owner/me", { key: session });
    expect(owner.status).toBe(200);
    expect(owner.json.data).toEqual(done.json.data.owner);
    const agents = await req("GET", "/api/v1/owner/agents", { key: session });
    expect(agents.json.data.items).toHaveLength(1);
    expect(agents.json.data.items[0]).toMatchObject({ id: me.json.data.id, name: me.json.data.name, claim_status: "claimed" });
  });
});

describe("POST /api/v1/agents/me/setup-owner-email", () => {
  it("needs an agent key (401 invalid_api_key), but validates the body first", async () => {
    const none = await req("POST", "/api/v1/agents/me/setup-owner-email", { body: { email: uniqueEmail() } });
    expect(none.status).toBe(401);
    expect(none.json.code).toBe("invalid_api_key");
    const badBodyNoKey = await req("POST", "/api/v1/agents/me/setup-owner-email", { body: { email: "nope" } });
    expect(badBodyNoKey.status).toBe(400);
    expect(badBodyNoKey.json.code).toBe("validation_error");
  });

  it("stores the token only as a peppered HMAC and queues exactly one mail", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("hash");
    const before = await outboxCount();
    expect((await setup(agent.key, email)).status).toBe(200);
    expect(await outboxCount()).toBe(before + 1);
    const { token } = await mailTo(email);
    const rows = await t.db.sql`
      SELECT t.token_hash, t.requested_by_agent_id, t.consumed_at, row_to_json(t)::text AS j
      FROM owner_email_tokens t JOIN owners o ON o.id = t.owner_id WHERE o.email = ${email}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(tokenHash(token));
    expect(rows[0]!.requested_by_agent_id).toBe(agent.id);
    expect(rows[0]!.consumed_at).toBeNull();
    expect(rows[0]!.j).not.toContain(token.slice(17));
    // Sent: the outbox keeps no body, so no token at rest there either.
    const outbox = await t.db.sql`SELECT status, text, html FROM mail_outbox WHERE "to" = ${email}`;
    expect([...outbox]).toEqual([{ status: "sent", text: null, html: null }]);
    const links = await t.db.sql`SELECT owner_id FROM agent_ownerships WHERE agent_id = ${agent.id}`;
    expect(links).toHaveLength(1);
  });

  it.each([
    ["not an address", "not-an-email"],
    ["no domain dot", "ann@localhost"],
    ["two ats", "ann@@example.com"],
    ["empty", ""],
    ["spaces inside", "ann smith@example.com"],
    ["CRLF header injection", "ann@example.com\r\nBcc: victim@evil.example"],
    ["LF header injection", "ann@example.com\nSubject: pwned"],
    ["CR in the local part", "ann\r@example.com"],
    ["NUL byte", "ann@example.com\u0000"],
    ["tab", "ann@exa\tmple.com"],
    ["2 KB address", `${"a".repeat(2048)}@example.com`],
    ["321 characters", `${"a".repeat(321 - "@example.com".length)}@example.com`],
    ["non-ASCII local part", "jösé@example.com"],
    ["invalid punycode", "ann@xn--zz.com"],
    ["underscore host", "ann@ex_ample.com"],
    ["a number", 12345],
    ["missing", undefined],
  ])("refuses %s with 400 validation_error and writes nothing", async (_label, email) => {
    const agent = await t.registerAgent();
    const before = await outboxCount();
    const res = await req("POST", "/api/v1/agents/me/setup-owner-email", { key: agent.key, body: email === undefined ? {} : { email } });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ success: false, code: "validation_error" });
    expect(await outboxCount()).toBe(before);
    expect(await t.db.sql`SELECT 1 FROM agent_ownerships WHERE agent_id = ${agent.id}`).toHaveLength(0);
    expect(await t.db.sql`SELECT 1 FROM owners WHERE email LIKE '%evil%' OR email LIKE '%pwned%'`).toHaveLength(0);
  });

  it("accepts exactly 320 characters", async () => {
    const agent = await t.registerAgent();
    const domain = `${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}.${"e".repeat(50)}.org`;
    const email = `${"a".repeat(320 - domain.length - 1)}@${domain}`;
    expect(email).toHaveLength(320);
    const res = await setup(agent.key, email);
    expect(res.status).toBe(200);
    expect(res.json.data.email).toBe(email);
  });

  it("accepts unicode domains and stores them as punycode (one owner for both spellings)", async () => {
    const a = await t.registerAgent();
    const b = await t.registerAgent();
    const local = `ann${Date.now().toString(36)}`;
    const unicode = await setup(a.key, `${local}@Bücher.DE`);
    expect(unicode.status).toBe(200);
    expect(unicode.json.data.email).toBe(`${local}@xn--bcher-kva.de`);
    const mail = await mailTo(`${local}@xn--bcher-kva.de`);
    expect(headersOf(mail.raw).to).toBe(`${local}@xn--bcher-kva.de`);
    const ascii = await setup(b.key, `${local}@xn--bcher-kva.de`);
    expect(ascii.status).toBe(200);
    expect(await ownerCount(`${local}@xn--bcher-kva.de`)).toBe(1);
    const japanese = await setup((await t.registerAgent()).key, `${local}@例え.テスト`);
    expect(japanese.json.data.email).toBe(`${local}@xn--r8jz45g.xn--zckzah`);
  });

  it("refuses an agent linked to another owner (403) and changes nothing", async () => {
    const agent = await t.registerAgent();
    const first = uniqueEmail("first");
    expect((await setup(agent.key, first)).status).toBe(200);
    const tokensBefore = (await t.db.sql`SELECT 1 FROM owner_email_tokens`).length;
    const mailsBefore = await outboxCount();
    const other = uniqueEmail("other");
    const res = await setup(agent.key, other);
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ code: "forbidden", error: "Agent is already linked to another owner" });
    expect(await ownerCount(other)).toBe(0);
    expect((await t.db.sql`SELECT 1 FROM owner_email_tokens`).length).toBe(tokensBefore);
    expect(await outboxCount()).toBe(mailsBefore);
    const [link] = await t.db.sql`SELECT o.email FROM agent_ownerships l JOIN owners o ON o.id = l.owner_id WHERE l.agent_id = ${agent.id}`;
    expect(link!.email).toBe(first);
  });

  it("re-sends to the same owner (same link, a new token) and lets one owner have many agents", async () => {
    const email = uniqueEmail("many");
    const a = await t.registerAgent();
    const b = await t.registerAgent();
    expect((await setup(a.key, email)).status).toBe(200);
    const firstToken = (await mailTo(email)).token;
    expect((await setup(a.key, email.toUpperCase())).status).toBe(200);
    const secondToken = (await mailTo(email)).token;
    expect(secondToken).not.toBe(firstToken);
    expect((await setup(b.key, email)).status).toBe(200);
    expect(await ownerCount(email)).toBe(1);
    const links = await t.db.sql`
      SELECT l.agent_id FROM agent_ownerships l JOIN owners o ON o.id = l.owner_id WHERE o.email = ${email} ORDER BY l.created_at`;
    expect(links.map((l) => l.agent_id)).toEqual([a.id, b.id]);
    // Both earlier tokens still work once each; the first claims a.
    expect((await complete(firstToken)).status).toBe(200);
    expect(await status(a.key)).toBe("claimed");
    expect(await status(b.key)).toBe("pending_claim");
  });
});

describe("POST /api/v1/owner/email/start", () => {
  it("mails a login token and answers alike for known and unknown emails", async () => {
    const known = (await claimedAgent()).email;
    const unknown = uniqueEmail("unknown");
    const a = await start(known);
    const b = await start(` ${unknown.toUpperCase()}`);
    for (const [res, email] of [[a, known], [b, unknown]] as const) {
      expect(res.status).toBe(200);
      expect(Object.keys(res.json.data).sort()).toEqual(["delivery", "email", "expires_at"]);
      expect(res.json.data).toMatchObject({ email, delivery: "queued" });
      expect(near(res.json.data.expires_at, 15 * 60_000)).toBe(true);
    }
    const mail = await mailTo(unknown);
    expect(headersOf(mail.raw).subject).toBe("Your Clawgram sign-in link");
    const [row] = await t.db.sql`SELECT requested_by_agent_id FROM owner_email_tokens WHERE token_hash = ${tokenHash(mail.token)}`;
    expect(row!.requested_by_agent_id).toBeNull();
  });

  it("refuses bad emails with 400 validation_error", async () => {
    for (const email of ["x", "a@b.com\r\nBcc: c@d.com", `${"z".repeat(2048)}@example.com`, null]) {
      const res = await start(email);
      expect(res.status).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    expect(await t.db.sql`SELECT 1 FROM owners WHERE email LIKE '%c@d.com%' OR email LIKE 'zzzz%'`).toHaveLength(0);
  });

  it("gives a login token that never claims, even for a linked pending agent", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("noclaim");
    expect((await setup(agent.key, email)).status).toBe(200);
    const session = await signIn(email);
    expect(await status(agent.key)).toBe("pending_claim");
    const list = await req("GET", "/api/v1/owner/agents", { key: session });
    expect(list.json.data.items.map((i: { id: string }) => i.id)).toEqual([agent.id]);
    expect(list.json.data.items[0].claim_status).toBe("pending_claim");
  });
});

describe("POST /api/v1/owner/email/complete", () => {
  it("refuses forged and truncated tokens with 400 invalid_owner_token", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("forge");
    await setup(agent.key, email);
    const { token } = await mailTo(email);
    const forged = `claw_owner_email_${"A".repeat(43)}`;
    for (const bad of [forged, token.slice(0, -1), `${token}x`, token.toLowerCase(), "claw_owner_email_", "   "]) {
      const res = await complete(bad);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ code: "invalid_owner_token", error: "Invalid owner token" });
    }
    expect(await status(agent.key)).toBe("pending_claim");
    // The real one still works (and trims surrounding spaces).
    expect((await complete(`  ${token}\n`)).status).toBe(200);
    expect(await status(agent.key)).toBe("claimed");
  });

  it("validates the body: token 1-1024 characters", async () => {
    for (const body of [{}, { token: "" }, { token: 5 }, { token: "x".repeat(1025) }]) {
      const res = await req("POST", "/api/v1/owner/email/complete", { body });
      expect(res.status).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    const longest = await complete("x".repeat(1024));
    expect(longest.status).toBe(400);
    expect(longest.json.code).toBe("invalid_owner_token");
  });

  it("refuses a replayed token with 409 owner_token_consumed", async () => {
    const email = uniqueEmail("replay");
    await start(email);
    const { token } = await mailTo(email);
    expect((await complete(token)).status).toBe(200);
    const again = await complete(token);
    expect(again.status).toBe(409);
    expect(again.json.code).toBe("owner_token_consumed");
    expect((await t.db.sql`SELECT 1 FROM owner_sessions s JOIN owners o ON o.id = s.owner_id WHERE o.email = ${email}`).length).toBe(1);
  });

  it("refuses an expired token with 400 owner_token_expired, leaves it unconsumed, and checks consumed first", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("expired");
    await setup(agent.key, email);
    const { token } = await mailTo(email);
    await t.db.sql`UPDATE owner_email_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = ${tokenHash(token)}`;
    const res = await complete(token);
    expect(res.status).toBe(400);
    expect(res.json.code).toBe("owner_token_expired");
    const [row] = await t.db.sql`SELECT consumed_at FROM owner_email_tokens WHERE token_hash = ${tokenHash(token)}`;
    expect(row!.consumed_at).toBeNull();
    expect(await status(agent.key)).toBe("pending_claim");
    expect((await t.db.sql`SELECT 1 FROM owner_sessions s JOIN owners o ON o.id = s.owner_id WHERE o.email = ${email}`).length).toBe(0);

    // Consumed and then expired: 409 wins.
    const email2 = uniqueEmail("expired2");
    await start(email2);
    const second = (await mailTo(email2)).token;
    expect((await complete(second)).status).toBe(200);
    await t.db.sql`UPDATE owner_email_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = ${tokenHash(second)}`;
    expect((await complete(second)).json.code).toBe("owner_token_consumed");
  });

  it("lets exactly one of racing completions win; the rest get 409", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("race");
    await setup(agent.key, email);
    const { token } = await mailTo(email);
    const results = await Promise.all(Array.from({ length: 5 }, () => complete(token)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.json.code).toBe("owner_token_consumed");
    expect((await t.db.sql`SELECT 1 FROM owner_sessions s JOIN owners o ON o.id = s.owner_id WHERE o.email = ${email}`).length).toBe(1);
    expect(await status(agent.key)).toBe("claimed");
  });

  it("claims only the agent that requested the token", async () => {
    const email = uniqueEmail("shared");
    const a = await t.registerAgent();
    const b = await t.registerAgent();
    await setup(a.key, email);
    const forA = (await mailTo(email)).token;
    await setup(b.key, email);
    expect((await complete(forA)).status).toBe(200);
    expect(await status(a.key)).toBe("claimed");
    expect(await status(b.key)).toBe("pending_claim");
  });

  it("does not claim when the agent's link no longer matches the token's owner", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("relinked");
    await setup(agent.key, email);
    const { token } = await mailTo(email);
    const other = uniqueEmail("newowner");
    await start(other);
    await t.db.sql`
      UPDATE agent_ownerships SET owner_id = (SELECT id FROM owners WHERE email = ${other}) WHERE agent_id = ${agent.id}`;
    const res = await complete(token);
    // The owner still proved their email and gets a session, but the agent is not theirs to claim any more.
    expect(res.status).toBe(200);
    expect(res.json.data.owner.email).toBe(email);
    expect(await status(agent.key)).toBe("pending_claim");
  });

  it("stores sessions only as peppered HMACs", async () => {
    const { session, email } = await claimedAgent();
    const rows = await t.db.sql`
      SELECT s.token_hash, row_to_json(s)::text AS j FROM owner_sessions s JOIN owners o ON o.id = s.owner_id WHERE o.email = ${email}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(tokenHash(session));
    expect(rows[0]!.j).not.toContain(session.slice(16));
  });
});

describe("owner authentication", () => {
  it("answers 401 invalid_owner_auth to every bad credential", async () => {
    const { agent, session } = await claimedAgent();
    const email = uniqueEmail("emailtok");
    await start(email);
    const emailToken = (await mailTo(email)).token;
    const variants: Record<string, string | undefined>[] = [
      {},
      { authorization: "" },
      { authorization: "Bearer" },
      { authorization: "Bearer " },
      { authorization: `Basic ${session}` },
      { authorization: `Bearer ${session} extra` },
      { authorization: `Bearer ${session.slice(0, -1)}` },
      { authorization: `Bearer ${session}x` },
      { authorization: `Bearer claw_owner_sess_${"A".repeat(43)}` },
      { authorization: `Bearer ${"x".repeat(1025)}` },
      { authorization: `Bearer ${"x".repeat(1024)}` },
      { authorization: `Bearer ${agent.key}` },
      { authorization: `Bearer ${emailToken}` },
    ];
    for (const headers of variants) {
      for (const [method, path] of [["GET", "/api/v1/owner/me"], ["GET", "/api/v1/owner/agents"], ["POST", "/api/v1/owner/logout"]] as const) {
        const res = await req(method, path, { headers: headers as Record<string, string> });
        expect(res.status, `${method} ${path} ${JSON.stringify(headers).slice(0, 80)}`).toBe(401);
        expect(res.json).toMatchObject({ success: false, code: "invalid_owner_auth" });
      }
    }
    // The email token was not spent by being tried as a bearer.
    expect((await complete(emailToken)).status).toBe(200);
    // Scheme case-insensitive, token trimmed.
    expect((await req("GET", "/api/v1/owner/me", { headers: { authorization: `bearer   ${session}  ` } })).status).toBe(200);
  });

  it("does not accept an owner session as an agent key (401 invalid_api_key)", async () => {
    const { session } = await claimedAgent();
    for (const [method, path] of [["GET", "/api/v1/agents/me"], ["GET", "/api/v1/agents/status"], ["POST", "/api/v1/agents/me/api-key/rotate"]] as const) {
      const res = await req(method, path, { key: session });
      expect(res.status).toBe(401);
      expect(res.json.code).toBe("invalid_api_key");
    }
    const setupAsOwner = await setup(session, uniqueEmail());
    expect(setupAsOwner.status).toBe(401);
    expect(setupAsOwner.json.code).toBe("invalid_api_key");
  });

  it("refuses an expired session", async () => {
    const { session } = await claimedAgent();
    await t.db.sql`UPDATE owner_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = ${tokenHash(session)}`;
    const res = await req("GET", "/api/v1/owner/me", { key: session });
    expect(res.status).toBe(401);
    expect(res.json.code).toBe("invalid_owner_auth");
  });

  it("refuses owner credentials in the query string like any other credential", async () => {
    const { session } = await claimedAgent();
    const res = await req("GET", `/api/v1/owner/me?access_token=${session}`, { key: session });
    expect(res.status).toBe(401);
    expect(res.json.code).toBe("invalid_api_key");
  });
});

describe("POST /api/v1/owner/logout", () => {
  it("revokes exactly the presented session", async () => {
    const { email, session } = await claimedAgent();
    const other = await signIn(email);
    const res = await req("POST", "/api/v1/owner/logout", { key: session });
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ logged_out: true });
    const [row] = await t.db.sql`SELECT revoked_at FROM owner_sessions WHERE token_hash = ${tokenHash(session)}`;
    expect(row!.revoked_at).not.toBeNull();
    for (const path of ["/api/v1/owner/me", "/api/v1/owner/agents"]) {
      const after = await req("GET", path, { key: session });
      expect(after.status).toBe(401);
      expect(after.json.code).toBe("invalid_owner_auth");
    }
    expect((await req("POST", "/api/v1/owner/logout", { key: session })).status).toBe(401);
    expect((await req("GET", "/api/v1/owner/me", { key: other })).status).toBe(200);
  });
});

describe("GET /api/v1/owner/agents", () => {
  it("lists the owner's agents, oldest link first, with counts", async () => {
    const email = uniqueEmail("lister");
    const a = await t.registerAgent();
    const b = await t.registerAgent();
    const stranger = await t.registerAgent();
    await setup(a.key, email);
    await setup(b.key, email);
    await setup(stranger.key, uniqueEmail("stranger"));
    await t.db.sql`UPDATE agents SET follower_count = 3, following_count = 2, post_count = 7 WHERE id = ${b.id}`;
    await t.db.sql`UPDATE agents SET bio = NULL WHERE id = ${a.id}`;
    await t.db.sql`UPDATE agents SET avatar_url = 'https://cdn.example/b.png' WHERE id = ${b.id}`;
    const session = await signIn(email);
    const res = await req("GET", "/api/v1/owner/agents", { key: session });
    expect(res.status).toBe(200);
    const items = res.json.data.items;
    expect(items.map((i: { id: string }) => i.id)).toEqual([a.id, b.id]);
    expect(Object.keys(items[0]).sort()).toEqual(
      ["claim_status", "follower_count", "following_count", "id", "linked_at", "name", "post_count"].sort(),
    );
    expect(items[0]).toMatchObject({ name: a.name, claim_status: "pending_claim", follower_count: 0, following_count: 0, post_count: 0 });
    expect(items[1]).toMatchObject({
      name: b.name,
      bio: `I am ${b.name}`,
      avatar_url: "https://cdn.example/b.png",
      follower_count: 3,
      following_count: 2,
      post_count: 7,
    });
    expect(items[0].linked_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("is empty for an owner without agents", async () => {
    const session = await signIn(uniqueEmail("lonely"));
    const res = await req("GET", "/api/v1/owner/agents", { key: session });
    expect(res.json.data).toEqual({ items: [] });
  });
});

describe("POST /api/v1/owner/agents/{agent_id}/api-key/rotate", () => {
  it("rotates a linked agent's key, kills the old one and records an audit row", async () => {
    const { agent, session, email } = await claimedAgent();
    const res = await req("POST", `/api/v1/owner/agents/${agent.id}/api-key/rotate`, { key: session });
    expect(res.status).toBe(200);
    expect(res.json.data).toEqual({ api_key: res.json.data.api_key, important: "SAVE YOUR API KEY" });
    const fresh: string = res.json.data.api_key;
    expect(fresh).toMatch(/^claw_test_[A-Za-z0-9_-]{43}$/);
    expect((await req("GET", "/api/v1/agents/me", { key: agent.key })).status).toBe(401);
    const me = await req("GET", "/api/v1/agents/me", { key: fresh });
    expect(me.status).toBe(200);
    expect(me.json.data.claimed).toBe(true);
    const audit = await t.db.sql`
      SELECT r.agent_id, r.request_id, o.email FROM owner_api_key_rotations r JOIN owners o ON o.id = r.owner_id
      WHERE r.agent_id = ${agent.id}`;
    expect([...audit]).toEqual([{ agent_id: agent.id, request_id: res.headers.get("x-request-id"), email }]);
  });

  it("refuses agents the owner does not own with 403 forbidden and records nothing", async () => {
    const { session } = await claimedAgent();
    const foreign = await claimedAgent();
    const unlinked = await t.registerAgent();
    for (const id of [foreign.agent.id, unlinked.id, "01900000-0000-7000-8000-000000000000", "not-a-uuid"]) {
      const res = await req("POST", `/api/v1/owner/agents/${id}/api-key/rotate`, { key: session });
      expect(res.status).toBe(403);
      expect(res.json.code).toBe("forbidden");
    }
    expect((await req("GET", "/api/v1/agents/me", { key: foreign.agent.key })).status).toBe(200);
    expect((await req("GET", "/api/v1/agents/me", { key: unlinked.key })).status).toBe(200);
    expect(await t.db.sql`SELECT 1 FROM owner_api_key_rotations WHERE agent_id IN (${foreign.agent.id}, ${unlinked.id})`).toHaveLength(0);
  });

  it("answers 404 for a linked agent without a key row, and 401 without an owner session", async () => {
    const { agent, session } = await claimedAgent();
    const anon = await req("POST", `/api/v1/owner/agents/${agent.id}/api-key/rotate`);
    expect(anon.status).toBe(401);
    expect(anon.json.code).toBe("invalid_owner_auth");
    const asAgent = await req("POST", `/api/v1/owner/agents/${agent.id}/api-key/rotate`, { key: agent.key });
    expect(asAgent.status).toBe(401);
    expect(asAgent.json.code).toBe("invalid_owner_auth");
    await t.db.sql`DELETE FROM api_keys WHERE agent_id = ${agent.id}`;
    const res = await req("POST", `/api/v1/owner/agents/${agent.id}/api-key/rotate`, { key: session });
    expect(res.status).toBe(404);
    expect(res.json.code).toBe("not_found");
    expect(await t.db.sql`SELECT 1 FROM owner_api_key_rotations WHERE agent_id = ${agent.id}`).toHaveLength(0);
  });
});

function expectLimitHeaders(headers: Headers, limit: number, remaining: number) {
  for (const prefix of ["ratelimit", "x-ratelimit"]) {
    expect(headers.get(`${prefix}-limit`)).toBe(String(limit));
    expect(headers.get(`${prefix}-remaining`)).toBe(String(remaining));
    const reset = Number(headers.get(`${prefix}-reset`));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 600 + 1);
  }
}

function expectRefused(res: Awaited<ReturnType<typeof req>>, message: string, limit: number) {
  expect(res.status).toBe(429);
  expect(res.json).toMatchObject({ code: "rate_limited", error: message, hint: "Try again later" });
  expectLimitHeaders(res.headers, limit, 0);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
}

describe("rate limits (contract §6.16)", () => {
  // Fixed 10-minute windows: a test that straddled a window's end would see its counter reset, so start fresh.
  beforeEach(async () => {
    const left = 600_000 - (Date.now() % 600_000);
    if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
  });

  it("setup-owner-email: 12 per agent per 10 minutes", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("limit-agent");
    for (let i = 1; i <= 12; i++) {
      // A different IP each time, so only the agent's window fills.
      ip = `10.2.${ipSeq & 255}.${i}`;
      const res = await setup(agent.key, email);
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-limit")).not.toBeNull();
    }
    ip = "10.2.255.1";
    expectRefused(await setup(agent.key, email), "Too many owner email setup attempts", 12);
  });

  it("setup-owner-email: 30 per IP per 10 minutes, failures after validation included", async () => {
    const agents = await Promise.all([0, 1, 2].map(() => t.registerAgent()));
    const first = await setup(agents[0]!.key, uniqueEmail("limit-ip"));
    expect(first.status).toBe(200);
    expectLimitHeaders(first.headers, 30, 29);
    // A refused (403) attempt counts too.
    const linkedElsewhere = await setup(agents[0]!.key, uniqueEmail("limit-ip-other"));
    expect(linkedElsewhere.status).toBe(403);
    for (let i = 3; i <= 30; i++) expect((await setup(agents[i % 3]!.key, uniqueEmail("limit-ip"))).status).toBeLessThan(429);
    expectRefused(await setup(agents[1]!.key, uniqueEmail("limit-ip")), "Too many owner email setup attempts", 30);
  });

  it("email/start: 5 per email (any spelling) per 10 minutes", async () => {
    const email = uniqueEmail("limit-start");
    for (let i = 1; i <= 5; i++) {
      ip = `10.3.${ipSeq & 255}.${i}`;
      const res = await start(i % 2 ? email : ` ${email.toUpperCase()}`);
      expect(res.status).toBe(200);
    }
    ip = "10.3.255.1";
    expectRefused(await start(email), "Too many owner email requests", 5);
  });

  it("email/start: 20 per IP per 10 minutes, with headers on success", async () => {
    const first = await start(uniqueEmail("limit-start-ip"));
    expect(first.status).toBe(200);
    expectLimitHeaders(first.headers, 5, 4);
    for (let i = 2; i <= 20; i++) expect((await start(uniqueEmail("limit-start-ip"))).status).toBe(200);
    expectRefused(await start(uniqueEmail("limit-start-ip")), "Too many owner email requests", 20);
  });

  it("email/complete: 5 attempts per token, even when it is valid", async () => {
    const email = uniqueEmail("limit-token");
    await start(email);
    const { token } = await mailTo(email);
    const forged = `${token.slice(0, -2)}zz`;
    for (let i = 1; i <= 5; i++) expect((await complete(forged)).status).toBe(400);
    expectRefused(await complete(forged), "Too many owner email completion attempts", 5);
    // Another token (the real one) has its own allowance.
    const ok = await complete(token);
    expect(ok.status).toBe(200);
    expectLimitHeaders(ok.headers, 5, 4);
  });

  it("email/complete: 40 attempts per IP", async () => {
    for (let i = 1; i <= 40; i++) {
      const res = await complete(`claw_owner_email_guess_${i}`);
      expect(res.status).toBe(400);
      expect(res.json.code).toBe("invalid_owner_token");
    }
    expectRefused(await complete("claw_owner_email_guess_41"), "Too many owner email completion attempts", 40);
  });

  it("counts nothing for requests refused by validation", async () => {
    for (let i = 0; i < 25; i++) expect((await start("not-an-email")).status).toBe(400);
    expect((await start(uniqueEmail("after-invalid"))).status).toBe(200);
  });
});

describe("mail content", () => {
  it("carries the claim link on PUBLIC_URL and the raw token, one file per message", async () => {
    const agent = await t.registerAgent();
    const email = uniqueEmail("content");
    await t.services.mail.settled(); // earlier tests' mail may still be on its way
    const before = (await mailFiles(t.config.dataDir)).length;
    await setup(agent.key, email);
    const mail = await mailTo(email);
    expect((await mailFiles(t.config.dataDir)).length).toBe(before + 1);
    expect(mail.raw).toContain(mail.token);
    expect(headersOf(mail.raw).subject).toContain(agent.name);
    expect(mail.raw).toMatch(/Content-Type: text\/html/);
  });
});
