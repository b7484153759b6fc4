import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";

// The admin API over HTTP against the real app and database: tokens, settings (and where they show), the reports
// queue, account actions and their effects, domain blocks, and the audit trail each action leaves.

let t: TestApp;
let token: string;
const png = () => makeImage("png", 16, 16);

beforeAll(async () => {
  t = await createTestApp({ HOT_CACHE_MS: "0" });
  token = (await t.services.admin.tokens.create("tests", "test-setup")).token;
});
afterAll(async () => {
  await t.close();
});

const admin = (method: string, path: string, body?: unknown, as = token) => t.call(method, `/api/v1/admin${path}`, { key: as, body });

async function newPost(author: { key: string; mediaId: string }, caption = "a post") {
  const res = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], caption } });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.json.data.id as string;
}

async function auditEntries(action: string) {
  const res = await admin("GET", `/audit?action=${encodeURIComponent(action)}`);
  expect(res.status).toBe(200);
  return res.json.data.entries as { actor: string; action: string; target_id: string; reason: string | null; created_at: string; details: any }[];
}

const explore = async () => ((await t.call("GET", "/api/v1/explore?limit=50")).json.data.items as { id: string }[]).map((p) => p.id);

describe("admin tokens", () => {
  it("refuses requests without a valid admin token", async () => {
    const agent = await t.registerAgent();
    for (const key of ["", "nope", agent.key, "clawgram_admin_forged"]) {
      const res = await admin("GET", "/settings", undefined, key);
      expect(res.status).toBe(401);
      expect(res.json.code).toBe("invalid_admin_token");
    }
    expect((await admin("GET", "/settings")).status).toBe(200);
  });

  it("stores only a hash, and a revoked token stops working", async () => {
    const { token: other } = await t.services.admin.tokens.create("short-lived", "test-setup", "for this test");
    const rows = await t.db.sql<{ token_hash: string }[]>`SELECT token_hash FROM admin_tokens WHERE name = 'short-lived'`;
    expect(rows[0]!.token_hash).not.toContain(other.slice(15));
    expect((await admin("GET", "/tokens", undefined, other)).status).toBe(200);
    const list = (await admin("GET", "/tokens")).json.data.tokens as { name: string; last_used_at: string | null }[];
    expect(list.find((x) => x.name === "short-lived")?.last_used_at).not.toBeNull();
    expect(JSON.stringify(list)).not.toContain(other);
    await t.services.admin.tokens.revoke("short-lived", "test-setup", "done");
    const res = await admin("GET", "/settings", undefined, other);
    expect(res.status).toBe(401);
    const [entry] = await auditEntries("token.revoke");
    expect(entry).toMatchObject({ actor: "test-setup", target_id: "short-lived", reason: "done" });
  });
});

describe("instance settings", () => {
  it("are edited through the API, audited, and served on /about and in NodeInfo", async () => {
    const before = await admin("GET", "/settings");
    expect(before.json.data).toMatchObject({ name: "Clawgram", registrations: "open", sensitive_threshold: 5 });
    const res = await admin("PATCH", "/settings", {
      name: "Crab Coast",
      description: "Agents posting tide pools.",
      rules: ["Be kind", "No spam <script>"],
      contact: "mods@crab.example",
      reason: "launch day",
    });
    expect(res.status).toBe(200);
    expect(res.json.data).toMatchObject({ name: "Crab Coast", rules: ["Be kind", "No spam <script>"], contact: "mods@crab.example" });

    const about = await t.app.request("/about");
    expect(about.status).toBe(200);
    const page = await about.text();
    expect(page).toContain("About Crab Coast");
    expect(page).toContain("Agents posting tide pools.");
    expect(page).toContain("No spam &lt;script&gt;");
    expect(page).toContain("mods@crab.example");

    const nodeinfo: any = await (await t.app.request("/nodeinfo/2.1", { headers: { accept: "application/json" } })).json();
    expect(nodeinfo.openRegistrations).toBe(true);
    expect(nodeinfo.metadata).toMatchObject({ nodeName: "Crab Coast", nodeDescription: "Agents posting tide pools.", rules: ["Be kind", "No spam <script>"] });

    const [entry] = await auditEntries("settings.update");
    expect(entry).toMatchObject({ actor: "token:tests", reason: "launch day" });
    expect(entry!.details.patch.name).toBe("Crab Coast");
  });

  it("rejects bad values without changing anything", async () => {
    for (const body of [{}, { registrations: "maybe" }, { sensitive_threshold: -1 }, { rules: "not a list" }, { unknown: 1 }]) {
      const res = await admin("PATCH", "/settings", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe("validation_error");
    }
    expect((await admin("GET", "/settings")).json.data.name).toBe("Crab Coast");
  });

  it("closed registrations refuse new agents with registrations_closed", async () => {
    await admin("PATCH", "/settings", { registrations: "closed" });
    const res = await t.call("POST", "/api/v1/agents/register", { body: { name: "too_late", description: "hi" } });
    expect(res.status).toBe(403);
    expect(res.json.code).toBe("registrations_closed");
    const nodeinfo: any = await (await t.app.request("/nodeinfo/2.1", { headers: { accept: "application/json" } })).json();
    expect(nodeinfo.openRegistrations).toBe(false);
    await admin("PATCH", "/settings", { registrations: "open" });
  });

  it("approval holds a new agent's writes until an admin approves it", async () => {
    await admin("PATCH", "/settings", { registrations: "approval" });
    const agent = await t.registerAgent();
    await admin("PATCH", "/settings", { registrations: "open" });
    const write = await t.call("PATCH", "/api/v1/agents/me", { key: agent.key, body: { bio: "let me in" } });
    expect(write.status).toBe(403);
    expect(write.json.code).toBe("account_pending_approval");
    expect((await t.call("GET", "/api/v1/agents/me", { key: agent.key })).status).toBe(200);
    const pending = await admin("GET", "/accounts?filter=pending");
    expect(pending.json.data.accounts.map((a: { name: string }) => a.name)).toContain(agent.name);
    const approve = await admin("POST", `/accounts/${agent.name}/actions`, { action: "approve", reason: "looks fine" });
    expect(approve.status).toBe(200);
    expect((await t.call("PATCH", "/api/v1/agents/me", { key: agent.key, body: { bio: "in" } })).status).toBe(200);
  });

  it("the sensitive threshold and report weights come from the settings", async () => {
    const author = await agentWithAvatar(t, png);
    const postId = await newPost(author);
    await admin("PATCH", "/settings", { sensitive_threshold: 0.5 });
    const reporter = await t.registerAgent();
    const r = await t.call("POST", `/api/v1/posts/${postId}/report`, { key: reporter.key, body: { reason: "spam" } });
    expect(r.status).toBe(201);
    expect(r.json.data).toMatchObject({ weight: 0.25, post_is_sensitive: false });
    const second = await t.call("POST", `/api/v1/posts/${postId}/report`, { key: (await t.registerAgent()).key, body: { reason: "spam" } });
    expect(second.json.data).toMatchObject({ post_is_sensitive: true, post_report_score: 0.5 });
    await admin("PATCH", "/settings", { sensitive_threshold: 5 });
  });

  it("per-agent write limits can be changed at runtime", async () => {
    const author = await agentWithAvatar(t, png);
    const limits = [{ limit: 1, window_seconds: 3600 }];
    await admin("PATCH", "/settings", { write_limits: { posts: limits, comments: limits, likes: limits, follows: limits } });
    await newPost(author);
    const second = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }] } });
    expect(second.status).toBe(429);
    await admin("PATCH", "/settings", { write_limits: null });
    expect((await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }] } })).status).toBe(201);
  });
});

describe("reports queue", () => {
  async function reported(reporters = 2) {
    const author = await agentWithAvatar(t, png);
    const postId = await newPost(author, "reported post");
    for (let i = 0; i < reporters; i++) {
      const r = await t.registerAgent();
      await t.call("POST", `/api/v1/posts/${postId}/report`, { key: r.key, body: { reason: "spam", details: `report ${i}` } });
    }
    return { author, postId };
  }

  it("lists open reports grouped by post with their score", async () => {
    const { postId, author } = await reported(3);
    const res = await admin("GET", "/reports?origin=local");
    expect(res.status).toBe(200);
    const group = res.json.data.groups.find((g: any) => g.post.id === postId);
    expect(group).toMatchObject({ score: 0.75, report_count: 3, post: { author: { name: author.name, kind: "local" } } });
    expect(group.reports.every((r: any) => r.origin === "local" && r.reason === "spam")).toBe(true);
    expect((await admin("GET", "/reports?origin=remote")).json.data.groups.find((g: any) => g.post.id === postId)).toBeUndefined();
    expect((await admin("GET", "/reports?limit=0")).status).toBe(400);
  });

  it("dismiss closes the reports and emits report.resolved", async () => {
    const { postId } = await reported(2);
    const seen: unknown[] = [];
    t.services.events.on("report.resolved", (e) => void seen.push(e));
    const res = await admin("POST", `/reports/${postId}/resolve`, { action: "dismiss", reason: "not spam" });
    expect(res.status).toBe(200);
    expect(res.json.data.report_ids).toHaveLength(2);
    expect(seen.filter((e: any) => e.postId === postId)).toHaveLength(2);
    expect(seen.find((e: any) => e.postId === postId)).toMatchObject({ outcome: "dismiss", reportId: expect.any(String), reporterId: expect.any(String) });
    expect((await admin("GET", "/reports")).json.data.groups.find((g: any) => g.post.id === postId)).toBeUndefined();
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).status).toBe(200);
    const [entry] = await auditEntries("report.dismiss");
    expect(entry).toMatchObject({ actor: "token:tests", target_id: postId, reason: "not spam" });
    // Nothing left to dismiss.
    expect((await admin("POST", `/reports/${postId}/resolve`, { action: "dismiss" })).status).toBe(404);
  });

  it("mark_sensitive and delete_post act on the post", async () => {
    const a = await reported(1);
    expect((await admin("POST", `/reports/${a.postId}/resolve`, { action: "mark_sensitive" })).status).toBe(200);
    expect((await t.call("GET", `/api/v1/posts/${a.postId}`)).json.data.is_sensitive).toBe(true);
    const b = await reported(1);
    expect((await admin("POST", `/reports/${b.postId}/resolve`, { action: "delete_post", reason: "illegal" })).status).toBe(200);
    expect((await t.call("GET", `/api/v1/posts/${b.postId}`)).status).toBe(404);
    expect((await auditEntries("report.delete_post"))[0]).toMatchObject({ target_id: b.postId, reason: "illegal" });
  });

  it("validates the resolution and the post", async () => {
    const { postId } = await reported(1);
    expect((await admin("POST", `/reports/${postId}/resolve`, { action: "nuke" })).status).toBe(400);
    expect((await admin("POST", `/reports/00000000-0000-7000-8000-000000000000/resolve`, { action: "dismiss" })).status).toBe(404);
    // Forwarding is for fediverse authors only.
    const fwd = await admin("POST", `/reports/${postId}/forward`, {});
    expect(fwd.status).toBe(400);
    expect(fwd.json.code).toBe("not_remote");
  });

  it("suspend_account from a report suspends the author", async () => {
    const { postId, author } = await reported(1);
    expect((await admin("POST", `/reports/${postId}/resolve`, { action: "suspend_account", reason: "spam bot" })).status).toBe(200);
    const write = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }] } });
    expect(write.status).toBe(403);
    expect(write.json.code).toBe("account_suspended");
    expect((await auditEntries("account.suspend"))[0]).toMatchObject({ target_id: author.id, reason: "spam bot" });
  });
});

describe("account actions", () => {
  it("suspend refuses writes, hides profile and posts, and unsuspend restores exactly them", async () => {
    const author = await agentWithAvatar(t, png);
    const kept = await newPost(author, "kept");
    const deletedBefore = await newPost(author, "deleted by author");
    await t.call("DELETE", `/api/v1/posts/${deletedBefore}`, { key: author.key });
    const fan = await agentWithAvatar(t, png);
    expect((await t.call("POST", `/api/v1/posts/${kept}/like`, { key: fan.key })).status).toBeLessThan(300);

    const res = await admin("POST", `/accounts/${author.name}/actions`, { action: "suspend", reason: "abuse" });
    expect(res.status).toBe(200);
    expect(res.json.data.account.suspended_at).not.toBeNull();
    expect(new Date(res.json.data.account.purge_after).getTime() - new Date(res.json.data.account.suspended_at).getTime()).toBe(30 * 86_400_000);

    for (const [method, path, body] of [
      ["POST", "/api/v1/posts", { images: [{ media_id: author.mediaId }] }],
      ["PATCH", "/api/v1/agents/me", { bio: "x" }],
      ["POST", `/api/v1/agents/${fan.name}/follow`, undefined],
    ] as const) {
      const r = await t.call(method, path, { key: author.key, body });
      expect(r.status, path).toBe(403);
      expect(r.json.code, path).toBe("account_suspended");
    }
    expect((await t.call("GET", "/api/v1/agents/me", { key: author.key })).status).toBe(200);
    expect((await t.call("GET", `/api/v1/agents/${author.name}`)).status).toBe(404);
    expect((await t.call("GET", `/api/v1/posts/${kept}`)).status).toBe(404);
    expect(await explore()).not.toContain(kept);
    expect((await t.app.request(`/@${author.name}`)).status).toBe(404);
    expect((await admin("POST", `/accounts/${author.name}/actions`, { action: "suspend" })).json.code).toBe("already_suspended");

    expect((await admin("POST", `/accounts/${author.id}/actions`, { action: "unsuspend", reason: "appeal" })).status).toBe(200);
    expect((await t.call("GET", `/api/v1/posts/${kept}`)).json.data.like_count).toBe(1);
    expect((await t.call("GET", `/api/v1/posts/${deletedBefore}`)).status).toBe(404);
    expect((await t.call("GET", `/api/v1/agents/${author.name}`)).status).toBe(200);
    expect((await newPost(author, "back"))).toBeTruthy();
    expect((await auditEntries("account.unsuspend"))[0]).toMatchObject({ target_id: author.id, reason: "appeal" });
  });

  it("limit hides from explore and search but not from followers", async () => {
    const author = await agentWithAvatar(t, png);
    const postId = await newPost(author, "limitedcaption");
    const follower = await agentWithAvatar(t, png);
    await t.call("POST", `/api/v1/agents/${author.name}/follow`, { key: follower.key });
    expect(await explore()).toContain(postId);

    expect((await admin("POST", `/accounts/${author.name}/actions`, { action: "limit", reason: "borderline" })).status).toBe(200);
    expect(await explore()).not.toContain(postId);
    const today = new Date().toISOString().slice(0, 10);
    const board = await t.call("GET", `/api/v1/leaderboard/daily?date=${today}&limit=100`);
    expect(board.status).toBe(200);
    expect(board.json.data.items.map((e: { post: { id: string } }) => e.post.id)).not.toContain(postId);
    const search = await t.call("GET", `/api/v1/search?q=limitedcaption&type=all`);
    expect(search.json.data.posts.items.map((p: { id: string }) => p.id)).not.toContain(postId);
    const agents = await t.call("GET", `/api/v1/search?q=${author.name}&type=all`);
    expect(agents.json.data.agents.items.map((a: { name: string }) => a.name)).not.toContain(author.name);
    const feed = await t.call("GET", "/api/v1/feed?limit=50", { key: follower.key });
    expect(feed.json.data.items.map((p: { id: string }) => p.id)).toContain(postId);
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).status).toBe(200);

    await admin("POST", `/accounts/${author.name}/actions`, { action: "unlimit" });
    expect(await explore()).toContain(postId);
    const boardAfter = await t.call("GET", `/api/v1/leaderboard/daily?date=${today}&limit=100`);
    expect(boardAfter.json.data.items.map((e: { post: { id: string } }) => e.post.id)).toContain(postId);
  });

  it("force-sensitive marks existing and new posts sensitive", async () => {
    const author = await agentWithAvatar(t, png);
    const old = await newPost(author);
    expect((await admin("POST", `/accounts/${author.name}/actions`, { action: "force_sensitive" })).status).toBe(200);
    expect((await t.call("GET", `/api/v1/posts/${old}`)).json.data.is_sensitive).toBe(true);
    const fresh = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], sensitive: false } });
    expect(fresh.json.data.is_sensitive).toBe(true);
  });

  it("purge needs a suspension for local accounts, then deletes everything with counters kept exact", async () => {
    const author = await agentWithAvatar(t, png);
    const other = await agentWithAvatar(t, png);
    const theirs = await newPost(other);
    await t.call("POST", `/api/v1/posts/${theirs}/like`, { key: author.key });
    await t.call("POST", `/api/v1/agents/${other.name}/follow`, { key: author.key });
    await t.call("POST", `/api/v1/posts/${theirs}/comments`, { key: author.key, body: { content: "nice" } });
    const before = (await t.call("GET", `/api/v1/posts/${theirs}`)).json.data;
    expect(before).toMatchObject({ like_count: 1, comment_count: 1 });

    const refused = await admin("POST", `/accounts/${author.name}/actions`, { action: "purge" });
    expect(refused.status).toBe(409);
    expect(refused.json.code).toBe("not_suspended");

    await admin("POST", `/accounts/${author.name}/actions`, { action: "suspend" });
    // The grace period ends: the scheduled job purges the account.
    await t.db.sql`UPDATE agents SET suspended_at = now() - interval '31 days' WHERE id = ${author.id}`;
    expect(await t.services.admin.accounts.purgeExpired()).toBeGreaterThanOrEqual(1);
    expect((await admin("GET", `/accounts/${author.id}`)).status).toBe(404);
    const after = (await t.call("GET", `/api/v1/posts/${theirs}`)).json.data;
    expect(after).toMatchObject({ like_count: 0, comment_count: 0 });
    const [row] = await t.db.sql<{ follower_count: number }[]>`SELECT follower_count FROM agents WHERE id = ${other.id}`;
    expect(row!.follower_count).toBe(0);
    const [entry] = await auditEntries("account.purge");
    expect(entry).toMatchObject({ actor: "system:purge-suspended", target_id: author.id });
  });

  it("suspending a fediverse account drops its follows and likes and hides its comments; purge deletes it", async () => {
    const author = await agentWithAvatar(t, png);
    const postId = await newPost(author);
    const remote = await t.services.agents.upsertRemote({
      iri: "https://elsewhere.example/users/troll",
      handle: "troll@elsewhere.example",
      inboxUrl: "https://elsewhere.example/users/troll/inbox",
      sharedInboxUrl: null,
      profileUrl: null,
      displayName: "Troll",
      bio: null,
      avatarUrl: null,
      isBot: false,
    } as Parameters<typeof t.services.agents.upsertRemote>[0]);
    // What the inbox does for a Like, a Follow and a reply from that account.
    await t.services.social.like(remote, postId);
    await t.services.social.follow(remote, author.name);
    const reply = await t.services.comments.create(remote, postId, { content: "rude reply", iri: "https://elsewhere.example/notes/1" });
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data).toMatchObject({ like_count: 1, comment_count: 1 });

    const res = await admin("POST", `/accounts/${encodeURIComponent("troll@elsewhere.example")}/actions`, { action: "suspend", reason: "harassment" });
    expect(res.status).toBe(200);
    expect(res.json.data.account).toMatchObject({ kind: "remote", name: "troll@elsewhere.example" });
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data.like_count).toBe(0);
    expect((await t.call("GET", `/api/v1/agents/${author.name}`)).json.data.follower_count).toBe(0);
    const comments = await t.call("GET", `/api/v1/posts/${postId}/comments`);
    const shown = comments.json.data.items.find((c: { id: string }) => c.id === reply.comment.id);
    expect(shown === undefined || shown.content !== "rude reply").toBe(true);

    expect((await admin("POST", `/accounts/${remote.id}/actions`, { action: "purge", reason: "gone" })).json.data.purged).toBe(true);
    expect((await admin("GET", `/accounts/${remote.id}`)).status).toBe(404);
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data.comment_count).toBe(0);
  });

  it("unknown accounts and actions are refused", async () => {
    expect((await admin("POST", "/accounts/nobody_here/actions", { action: "suspend" })).status).toBe(404);
    expect((await admin("POST", "/accounts/nobody_here/actions", { action: "vaporize" })).status).toBe(400);
    expect((await admin("GET", "/accounts?filter=weird")).status).toBe(400);
  });
});

describe("domain blocks", () => {
  it("are created, listed, shown on /about and lifted, each audited", async () => {
    const put = await admin("PUT", "/domain-blocks/Spam.Example", {
      severity: "suspend",
      reject_reports: true,
      public_comment: "spam factory",
      private_comment: "see ticket 12",
      reason: "spam wave",
    });
    expect(put.status).toBe(200);
    expect(put.json.data.block).toMatchObject({ domain: "spam.example", severity: "suspend", reject_reports: true });
    const list = await admin("GET", "/domain-blocks");
    expect(list.json.data.blocks.map((b: { domain: string }) => b.domain)).toContain("spam.example");
    const about = await (await t.app.request("/about")).text();
    expect(about).toContain("spam.example");
    expect(about).toContain("spam factory");
    expect(about).not.toContain("ticket 12");
    expect(await t.services.admin.domains.verdict("https://sub.spam.example/users/x")).toMatchObject({ refused: true });
    expect(await t.services.admin.domains.verdict("https://notspam.example/users/x")).toMatchObject({ refused: false });
    expect((await auditEntries("domain.block"))[0]).toMatchObject({ target_id: "spam.example", reason: "spam wave" });

    expect((await admin("DELETE", "/domain-blocks/spam.example?reason=resolved")).status).toBe(200);
    expect((await admin("DELETE", "/domain-blocks/spam.example")).status).toBe(404);
    expect((await auditEntries("domain.unblock"))[0]).toMatchObject({ target_id: "spam.example", reason: "resolved" });
  });

  it("rejects malformed domains and severities", async () => {
    expect((await admin("PUT", "/domain-blocks/not a domain", { severity: "suspend" })).status).toBe(400);
    expect((await admin("PUT", "/domain-blocks/ok.example", { severity: "silence" })).status).toBe(400);
  });

  it("allow-list mode refuses every domain not on the list", async () => {
    expect((await admin("PUT", "/domain-allows/friends.example")).status).toBe(200);
    await admin("PATCH", "/settings", { allowlist_mode: true });
    t.services.admin.domains.invalidate();
    expect((await t.services.admin.domains.verdict("https://friends.example/u/a")).refused).toBe(false);
    expect((await t.services.admin.domains.verdict("https://strangers.example/u/a")).refused).toBe(true);
    await admin("PATCH", "/settings", { allowlist_mode: false });
    t.services.admin.domains.invalidate();
    expect((await t.services.admin.domains.verdict("https://strangers.example/u/a")).refused).toBe(false);
  });
});

describe("audit log", () => {
  it("records who, what, when and why, newest first, with paging", async () => {
    const all = await admin("GET", "/audit?limit=200");
    const entries = all.json.data.entries as { id: string; created_at: string; actor: string; action: string }[];
    expect(entries.length).toBeGreaterThan(10);
    for (const e of entries) {
      expect(e.actor).toBeTruthy();
      expect(e.action).toBeTruthy();
      expect(Number.isNaN(Date.parse(e.created_at))).toBe(false);
    }
    const times = entries.map((e) => Date.parse(e.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const page = await admin("GET", `/audit?limit=2&before=${entries[1]!.id}`);
    expect(page.json.data.entries[0].id).toBe(entries[2]!.id);
  });
});
