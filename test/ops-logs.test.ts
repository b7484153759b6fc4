import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The real server (`node src/main.ts`, embedded database) with LOG_FORMAT=json: what a log collector reads.

const ROOT = path.resolve(import.meta.dirname, "..");
const NODE = path.join(ROOT, "node_modules/.bin/node");

let child: ChildProcess;
let exited: Promise<number | null>;
let stdout = "";
let stderr = "";
let base = "";
let ops = "";
let dataDir = "";

type Line = { time: string; level: string; logger: string; message: string; request_id?: string; properties?: Record<string, unknown> };

function lines(): Line[] {
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

async function waitForLine(what: string, match: (l: Line) => boolean): Promise<Line> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = lines().find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no log line for ${what}:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "clawgram-logs-"));
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.TEST_DATABASE_URL;
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith("VITEST")) delete env[key];
  child = spawn(NODE, ["src/main.ts"], {
    cwd: ROOT,
    env: { ...env, NODE_ENV: "test", HOST: "127.0.0.1", PORT: "0", DATA_DIR: dataDir, LOG_FORMAT: "json", LOG_LEVEL: "info", OPS_PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 280_000; // generous: PGlite initdb and migrations on a busy machine
  for (;;) {
    const m = /listening on \S*?:(\d+)/.exec(stdout);
    const o = /Ops endpoints \(\/livez, \/readyz, \/metrics\) on \S*?:(\d+)/.exec(stdout);
    if (m && o) {
      base = `http://127.0.0.1:${m[1]}`;
      ops = `http://127.0.0.1:${o[1]}`;
      break;
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 300_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("LOG_FORMAT=json", () => {
  it("writes one JSON object per line, with an access-log line carrying the request id", async () => {
    const res = await fetch(`${base}/api/v1/agents/nobody_here_at_all`);
    expect(res.status).toBe(404);
    const requestId = res.headers.get("x-request-id")!;
    expect(requestId).toBeTruthy();

    const access = await waitForLine("the request", (l) => l.request_id === requestId);
    expect(access).toMatchObject({ level: "info", logger: "clawgram.http.access" });
    expect(access.message).toContain("GET /api/v1/agents/nobody_here_at_all 404");
    expect(access.properties).toMatchObject({ method: "GET", route: "/api/v1/agents/:name", status: 404 });
    expect(Number.isNaN(Date.parse(access.time))).toBe(false);
    // Everything on stdout parsed (lines() throws otherwise), and start-up was logged the same way.
    expect(lines().some((l) => l.logger === "clawgram.server" && l.message.includes("listening on"))).toBe(true);
    expect(stderr).toBe("");
  });

  it("tags records written while serving a request with its id (a failed readiness check)", async () => {
    // Media storage stops taking writes: the media directory is replaced by a file.
    await rm(path.join(dataDir, "media"), { recursive: true, force: true });
    await writeFile(path.join(dataDir, "media"), "not a directory");
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    const requestId = res.headers.get("x-request-id")!;
    const warning = await waitForLine("the readiness warning", (l) => l.request_id === requestId && l.level === "warn");
    expect(warning.logger).toBe("clawgram.ops.readiness");
    expect(warning.message).toContain("Not ready");
    // Probes are kept out of the access log.
    expect(lines().some((l) => l.logger === "clawgram.http.access" && l.request_id === requestId)).toBe(false);
  });

  it("serves only the ops endpoints on OPS_PORT", async () => {
    expect((await fetch(`${ops}/livez`)).status).toBe(200);
    const metrics = await fetch(`${ops}/metrics`);
    expect(metrics.status).toBe(200);
    // The process's one registry: the API request above is counted here too.
    expect(await metrics.text()).toContain('clawgram_http_requests_total{method="GET",route="/api/v1/agents/:name",status="404"} 1');
    const api = await fetch(`${ops}/api/v1/agents/nobody_here_at_all`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { code: string }).code).toBe("not_found");
  });

  it("exits 0 on SIGTERM", async () => {
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    for (const line of stdout.split("\n").filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  });
});
