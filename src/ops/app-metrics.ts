import type { Sql } from "../db/client.ts";
import { APP_VERSION } from "../version.ts";
import { createMetrics, registerProcessMetrics } from "./metrics.ts";

export type MediaOutcome = "ok" | "rejected" | "error";
export type JobOutcome = "ok" | "error";

/**
 * Every metric Clawgram itself records, in one place, over one registry per process (Fedify's own are added by
 * `fedifyMeterProvider`). Names follow Prometheus conventions: `_total` counters, `_seconds` durations.
 */
export function createAppMetrics(deps: { sql: Sql; role: string }) {
  const registry = createMetrics();
  registerProcessMetrics(registry, { version: APP_VERSION, role: deps.role });

  const requests = registry.counter("clawgram_http_requests_total", "HTTP requests by method, route template and status.");
  const latency = registry.histogram("clawgram_http_request_duration_seconds", "HTTP request latency by method and route template, in seconds.");
  const inFlight = registry.gauge("clawgram_http_requests_in_flight", "HTTP requests being served.");
  inFlight.set({}, 0);

  const media = registry.counter("clawgram_media_processing_total", "Images processed (decoded, resized, encoded) by format and outcome.");
  const mediaSeconds = registry.histogram(
    "clawgram_media_processing_duration_seconds",
    "Image processing time by format, in seconds (waiting for a processing slot included).",
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );

  const jobs = registry.counter("clawgram_job_runs_total", "Periodic job runs in this process by job and outcome (each run holds the cluster-wide lease).");
  const jobSeconds = registry.histogram("clawgram_job_duration_seconds", "Periodic job run time, in seconds.", [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]);
  const jobHeld = registry.counter("clawgram_job_lease_held_total", "Ticks that skipped the job because its lease was held: it ran recently, here or in another process.");
  const jobLastSuccess = registry.gauge("clawgram_job_last_success_timestamp_seconds", "When this process last ran the job successfully (Unix time).");

  const cacheClears = registry.counter("clawgram_hot_cache_clears_total", "Hot cache clears by source: a write in this process (local) or another (remote).");

  // The federation queue is one table shared by every process: its depth is read at scrape time.
  const queueDepth = registry.gauge("clawgram_federation_queue_depth", "Federation queue messages waiting, by state (ready = due now, delayed = retry or scheduled).");
  const queueAge = registry.gauge("clawgram_federation_queue_oldest_ready_seconds", "How long the oldest due federation message has waited, in seconds (0 when none).");
  registry.collect(async () => {
    const [row] = await deps.sql<{ ready: number; delayed: number; oldest: number | null }[]>`
      SELECT count(*) FILTER (WHERE created + delay <= now())::int AS ready,
             count(*) FILTER (WHERE created + delay > now())::int AS delayed,
             extract(epoch FROM now() - min(created + delay) FILTER (WHERE created + delay <= now()))::float8 AS oldest
      FROM fedify_message_v2`;
    queueDepth.set({ state: "ready" }, row?.ready ?? 0);
    queueDepth.set({ state: "delayed" }, row?.delayed ?? 0);
    queueAge.set({}, Math.max(0, row?.oldest ?? 0));
  });

  return {
    registry,
    render: () => registry.render(),
    requestStarted: () => inFlight.inc({}, 1),
    requestFinished(method: string, route: string, status: number, seconds: number) {
      inFlight.inc({}, -1);
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route }, seconds);
    },
    mediaProcessed(format: string, outcome: MediaOutcome, seconds: number) {
      media.inc({ format, outcome });
      if (outcome === "ok") mediaSeconds.observe({ format }, seconds);
    },
    jobRan(job: string, outcome: JobOutcome, seconds: number) {
      jobs.inc({ job, outcome });
      jobSeconds.observe({ job }, seconds);
      if (outcome === "ok") jobLastSuccess.set({ job }, Math.round(Date.now() / 1000));
    },
    jobLeaseHeld(job: string) {
      jobHeld.inc({ job });
    },
    cacheCleared(source: "local" | "remote") {
      cacheClears.inc({ source });
    },
  };
}

export type AppMetrics = ReturnType<typeof createAppMetrics>;
