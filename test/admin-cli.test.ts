import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";
import { makeImage } from "./helpers/images.ts";
import { agentWithAvatar } from "./helpers/media.ts";
import { main } from "../src/admin/cli.ts";

// `npm run admin -- …` is `node src/admin/cli.ts …`: run here as a real child process against the same database as an
// in-process app, and every command's effect checked through that app's HTTP API.

const ROOT = path.resolve(import.meta.dirname, "..");
const NODE = path.join(ROOT, "node_modules/.bin/node");

let db: TestDatabase;
let t: TestApp;
const dataDir = mkdtempSync(path.join(tmpdir(), "clawgram-admin-cli-"));

beforeAll(async () => {
  db = await createTestDatabase();
  t = await createTestApp({ HOT_CACHE_MS: "0" }, db);
});
afterAll(async () => {
  await t.close();
  await db.close();
});

type Run = { code: number; stdout: string; stderr: string };

// One connection: the embedded test database (PGlite) serves one statement at a time.
const cliEnv = () => ({ NODE_ENV: "test", DATABASE_URL: db.url, DATABASE_POOL_MAX: "1", PUBLIC_URL: "http://clawgram.test", DATA_DIR: dataDir });

/** The real thing: `node src/admin/cli.ts …` as a child process (what `npm run admin -- …` runs). */
function spawnCli(...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...cliEnv() };
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith("VITEST")) delete env[key];
  return new Promise((resolve) => {
    execFile(NODE, ["src/admin/cli.ts", ...args, "--actor", "cli:tester"], { cwd: ROOT, env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * The same entry point in this process (starting Node and loading the whole server for every command costs seconds on
 * a busy machine): same argument parsing, same services, same database, same exit codes.
 */
async function cli(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args, "--actor", "cli:tester"], { out: (l) => out.push(l), err: (l) => err.push(l), env: cliEnv() });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

const json = (r: Run) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe("npm run admin", { timeout: 180_000 }, () => {
  let token: string;

  it("token create prints a token the admin API accepts; revoke stops it", async () => {
    const created = json(await spawnCli("token", "create", "ops", "--json", "--reason", "on call"));
    token = created.token;
    expect(token).toMatch(/^clawgram_admin_/);
    expect((await t.call("GET", "/api/v1/admin/settings", { key: token })).status).toBe(200);
    const listed = await cli("token", "list");
    expect(listed.stdout).toContain("ops");
    expect(listed.stdout).not.toContain(token);
    expect((await cli("token", "create", "ops")).code).toBe(1);

    const { token: temp } = json(await cli("token", "create", "temp", "--json"));
    expect((await cli("token", "revoke", "temp")).code).toBe(0);
    expect((await t.call("GET", "/api/v1/admin/settings", { key: temp })).status).toBe(401);
  });

  it("settings set changes what /about and the API serve", async () => {
    expect((await cli("settings", "set", "name", "CLI Coast", "--reason", "rename")).code).toBe(0);
    expect((await cli("settings", "set", "rules", '["No spam","Be kind"]')).code).toBe(0);
    t.services.instance.invalidate();
    const about = await (await t.app.request("/about")).text();
    expect(about).toContain("About CLI Coast");
    expect(about).toContain("Be kind");
    const bad = await cli("settings", "set", "registrations", "sometimes");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("validation_error");
    expect((await cli("settings", "set", "colour", "red")).code).toBe(64);
  });

  it("account suspend refuses the agent's writes; unsuspend allows them again", async () => {
    const agent = await agentWithAvatar(t, () => makeImage("png", 16, 16));
    expect((await spawnCli("account", "suspend", agent.name, "--reason", "abuse")).code).toBe(0);
    const write = await t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: agent.mediaId }] } });
    expect(write.status).toBe(403);
    expect(write.json.code).toBe("account_suspended");
    const listed = await cli("account", "list", "--filter", "suspended");
    expect(listed.stdout).toContain(agent.name);
    expect((await cli("account", "unsuspend", agent.name)).code).toBe(0);
    expect((await t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: agent.mediaId }] } })).status).toBe(201);
    const missing = await cli("account", "suspend", "nobody_at_all");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("not_found");
  });

  it("limit and force-sensitive act on the account", async () => {
    const agent = await agentWithAvatar(t, () => makeImage("png", 16, 16));
    expect((await cli("account", "limit", agent.name)).code).toBe(0);
    expect((await cli("account", "force-sensitive", agent.name)).code).toBe(0);
    const post = await t.call("POST", "/api/v1/posts", { key: agent.key, body: { images: [{ media_id: agent.mediaId }] } });
    expect(post.json.data.is_sensitive).toBe(true);
    const explore = await t.call("GET", "/api/v1/explore?limit=50");
    expect(explore.json.data.items.map((p: { id: string }) => p.id)).not.toContain(post.json.data.id);
  });

  it("reports list and resolve work on the queue", async () => {
    const author = await agentWithAvatar(t, () => makeImage("png", 16, 16));
    const post = await t.call("POST", "/api/v1/posts", { key: author.key, body: { images: [{ media_id: author.mediaId }], caption: "cli reported" } });
    const postId = post.json.data.id as string;
    const reporter = await t.registerAgent();
    await t.call("POST", `/api/v1/posts/${postId}/report`, { key: reporter.key, body: { reason: "harassment", details: "rude" } });
    const listed = await cli("reports", "list");
    expect(listed.stdout).toContain(postId);
    expect(listed.stdout).toContain("harassment");
    const resolved = json(await cli("reports", "resolve", postId, "mark_sensitive", "--json", "--reason", "nsfw"));
    expect(resolved.reportIds).toHaveLength(1);
    expect((await t.call("GET", `/api/v1/posts/${postId}`)).json.data.is_sensitive).toBe(true);
    expect((await cli("reports", "list")).stdout).not.toContain(postId);
  });

  it("domain block and unblock change the federation policy", async () => {
    expect((await cli("domain", "block", "bad.example", "--severity", "suspend", "--reject-media", "--reason", "spam")).code).toBe(0);
    t.services.admin.domains.invalidate();
    expect((await t.services.admin.domains.verdict("https://bad.example/users/x")).refused).toBe(true);
    expect((await cli("domain", "list")).stdout).toContain("bad.example");
    const blocks = await t.call("GET", "/api/v1/admin/domain-blocks", { key: token });
    expect(blocks.json.data.blocks[0]).toMatchObject({ domain: "bad.example", severity: "suspend", reject_media: true });
    expect((await cli("domain", "unblock", "bad.example")).code).toBe(0);
    t.services.admin.domains.invalidate();
    expect((await t.services.admin.domains.verdict("https://bad.example/users/x")).refused).toBe(false);
    expect((await cli("domain", "block", "not a domain")).code).toBe(1);
  });

  it("every command above left an audit entry with its actor and reason, readable from the CLI and the API", async () => {
    const entries = json(await cli("audit", "--json", "--limit", "100")) as { actor: string; action: string; reason: string | null }[];
    const actions = entries.filter((e) => e.actor === "cli:tester").map((e) => e.action);
    for (const action of ["token.create", "token.revoke", "settings.update", "account.suspend", "account.unsuspend", "account.limit", "account.force_sensitive", "report.mark_sensitive", "domain.block", "domain.unblock"]) {
      expect(actions, action).toContain(action);
    }
    expect(entries.find((e) => e.action === "account.suspend")?.reason).toBe("abuse");
    const api = await t.call("GET", "/api/v1/admin/audit?action=domain.block", { key: token });
    expect(api.json.data.entries[0]).toMatchObject({ actor: "cli:tester", target_id: "bad.example", reason: "spam" });
    const text = await cli("audit", "--action", "settings.update");
    expect(text.stdout).toContain("cli:tester  settings.update");
  });

  it("prints usage for unknown commands", async () => {
    const r = await spawnCli("frobnicate");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("Usage: npm run admin");
  });
});
