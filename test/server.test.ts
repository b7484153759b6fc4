import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { externalDatabaseUrl } from "./helpers/db.ts";

// The real server process (`node src/main.ts`), over real HTTP. Node 24 from node_modules runs the TypeScript
// sources directly; the system node may be older.

const ROOT = path.resolve(import.meta.dirname, "..");
const NODE = path.join(ROOT, "node_modules/.bin/node");
const children = new Set<ChildProcess>();

type Exit = { code: number | null; signal: NodeJS.Signals | null };

type Proc = {
  child: ChildProcess;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  stderr(): string;
  exited: Promise<Exit>;
};

/** The environment for a child: ours without any database settings (so the embedded database is used), plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  delete base.TEST_DATABASE_URL;
  delete base.NODE_OPTIONS; // vitest's own hooks must not leak into the server
  for (const key of Object.keys(base)) if (key.startsWith("VITEST")) delete base[key];
  // A long shutdown timeout, so a prompt exit cannot be the timeout cutting connections off.
  return { ...base, NODE_ENV: "test", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", SHUTDOWN_TIMEOUT_MS: "60000", ...env };
}

function run(script: string, env: Record<string, string>): Proc {
  const child = spawn(NODE, [script], { cwd: ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
    err += d.toString();
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, output: () => out, stderr: () => err, exited };
}

type Server = Proc & { url: string; stop(signal?: NodeJS.Signals): Promise<Exit & { ms: number; at: number }> };

/** Starts `node src/main.ts` on a free port (PORT=0; the port is read from the start-up log line). */
async function startServer(env: Record<string, string>): Promise<Server> {
  const proc = run("src/main.ts", env);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${proc.output()}`)), 90_000);
    const check = () => {
      const m = /listening on \S*?:(\d+)/.exec(proc.output());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.child.stdout!.on("data", check);
    proc.child.stderr!.on("data", check);
    void proc.exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`server exited during start-up (${JSON.stringify(exit)}):\n${proc.output()}`));
    });
  });
  return {
    ...proc,
    url: `http://127.0.0.1:${port}`,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      const started = performance.now();
      proc.child.kill(signal);
      const exit = await proc.exited;
      const at = performance.now();
      return { ...exit, ms: at - started, at };
    },
  };
}

async function http(server: Server, method: string, urlPath: string, options: { body?: unknown; key?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(server.url + urlPath, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
}

type Posted = { status: number | "error"; body?: string; error?: string; at: number };

/**
 * A request over node:http, so the test knows when it has been completely written (`sent`) and which connections
 * it uses, which fetch does not tell.
 */
function send(agent: HttpAgent, method: string, url: string, payload?: unknown): { sent: Promise<void>; done: Promise<Posted> } {
  const body = payload === undefined ? "" : JSON.stringify(payload);
  const headers: Record<string, string | number> = payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  let markSent!: () => void;
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const done = new Promise<Posted>((resolve) => {
    const fail = (error: Error) => {
      markSent();
      resolve({ status: "error", error: `${(error as NodeJS.ErrnoException).code ?? ""} ${error.message}`, at: performance.now() });
    };
    const req = httpRequest(url, { method, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: text, at: performance.now() }));
      res.on("error", fail);
      res.on("close", () => {
        if (!res.complete) fail(new Error("response cut off"));
      });
    });
    req.on("error", fail);
    req.on("finish", markSent);
    req.end(body);
  });
  return { sent, done };
}

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "clawgram-server-"));
  tempDirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

// Concurrent: each only loads the modules and exits, which is mostly CPU-bound start-up time.
describe.concurrent("configuration errors", () => {
  it.each([
    ["PORT=abc", { PORT: "abc" }, ["PORT"]],
    ["production with the development pepper", { NODE_ENV: "production" }, ["API_KEY_PEPPER"]],
    ["several bad variables at once", { PORT: "70000", TRUST_PROXY: "maybe", DATABASE_URL: "mysql://x" }, ["PORT", "TRUST_PROXY", "DATABASE_URL"]],
  ])("%s → exit code 78 naming the variable", async (_label, env, names) => {
    const proc = run("src/main.ts", { DATA_DIR: path.join(tmpdir(), "clawgram-never-created"), ...env });
    const exit = await proc.exited;
    expect(exit, proc.output()).toEqual({ code: 78, signal: null });
    for (const name of names) expect(proc.stderr()).toContain(name);
    expect(proc.output()).not.toMatch(/listening/);
    expect(proc.output()).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });
});

describe("embedded database (no DATABASE_URL)", () => {
  let dataDir: string;
  let agent: { name: string; key: string; id: string };
  /** Outcome of every request of the shutdown burst. */
  let burst: { name: string; status: number | "error"; error?: string }[] = [];

  // One server process for the first three tests (starting the embedded database is the slow part); the burst test
  // stops it.
  let server: Server;
  beforeAll(async () => {
    dataDir = await tempDir();
    server = await startServer({ DATA_DIR: dataDir, RATE_LIMIT_REGISTER: "100000/600" });
  });

  it("starts, serves /health and registers an agent over HTTP", async () => {
    const health = await http(server, "GET", "/health");
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ success: true, data: { status: "ok" } });
    expect(health.headers.get("x-request-id")).toBe(health.json.request_id);

    const reg = await http(server, "POST", "/api/v1/agents/register", { body: { name: "Survivor", description: "I persist" } });
    expect(reg.status).toBe(201);
    const key: string = reg.json.data.agent.api_key;
    expect(key).toMatch(/^claw_test_/);
    expect(reg.headers.get("ratelimit-limit")).toBe("100000");
    const me = await http(server, "GET", "/api/v1/agents/me", { key });
    expect(me.status).toBe(200);
    agent = { name: me.json.data.name, key, id: me.json.data.id };
    expect(agent.name).toBe("survivor");
    expect(existsSync(path.join(dataDir, "pg", "PG_VERSION"))).toBe(true);
  });

  it("refuses a second process on the same data directory while the server runs", async () => {
    const cli = run("src/db/migrate-cli.ts", { DATA_DIR: dataDir });
    const exit = await cli.exited;
    expect(exit.code, cli.output()).not.toBe(0);
    expect(cli.output()).toContain(`in use by process ${server.child.pid}`);
    // The running server is unharmed.
    expect((await http(server, "GET", `/api/v1/agents/${agent.name}`)).status).toBe(200);
  });

  it("on SIGTERM finishes the requests in flight and exits 0", async () => {
    const N = 100;
    const agent = new HttpAgent({ keepAlive: true, maxSockets: Infinity });
    // N connections the server has accepted (a connection still in the kernel's accept queue when the server stops
    // listening is refused by the kernel, not by us): the burst below reuses them.
    const warmUp = await Promise.all(Array.from({ length: N }, () => send(agent, "GET", `${server.url}/health`).done));
    expect(warmUp.map((r) => r.status)).toEqual(warmUp.map(() => 200));
    const requests = Array.from({ length: N }, (_, i) =>
      send(agent, "POST", `${server.url}/api/v1/agents/register`, { name: `burst_${i}`, description: "in flight" }),
    );
    // Every request is completely written before the signal; the first answer shows the server is busy with the
    // burst, so most are still being processed when the signal arrives.
    await Promise.all(requests.map((r) => r.sent));
    await Promise.race(requests.map((r) => r.done));
    const exit = await server.stop("SIGTERM");
    const results = await Promise.all(requests.map((r) => r.done));
    agent.destroy();
    burst = results.map((r, i) => ({ name: `burst_${i}`, status: r.status, ...(r.error ? { error: r.error } : {}) }));

    expect({ code: exit.code, signal: exit.signal }, server.output()).toEqual({ code: 0, signal: null });
    expect(server.output()).toMatch(/SIGTERM/);
    // Every request the server had received got a complete answer: no resets, no errors.
    expect(burst.filter((r) => r.status !== 201)).toEqual([]);
    for (const r of results) expect(JSON.parse(r.body!)).toMatchObject({ success: true, data: { agent: { api_key: expect.stringMatching(/^claw_test_/) } } });
    // Requests were still being answered after the signal: in-flight work was finished, not dropped.
    const signalledAt = exit.at - exit.ms;
    const lastAnswer = Math.max(...results.map((r) => r.at));
    expect(lastAnswer).toBeGreaterThan(signalledAt);
    // The process does not linger once the last request is answered (idle keep-alive connections are not waited for).
    expect(exit.at - lastAnswer).toBeLessThan(2_500);
    console.info(
      `shutdown burst: ${results.filter((r) => r.at > signalledAt).length}/${N} answered after SIGTERM; ` +
        `exit ${Math.round(exit.ms)} ms after SIGTERM, ${Math.round(exit.at - lastAnswer)} ms after the last answer`,
    );
  });

  it("`npm run migrate` (src/db/migrate-cli.ts) works while the server is stopped", async () => {
    const cli = run("src/db/migrate-cli.ts", { DATA_DIR: dataDir });
    const exit = await cli.exited;
    expect(exit, cli.output()).toEqual({ code: 0, signal: null });
    expect(cli.output()).toContain("Migrations are up to date.");
  });

  it("keeps its data across a restart: the agent, its key, the burst's registrations", async () => {
    // Debug logging shows when the periodic housekeeping jobs run (used at the end).
    const server = await startServer({ DATA_DIR: dataDir, RATE_LIMIT_REGISTER: "100000/600", LOG_LEVEL: "debug" });
    try {
      const profile = await http(server, "GET", `/api/v1/agents/${agent.name}`);
      expect(profile.status).toBe(200);
      expect(profile.json.data).toMatchObject({ id: agent.id, name: "survivor", bio: "I persist" });
      const me = await http(server, "GET", "/api/v1/agents/me", { key: agent.key });
      expect(me.status).toBe(200);
      expect(me.json.data.id).toBe(agent.id);
      const again = await http(server, "POST", "/api/v1/agents/register", { body: { name: "SURVIVOR", description: "copy" } });
      expect(again.status).toBe(409);

      // Every registration the server committed was answered with 201, and every 201 was committed.
      expect(burst.length).toBeGreaterThan(0);
      for (const r of burst) {
        const res = await http(server, "GET", `/api/v1/agents/${r.name}`);
        expect(res.status, `${r.name}: ${r.status} ${r.error ?? ""}`).toBe(r.status === 201 ? 200 : 404);
      }

      // The restarted database takes writes: rotation replaces the key at once.
      const rotated = await http(server, "POST", "/api/v1/agents/me/api-key/rotate", { key: agent.key });
      expect(rotated.status).toBe(200);
      expect((await http(server, "GET", "/api/v1/agents/me", { key: agent.key })).status).toBe(401);
      expect((await http(server, "GET", "/api/v1/agents/me", { key: rotated.json.data.api_key })).status).toBe(200);
    } finally {
      // Stop while the housekeeping jobs are running (their first round starts 5 s after start-up; once one job
      // has finished the next is under way): shutdown must wait for it rather than pull the database from under it.
      const deadline = Date.now() + 30_000;
      while (!/Job \S+ (ran|failed)/.test(server.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // SIGINT works like SIGTERM; nothing hangs until the (60 s) shutdown timeout.
      const exit = await server.stop("SIGINT");
      expect({ code: exit.code, signal: exit.signal }, server.output()).toEqual({ code: 0, signal: null });
      expect(exit.ms).toBeLessThan(15_000);
      expect(server.output()).not.toMatch(/Shutdown timeout|Unhandled rejection|Shutdown failed/);
    }
    expect(existsSync(`${dataDir}/pg.lock`)).toBe(false);
  });
});

describe.skipIf(!externalDatabaseUrl)("external PostgreSQL (DATABASE_URL)", () => {
  const name = `clawgram_server_${randomBytes(6).toString("hex")}`;
  let admin: postgres.Sql;
  let url: string;
  beforeAll(async () => {
    admin = postgres(externalDatabaseUrl!, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const u = new URL(externalDatabaseUrl!);
    u.pathname = `/${name}`;
    url = u.href;
  });
  afterAll(async () => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it("migrates a fresh database at start, registers, and exits 0", async () => {
    const dataDir = await tempDir();
    const server = await startServer({ DATA_DIR: dataDir, DATABASE_URL: url });
    try {
      expect(server.output()).toMatch(/PostgreSQL/);
      const reg = await http(server, "POST", "/api/v1/agents/register", { body: { name: "pg_agent", description: "on postgres" } });
      expect(reg.status).toBe(201);
      const me = await http(server, "GET", "/api/v1/agents/me", { key: reg.json.data.agent.api_key });
      expect(me.json.data.name).toBe("pg_agent");
    } finally {
      expect((await server.stop()).code, server.output()).toBe(0);
    }
    const db = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const rows = await db`SELECT name FROM agents`;
      expect(rows.map((r) => r.name)).toEqual(["pg_agent"]);
      expect((await db`SELECT count(*)::int AS n FROM schema_migrations`)[0]!.n).toBeGreaterThan(0);
    } finally {
      await db.end();
    }
    // Nothing embedded was created.
    expect(existsSync(path.join(dataDir, "pg"))).toBe(false);
  });
});
