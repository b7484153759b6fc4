import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { housekeepingJobs } from "../src/jobs/housekeeping.ts";
import { readResponse } from "./helpers/client.ts";
import { externalDatabaseUrl } from "./helpers/db.ts";
import { makeImage } from "./helpers/images.ts";

// A cluster as `docker compose` runs it: two web processes and workers (`node src/main.ts`, the pinned Node) on one
// real PostgreSQL, sharing a media directory. PGlite serves a single process, so without TEST_DATABASE_URL this file
// is skipped.

const ROOT = path.resolve(import.meta.dirname, "..");
const NODE = path.join(ROOT, "node_modules/.bin/node");
const SKIP_REASON = "needs TEST_DATABASE_URL (a real PostgreSQL): the embedded PGlite serves one process";
if (!externalDatabaseUrl) console.warn(`test/multiprocess.test.ts skipped: ${SKIP_REASON}`);

type Proc = { name: string; child: ChildProcess; output(): string; url: string; exited: Promise<number | null> };
const procs: Proc[] = [];
let adminSql: postgres.Sql | undefined;
let dbName: string | undefined;
let dataDir: string | undefined;
let clusterUrl: string;

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.TEST_DATABASE_URL;
  delete base.NODE_OPTIONS; // vitest's hooks must not leak into the servers
  for (const key of Object.keys(base)) if (key.startsWith("VITEST")) delete base[key];
  return { ...base, ...env };
}

/** Starts `node src/main.ts`; resolves once it logs the port it serves (the API, or a worker's ops endpoints). */
async function start(name: string, env: Record<string, string>): Promise<Proc> {
  const child = spawn(NODE, ["src/main.ts"], { cwd: ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    // Generous: four processes load the server at once, on a machine that may be busy.
    const timer = setTimeout(() => reject(new Error(`${name} did not start in time:\n${out}`)), 240_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /(?:listening on|Ops endpoints \(\/livez, \/readyz, \/metrics\) on) \S*?:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up (${code}):\n${out}`));
    });
  });
  const proc = { name, child, output: () => out, url: `http://127.0.0.1:${port}`, exited };
  procs.push(proc);
  return proc;
}

async function call(proc: Proc, method: string, urlPath: string, options: { body?: unknown; key?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(proc.url + urlPath, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return readResponse(res);
}

/** The upload flow with each step on a different process: they share the database and the media directory. */
async function upload(steps: [Proc, Proc, Proc], key: string, bytes: Buffer): Promise<string> {
  const session = await call(steps[0], "POST", "/api/v1/media/uploads", {
    key,
    body: { filename: "image.png", content_type: "image/png", size_bytes: bytes.length },
  });
  expect(session.status).toBe(201);
  const url = new URL(session.json.data.upload_url);
  const put = await fetch(steps[1].url + url.pathname + url.search, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes });
  expect(put.status).toBeLessThan(300);
  const complete = await call(steps[2], "POST", `/api/v1/media/uploads/${session.json.data.upload_id}/complete`, { key });
  expect(complete.status).toBe(201);
  return complete.json.data.media_id as string;
}

async function metricSum(proc: Proc, prefix: string): Promise<number> {
  const text = await (await fetch(`${proc.url}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!externalDatabaseUrl)(`two web processes and workers on one PostgreSQL (${SKIP_REASON})`, () => {
  let webA: Proc;
  let webB: Proc;
  let worker1: Proc;
  let worker2: Proc;

  beforeAll(async () => {
    adminSql = postgres(externalDatabaseUrl!, { max: 1, onnotice: () => {} });
    dbName = `clawgram_mp_${randomBytes(6).toString("hex")}`;
    await adminSql.unsafe(`CREATE DATABASE ${dbName}`);
    const url = new URL(externalDatabaseUrl!);
    url.pathname = `/${dbName}`;
    clusterUrl = url.href;
    dataDir = await mkdtemp(path.join(tmpdir(), "clawgram-mp-"));
    const common = {
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      PORT: "0",
      PUBLIC_URL: "http://clawgram.test",
      DATABASE_URL: url.href,
      DATABASE_POOL_MAX: "4",
      DATA_DIR: dataDir, // the shared media volume
      LOG_LEVEL: "info",
      RATE_LIMIT_REGISTER: "4/600",
      RATE_LIMIT_FOLLOWS: "3/3600",
      // Ten minutes: a cross-process read can only see a write in time through the invalidation, not by expiry.
      HOT_CACHE_MS: "600000",
    };
    // All four start at once on an empty database: the migration lock lets exactly one apply each migration.
    [webA, webB, worker1, worker2] = await Promise.all([
      start("web A", { ...common, NODE_ROLE: "web" }),
      start("web B", { ...common, NODE_ROLE: "web" }),
      start("worker 1", { ...common, NODE_ROLE: "worker", OPS_PORT: "0", LOG_FORMAT: "json" }),
      start("worker 2", { ...common, NODE_ROLE: "worker", OPS_PORT: "0", LOG_FORMAT: "json" }),
    ]);
  }, 300_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    if (adminSql && dbName) await adminSql.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await adminSql?.end();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const agents: { name: string; key: string }[] = [];

  it("shares the registration rate limit across the web processes", async () => {
    // Four registrations allowed per IP: spread over both processes, the fifth is refused by either.
    for (const [i, proc] of [webA, webB, webA, webB].entries()) {
      const res = await call(proc, "POST", "/api/v1/agents/register", { body: { name: `mp_agent_${i}`, description: "cluster" } });
      expect(res.status, res.text).toBe(201);
      agents.push({ name: `mp_agent_${i}`, key: res.json.data.agent.api_key });
    }
    const onA = await call(webA, "POST", "/api/v1/agents/register", { body: { name: "mp_agent_x", description: "cluster" } });
    const onB = await call(webB, "POST", "/api/v1/agents/register", { body: { name: "mp_agent_y", description: "cluster" } });
    expect(onA.status).toBe(429);
    expect(onB.status).toBe(429);
    expect(onB.json.code).toBe("rate_limited");
  });

  it("a write on one web process is visible on the other, hot-cached pages included", async () => {
    const [a] = agents;
    // Profile edits on A read back on B.
    const patch = await call(webA, "PATCH", "/api/v1/agents/me", { key: a!.key, body: { bio: "edited on web A" } });
    expect(patch.status, patch.text).toBe(200);
    const profile = await call(webB, "GET", `/api/v1/agents/${a!.name}`);
    expect(profile.json.data.bio).toBe("edited on web A");

    // The upload's three steps spread over both processes and the shared media directory; the avatar is set on A,
    // so nothing on B clears B's cache by itself.
    const avatar = await upload([webA, webB, webA], a!.key, await makeImage("png", 64, 64));
    expect((await call(webA, "POST", "/api/v1/agents/me/avatar", { key: a!.key, body: { media_id: avatar } })).status).toBe(200);
    const image = await upload([webB, webA, webB], a!.key, await makeImage("png", 80, 60));
    // B caches explore's first page for ten minutes...
    const before = await call(webB, "GET", "/api/v1/explore");
    expect(before.status).toBe(200);
    // ...then A posts.
    const post = await call(webA, "POST", "/api/v1/posts", { key: a!.key, body: { images: [{ media_id: image }], caption: "from web A" } });
    expect(post.status, post.text).toBe(201);
    const postId = post.json.data.id as string;
    // B's cached page is cleared through PostgreSQL NOTIFY, long before its ten minutes are up.
    await waitFor("the post on web B's explore page", async () => (await call(webB, "GET", "/api/v1/explore")).text.includes(postId), 15_000);
    expect(await metricSum(webB, 'clawgram_hot_cache_clears_total{source="remote"}')).toBeGreaterThanOrEqual(1);
    // A like on A reaches B as a targeted invalidation (the post's id), and B's page shows the new count.
    expect((await call(webA, "POST", `/api/v1/posts/${postId}/like`, { key: a!.key })).status).toBeLessThan(300);
    const likeCountOnB = async () =>
      ((await call(webB, "GET", "/api/v1/explore")).json.data.items as { id: string; like_count: number }[]).find((p) => p.id === postId)?.like_count;
    await waitFor("the like on web B's explore page", async () => (await likeCountOnB()) === 1, 15_000);
    // The image itself is served by either process from the shared storage.
    const mediaPath = new URL(post.json.data.images[0].url as string).pathname;
    expect((await fetch(webB.url + mediaPath)).status).toBe(200);
    expect((await fetch(webA.url + mediaPath)).status).toBe(200);
  });

  it("settings written anywhere (here straight into the table, as the admin CLI does) apply on every process at once", async () => {
    const nodeName = async (proc: Proc) => ((await call(proc, "GET", "/nodeinfo/2.1")).json?.metadata?.nodeName as string | undefined);
    // Both processes have just read (and cached, for 5 s) the settings.
    const before = await nodeName(webB);
    expect(before).toBeTruthy();
    expect(await nodeName(webA)).toBe(before);
    const cluster = postgres(clusterUrl, { max: 1, onnotice: () => {} });
    try {
      await cluster`INSERT INTO instance_settings (id, settings, updated_by, updated_at)
        VALUES (1, ${cluster.json({ name: "Renamed elsewhere" })}, 'test', now())
        ON CONFLICT (id) DO UPDATE SET settings = instance_settings.settings || EXCLUDED.settings`;
    } finally {
      await cluster.end();
    }
    // Well inside the 5 s the cached copies would otherwise live: the trigger's NOTIFY made both forget theirs.
    await waitFor("the new name on web B", async () => (await nodeName(webB)) === "Renamed elsewhere", 2_000);
    await waitFor("the new name on web A", async () => (await nodeName(webA)) === "Renamed elsewhere", 2_000);
  });

  it("shares per-agent write limits across the web processes", async () => {
    const [a, b] = agents; // a has an avatar since the test above
    const steps: [Proc, "POST" | "DELETE"][] = [[webA, "POST"], [webB, "DELETE"], [webA, "POST"]];
    for (const [proc, method] of steps) {
      const res = await call(proc, method, `/api/v1/agents/${b!.name}/follow`, { key: a!.key });
      expect(res.status, res.text).toBe(200);
    }
    const fourth = await call(webB, "DELETE", `/api/v1/agents/${b!.name}/follow`, { key: a!.key });
    expect(fourth.status).toBe(429);
  });

  it("runs each periodic job once per interval across the cluster, in workers only", async () => {
    // The jobs a worker runs; those due again within the test's span (mail, webhooks: seconds) are only checked to run.
    const jobs = housekeepingJobs({ config: { role: "worker" } } as never);
    const names = jobs.map((j) => j.name);
    const frequent = new Set(jobs.filter((j) => j.everyMs < 5 * 60_000).map((j) => j.name));
    // Each worker's first tick (5 s after start) either runs a job or finds its lease taken; wait until both ticked.
    await waitFor("both workers' first tick", async () => {
      for (const name of names) {
        for (const worker of [worker1, worker2]) {
          const seen =
            (await metricSum(worker, `clawgram_job_runs_total{job="${name}"`)) +
            (await metricSum(worker, `clawgram_job_lease_held_total{job="${name}"}`));
          if (seen < 1) return false;
        }
      }
      return true;
    });
    for (const name of names) {
      const runs = (await metricSum(worker1, `clawgram_job_runs_total{job="${name}"`)) + (await metricSum(worker2, `clawgram_job_runs_total{job="${name}"`));
      if (frequent.has(name)) expect(runs, name).toBeGreaterThanOrEqual(1);
      else expect(runs, name).toBe(1);
    }
    // Web processes run none.
    expect(await metricSum(webA, "clawgram_job_runs_total")).toBe(0);
    expect(await metricSum(webB, "clawgram_job_runs_total")).toBe(0);
    const sql = postgres(clusterUrl, { max: 1, onnotice: () => {} });
    try {
      const leases = await sql<{ name: string }[]>`SELECT name FROM job_leases WHERE last_run_at IS NOT NULL`;
      expect(leases.map((l) => l.name).sort()).toEqual([...names].sort());
      const migrations = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM schema_migrations`;
      expect(migrations[0]!.n).toBeGreaterThan(0);
    } finally {
      await sql.end();
    }
  });

  it("every process is ready, workers serve only the ops endpoints, and all stop cleanly on SIGTERM", async () => {
    for (const proc of [webA, webB, worker1, worker2]) {
      const ready = await call(proc, "GET", "/readyz");
      expect(ready.status, `${proc.name}: ${ready.text}`).toBe(200);
    }
    expect((await call(worker1, "GET", "/api/v1/explore")).status).toBe(404);
    // The JSON-logging workers wrote one JSON object per line.
    const lines = worker1.output().split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    for (const proc of [webA, webB, worker1, worker2]) proc.child.kill("SIGTERM");
    const codes = await Promise.all([webA, webB, worker1, worker2].map((p) => p.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
  });
});
