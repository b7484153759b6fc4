import { getLogger } from "@logtape/logtape";
import type { Sql } from "../db/client.ts";
import type { AppMetrics } from "../ops/app-metrics.ts";

const log = getLogger(["clawgram", "jobs"]);

export type Job = {
  name: string;
  everyMs: number;
  run: () => Promise<unknown>;
};

/**
 * Runs periodic jobs in whichever process wins the job's lease, so housekeeping happens once per interval however many
 * server processes share the database. A lease is a row, not a held lock, so no connection stays busy meanwhile.
 */
export function startJobs(
  sql: Sql,
  jobs: Job[],
  options: { tickMs?: number; firstTickMs?: number; metrics?: Pick<AppMetrics, "jobRan" | "jobLeaseHeld"> } = {},
) {
  let running = false;
  let stopped = false;

  // The lease's end is computed by the database's clock, like the check: processes on hosts whose clocks disagree
  // still see one lease.
  async function claim(job: Job): Promise<boolean> {
    const rows = await sql`
      INSERT INTO job_leases (name, locked_until) VALUES (${job.name}, now() + ${job.everyMs}::float8 * interval '1 millisecond')
      ON CONFLICT (name) DO UPDATE SET locked_until = EXCLUDED.locked_until
        WHERE job_leases.locked_until <= now()
      RETURNING name`;
    return rows.length > 0;
  }

  async function tick() {
    if (running || stopped) return;
    running = true;
    try {
      for (const job of jobs) {
        if (stopped) break;
        let started: number | undefined;
        try {
          if (!(await claim(job))) {
            options.metrics?.jobLeaseHeld(job.name);
            continue;
          }
          started = performance.now();
          const result = await job.run();
          options.metrics?.jobRan(job.name, "ok", (performance.now() - started) / 1000);
          started = undefined; // counted: a failure to stamp last_run_at below is not a failed run
          await sql`UPDATE job_leases SET last_run_at = now() WHERE name = ${job.name}`;
          log.debug("Job {name} ran: {result}", { name: job.name, result });
        } catch (error) {
          if (started !== undefined) options.metrics?.jobRan(job.name, "error", (performance.now() - started) / 1000);
          log.warning("Job {name} failed: {error}", { name: job.name, error });
        }
      }
    } finally {
      running = false;
    }
  }

  const timer = setInterval(() => void tick(), options.tickMs ?? 30_000);
  timer.unref();
  const first = setTimeout(() => void tick(), options.firstTickMs ?? 5_000);
  first.unref();
  return {
    tick,
    stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(first);
    },
  };
}
