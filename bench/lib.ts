/**
 * The benchmark harness's shared pieces: the case/row/measurement types, `measure()` (bounded loops with latency
 * percentiles and an RSS sampler), the bench database, and the real app built on it.
 *
 * Speed and memory are only ever measured here (`npm run bench`), each against a baseline measured in the same run,
 * so the figures are ratios that survive a change of machine; no test asserts on timings.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import path from "node:path";
import type { Database } from "../src/db/client.ts";
import { readResponse } from "../test/helpers/client.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One timed loop: `iterations` calls of an async function, at most `concurrency` in flight. */
export type Measurement = {
  label: string;
  iterations: number;
  concurrency: number;
  wallMs: number;
  opsPerSec: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * CPU time (user + system, all threads of the measuring process, libvips' included) per iteration. Much less
   * sensitive than wall time to other work on the machine, so its ratio is the steadiest figure on a shared box. Work
   * done in other processes (e.g. the embedded database, which lives in the runner) is not in it.
   */
  cpuMsPerOp: number;
  /** RSS after the caller's setup, before warm-up and the timed loop: the footprint the work grows from. */
  rssBeforeMb: number;
  /**
   * Highest RSS seen. In-process: sampled every 20 ms during the loop. In an isolated child: the kernel's high-water
   * mark for the whole child (`resourceUsage().maxRSS`), which also catches spikes between samples.
   */
  peakRssMb: number;
  /** Whether it ran in a fresh child process (see `BenchContext.isolated`). */
  isolated: boolean;
  /** Every timed call's latency, in completion order (kept for merging rounds and for the JSON report). */
  latenciesMs: number[];
};

/** One printed table row. The runner derives the ratio from `value`, `baseline` and `better`. */
export type Row = {
  metric: string;
  value: number;
  unit: string;
  better: "higher" | "lower";
  /** The same metric for the baseline, measured in the same run. */
  baseline?: number;
  /** Peak RSS of the process while `value` was measured. */
  peakRssMb?: number;
};

export type MeasureOptions = {
  iterations: number;
  /** How many calls are in flight at once (default 1). */
  concurrency?: number;
  /** Untimed calls before the loop, run one at a time (JIT, libvips init, connection warm-up). Default 0. */
  warmup?: number;
};

export type BenchApp = Awaited<ReturnType<typeof createBenchApp>>;

export type BenchContext = {
  caseName: string;
  /** A scratch directory for this run, removed at the end. */
  workDir: string;
  /** Arguments given to `isolated()` (only set inside an isolated task). */
  args: { [key: string]: Json };
  /** `embedded` = in-memory PGlite started by the runner; `postgres` = a scratch database on BENCH_DATABASE_URL. */
  databaseKind: "embedded" | "postgres";
  /** The bench database's connection URL (for a case that starts a real server on it). */
  databaseUrl: string;
  /** A connection to the (migrated, shared) bench database, opened on first use. */
  database(): Promise<Database>;
  /** The real app (config → services → Hono) on the bench database, driven in-process; a new one per call. */
  app(env?: Record<string, string>): Promise<BenchApp>;
  /** Times `fn(i)` for i in [0, iterations); every call must resolve (a failing call aborts the bench). */
  measure(label: string, fn: (i: number) => Promise<unknown>, options: MeasureOptions): Promise<Measurement>;
  /**
   * Runs this case's `tasks[task]` in a fresh child process and returns its measurement, whose `peakRssMb` is then
   * the child's own high-water mark: RSS rarely shrinks once libvips or V8 has grown it, so phases measured one after
   * the other in one process would inherit each other's peaks. Only available in the runner process.
   */
  isolated(task: string, args?: { [key: string]: Json }): Promise<Measurement>;
  /** A line printed under the table (what was measured, sizes, settings). */
  note(text: string): void;
  /** Progress on stderr while the case runs. */
  log(text: string): void;
};

export type BenchCase = {
  name: string;
  description: string;
  /** Runs in the runner process and returns the rows to print. */
  run(ctx: BenchContext): Promise<Row[]>;
  /** Pieces that `ctx.isolated(name)` runs in their own child process. */
  tasks?: Record<string, (ctx: BenchContext) => Promise<Measurement>>;
};

export const MB = 1024 * 1024;
export const rssMb = () => process.memoryUsage.rss() / MB;

/** Samples RSS every `intervalMs` until stopped; returns the highest value seen (MB). */
export function sampleRss(intervalMs = 20) {
  let peak = rssMb();
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMb());
    },
  };
}

function percentile(sorted: number[], p: number) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function measure(label: string, fn: (i: number) => Promise<unknown>, options: MeasureOptions): Promise<Measurement> {
  const iterations = options.iterations;
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, iterations));
  const rssBeforeMb = rssMb();
  const sampler = sampleRss();
  // Warm-up calls get negative indexes, so `fn` can tell them apart.
  for (let i = 0; i < (options.warmup ?? 0); i++) await fn(-1 - i);

  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next < iterations) {
      const i = next++;
      const t0 = performance.now();
      await fn(i);
      latencies.push(performance.now() - t0);
    }
  };
  let peakRssMb: number;
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    peakRssMb = sampler.stop();
  }
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    label,
    iterations,
    concurrency,
    wallMs,
    opsPerSec: (iterations * 1000) / wallMs,
    ...latencyStats(latencies),
    cpuMsPerOp: (cpu.user + cpu.system) / 1000 / iterations,
    rssBeforeMb,
    peakRssMb,
    isolated: false,
    latenciesMs: latencies,
  };
}

export function latencyStats(latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    meanMs: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? 0,
  };
}

/**
 * Combines rounds of the same measurement (e.g. baseline and ours interleaved A B A B, so that a change in the
 * machine's load hits both sides alike) into one: totals for throughput and CPU, pooled latencies, the highest peak.
 */
export function mergeMeasurements(rounds: Measurement[]): Measurement {
  if (rounds.length === 0) throw new Error("mergeMeasurements: nothing to merge");
  const iterations = rounds.reduce((a, m) => a + m.iterations, 0);
  const wallMs = rounds.reduce((a, m) => a + m.wallMs, 0);
  const latencies = rounds.flatMap((m) => m.latenciesMs);
  const highest = rounds.reduce((a, m) => (m.peakRssMb > a.peakRssMb ? m : a));
  return {
    label: rounds[0]!.label,
    iterations,
    concurrency: rounds[0]!.concurrency,
    wallMs,
    opsPerSec: (iterations * 1000) / wallMs,
    ...latencyStats(latencies),
    cpuMsPerOp: rounds.reduce((a, m) => a + m.cpuMsPerOp * m.iterations, 0) / iterations,
    rssBeforeMb: highest.rssBeforeMb,
    peakRssMb: highest.peakRssMb,
    isolated: rounds.every((m) => m.isolated),
    latenciesMs: latencies,
  };
}

/** The usual comparison rows for a measurement against its baseline: throughput, latency and memory. */
export function compareRows(prefix: string, ours: Measurement, base: Measurement, options: { memory?: boolean } = {}): Row[] {
  const rows: Row[] = [
    { metric: `${prefix} throughput`, value: ours.opsPerSec, unit: "ops/s", better: "higher", baseline: base.opsPerSec },
    { metric: `${prefix} mean latency`, value: ours.meanMs, unit: "ms", better: "lower", baseline: base.meanMs },
    { metric: `${prefix} p95 latency`, value: ours.p95Ms, unit: "ms", better: "lower", baseline: base.p95Ms },
    { metric: `${prefix} CPU time per op`, value: ours.cpuMsPerOp, unit: "ms", better: "lower", baseline: base.cpuMsPerOp },
  ];
  if (options.memory ?? true) {
    rows.push(
      { metric: `${prefix} peak RSS`, value: ours.peakRssMb, unit: "MB", better: "lower", baseline: base.peakRssMb },
      {
        metric: `${prefix} RSS growth`,
        value: ours.peakRssMb - ours.rssBeforeMb,
        unit: "MB",
        better: "lower",
        baseline: base.peakRssMb - base.rssBeforeMb,
      },
    );
  }
  return rows.map((r) => ({ ...r, peakRssMb: ours.peakRssMb }));
}

/** Throws with the response body when a bench request did not get the expected status (errors are not throughput). */
export function expectStatus(what: string, res: { status: number; text: string }, expected: number) {
  if (res.status !== expected) throw new Error(`${what}: expected ${expected}, got ${res.status} ${res.text.slice(0, 500)}`);
}

/**
 * The real app on `database`, built exactly as the server builds it (loadConfig → createServices → createApp) and
 * called in-process through `app.request`: the whole Hono stack, without sockets. Production mode, so nothing
 * test-only is on; the registration limit is lifted because every in-process request comes from one address.
 */
export async function createBenchApp(database: Database, workDir: string, env: Record<string, string> = {}) {
  // Loaded on demand so that processes which never build the app (e.g. a raw-sharp baseline) don't carry it in RSS.
  await import("../src/temporal.ts");
  const [{ loadConfig }, { createServices }, { createApp }] = await Promise.all([
    import("../src/config/index.ts"),
    import("../src/services.ts"),
    import("../src/http/app.ts"),
  ]);
  const config = loadConfig({
    NODE_ENV: "production",
    PUBLIC_URL: "http://clawgram.bench",
    API_KEY_PEPPER: randomBytes(24).toString("hex"),
    OWNER_TOKEN_PEPPER: randomBytes(24).toString("hex"),
    RATE_LIMIT_REGISTER: "1000000/600",
    DATA_DIR: mkdtempSync(path.join(workDir, "data-")),
    ...env,
  });
  const services = createServices(config, database);
  const { app, federation } = createApp(services);

  async function call(method: string, urlPath: string, options: { body?: unknown; key?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const { status, json, text } = await readResponse(await app.request(urlPath, { method, headers, body }));
    return { status, json: json as { data?: Record<string, unknown> } | undefined, text };
  }

  let counter = 0;
  /** Registers a fresh agent; returns its name and API key. */
  async function registerAgent() {
    const name = `bench_${randomBytes(4).toString("hex")}${counter++}`;
    const res = await call("POST", "/api/v1/agents/register", { body: { name, description: `Benchmark agent ${name}` } });
    expectStatus("register agent", res, 201);
    const agent = res.json?.data?.agent as { api_key: string };
    return { name, key: agent.api_key };
  }

  return { app, config, services, federation, call, registerAgent };
}
