/**
 * `npm run bench [-- case ...]`: runs the benchmark cases and prints one row per measurement, each next to a baseline
 * measured in the same run, plus the peak RSS of the process that measured it. Results also go to
 * `bench/results/latest.json`.
 *
 * Database: a fresh in-memory PGlite (behind its loopback socket) unless BENCH_DATABASE_URL or DATABASE_URL is set, in
 * which case a scratch database is created on that server and dropped afterwards. Everything is loopback; every loop
 * is bounded.
 *
 * Isolated tasks (`ctx.isolated`) re-run this file as `node bench/run.ts --task <case>:<task>` in a child process that
 * connects to the same database; the answer comes back over the IPC channel.
 */
import { execFileSync, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "../src/db/client.ts";
import { federation } from "./cases/federation.ts";
import { media } from "./cases/media.ts";
import { pages } from "./cases/pages.ts";
import { reads } from "./cases/reads.ts";
import { writes } from "./cases/writes.ts";
import { createBenchApp, measure, MB, type BenchCase, type BenchContext, type Json, type Measurement, type Row } from "./lib.ts";

/** Every case, in the order a full run executes them. Add new cases here. */
// `pages` truncates and reseeds the runner's database, so it stays last.
const CASES: BenchCase[] = [media, writes, reads, pages, federation];

const RUN_FILE = fileURLToPath(import.meta.url);
const RESULTS_FILE = path.join(path.dirname(RUN_FILE), "results", "latest.json");
/** A child that has not answered by then is killed: a hung task must not hang the run. */
const TASK_TIMEOUT_MS = 300_000;

type DatabaseKind = BenchContext["databaseKind"];
type ChildSetup = { databaseUrl: string; databaseKind: DatabaseKind; workDir: string; args: { [key: string]: Json } };
type ChildAnswer = { ok: true; measurement: Measurement; maxRssMb: number } | { ok: false; error: string };

/** Pool size for connections to the bench database: PGlite's socket wants one connection per client process. */
const poolMax = (kind: DatabaseKind) => (kind === "embedded" ? 1 : 10);

// The database modules are imported on demand, so a child that never touches the database (a raw-sharp baseline)
// doesn't carry drizzle and postgres.js in its RSS.
const loadConnect = async () => (await import("../src/db/client.ts")).connect;

async function openBenchDatabase(): Promise<{ url: string; kind: DatabaseKind; close(): Promise<void> }> {
  const connect = await loadConnect();
  const { migrate } = await import("../src/db/migrate.ts");
  const external = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
  if (external) {
    const name = `clawgram_bench_${randomBytes(6).toString("hex")}`;
    const { default: postgres } = await import("postgres");
    const admin = postgres(external, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(external);
    url.pathname = `/${name}`;
    const m = connect(url.href, { max: 1 });
    await migrate(m.sql);
    await m.close();
    return {
      url: url.href,
      kind: "postgres",
      async close() {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      },
    };
  }
  const { startEmbeddedPostgres } = await import("../src/db/embedded.ts");
  const embedded = await startEmbeddedPostgres({});
  const m = connect(embedded.url, { max: 1 });
  await migrate(m.sql);
  // Nothing in the runner keeps a connection open unless a case asks for one, so isolated children have PGlite's
  // socket to themselves.
  await m.close();
  return { url: embedded.url, kind: "embedded", close: () => embedded.stop() };
}

function makeContext(
  bcase: BenchCase,
  setup: ChildSetup,
  hooks: { isolated: BenchContext["isolated"]; note: BenchContext["note"] },
): BenchContext & { close(): Promise<void> } {
  let database: Promise<Database> | undefined;
  const getDatabase = () => (database ??= loadConnect().then((connect) => connect(setup.databaseUrl, { max: poolMax(setup.databaseKind) })));
  return {
    caseName: bcase.name,
    workDir: setup.workDir,
    args: setup.args,
    databaseKind: setup.databaseKind,
    databaseUrl: setup.databaseUrl,
    database: getDatabase,
    app: async (env) => createBenchApp(await getDatabase(), setup.workDir, env),
    measure,
    isolated: hooks.isolated,
    note: hooks.note,
    log: (text) => process.stderr.write(`[${bcase.name}] ${text}\n`),
    async close() {
      if (database) await (await database).close();
    },
  };
}

/** Child side of `ctx.isolated`: runs one task, answers over IPC, exits. */
async function runTask(spec: string) {
  const send = (answer: ChildAnswer) => new Promise<void>((resolve) => process.send!(answer, () => resolve()));
  try {
    const [caseName, taskName] = spec.split(":");
    const bcase = CASES.find((c) => c.name === caseName);
    const task = bcase?.tasks?.[taskName ?? ""];
    if (!bcase || !task) throw new Error(`Unknown task ${spec}`);
    const setup = JSON.parse(process.env.BENCH_CHILD_SETUP ?? "") as ChildSetup;
    const ctx = makeContext(bcase, setup, {
      isolated: () => Promise.reject(new Error("isolated() is only available in the runner process")),
      note: () => {},
    });
    const measurement = await task(ctx);
    const maxRssMb = (process.resourceUsage().maxRSS * 1024) / MB;
    await ctx.close();
    await send({ ok: true, measurement, maxRssMb });
  } catch (err) {
    await send({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
  }
  // The app may leave timers behind (rate limiter, sharp's pool); the answer is sent, so leave now.
  process.exit();
}

function runIsolated(bcase: BenchCase, task: string, setup: ChildSetup): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = fork(RUN_FILE, ["--task", `${bcase.name}:${task}`], {
      env: { ...process.env, BENCH_CHILD_SETUP: JSON.stringify(setup) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let answer: ChildAnswer | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${bcase.name}:${task} did not finish within ${TASK_TIMEOUT_MS / 1000} s`));
    }, TASK_TIMEOUT_MS);
    child.on("message", (m) => (answer = m as ChildAnswer));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (answer?.ok) resolve({ ...answer.measurement, peakRssMb: answer.maxRssMb, isolated: true });
      else reject(new Error(`${bcase.name}:${task} failed (${signal ?? `exit ${code}`}): ${answer?.error ?? "no answer"}`));
    });
  });
}

/** How much worse ours is than the baseline: >1 = slower / heavier, <1 = better than the baseline. */
function costRatio(row: Row): number | undefined {
  if (row.baseline === undefined || row.baseline === 0 || row.value === 0) return undefined;
  return row.better === "lower" ? row.value / row.baseline : row.baseline / row.value;
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function printTable(results: { name: string; rows: Row[]; notes: string[] }[]) {
  const header = ["case", "metric", "value", "unit", "baseline", "cost ×", "peak RSS MB"];
  const lines = results.flatMap((r) =>
    r.rows.map((row) => {
      const ratio = costRatio(row);
      return [r.name, row.metric, fmt(row.value), row.unit, fmt(row.baseline), ratio === undefined ? "–" : `${ratio.toFixed(2)}×`, fmt(row.peakRssMb)];
    }),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const right = new Set([2, 4, 5, 6]);
  const fmtLine = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ");
  console.log("");
  console.log(fmtLine(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmtLine(l));
  console.log("");
  console.log("cost × = ours relative to the baseline, oriented so that >1 is worse: ours/baseline for ms and MB,");
  console.log("         baseline/ours for ops/s (2.00× = half the baseline's throughput or twice its latency/memory).");
  console.log("RSS growth = peak RSS − RSS after setup (before warm-up); peak RSS MB = the measuring process's high-water mark.");
  for (const r of results) for (const n of r.notes) console.log(`${r.name}: ${n}`);
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

async function main(argv: string[]) {
  const taskIndex = argv.indexOf("--task");
  if (taskIndex >= 0) return runTask(argv[taskIndex + 1] ?? "");

  const wanted = argv.filter((a) => !a.startsWith("-"));
  const unknown = wanted.filter((w) => !CASES.some((c) => c.name === w));
  if (unknown.length) {
    console.error(`Unknown case(s): ${unknown.join(", ")}. Available: ${CASES.map((c) => c.name).join(", ")}`);
    process.exit(2);
  }
  const selected = wanted.length ? CASES.filter((c) => wanted.includes(c.name)) : CASES;

  const started = new Date();
  const loadBefore = os.loadavg()[0]!;
  const workDir = mkdtempSync(path.join(os.tmpdir(), "clawgram-bench-"));
  const db = await openBenchDatabase();
  process.stderr.write(`bench: database ${db.kind === "embedded" ? "embedded PGlite (in memory)" : "PostgreSQL (scratch database)"}\n`);
  const results: { name: string; description: string; rows: Row[]; notes: string[]; measurements: Measurement[]; seconds: number }[] = [];
  try {
    for (const bcase of selected) {
      const t0 = performance.now();
      const notes: string[] = [];
      const measurements: Measurement[] = [];
      const setup: ChildSetup = { databaseUrl: db.url, databaseKind: db.kind, workDir, args: {} };
      const ctx = makeContext(bcase, setup, {
        isolated: async (task, args = {}) => {
          const m = await runIsolated(bcase, task, { ...setup, args });
          measurements.push(m);
          return m;
        },
        note: (text) => notes.push(text),
      });
      const measureInProcess = ctx.measure;
      ctx.measure = async (...a) => {
        const m = await measureInProcess(...a);
        measurements.push(m);
        return m;
      };
      try {
        const rows = await bcase.run(ctx);
        results.push({ name: bcase.name, description: bcase.description, rows, notes, measurements, seconds: (performance.now() - t0) / 1000 });
      } finally {
        await ctx.close();
      }
      process.stderr.write(`[${bcase.name}] done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await db.close();
    rmSync(workDir, { recursive: true, force: true });
  }

  printTable(results);
  const loadAfter = os.loadavg()[0]!;
  const cpus = os.availableParallelism();
  console.log(`load average (1 min): ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after, on ${cpus} CPUs`);
  if (Math.max(loadBefore, loadAfter) > cpus / 2) {
    console.log("warning: the machine was busy; wall-time figures are noisy (CPU time per op is the steadier ratio)");
  }
  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  const report = {
    startedAt: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    commit: gitCommit(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
    totalMemoryMb: Math.round(os.totalmem() / MB),
    database: db.kind,
    loadAverage: { before: loadBefore, after: loadAfter },
    ratio: "cost = ours/baseline for lower-is-better metrics, baseline/ours for higher-is-better; >1 is worse",
    cases: results.map((r) => ({ ...r, rows: r.rows.map((row) => ({ ...row, cost: costRatio(row) ?? null })) })),
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nResults written to ${path.relative(process.cwd(), RESULTS_FILE)} (${report.seconds.toFixed(1)} s in all)`);
}

await main(process.argv.slice(2));
